package experiments

import (
	"strings"
	"testing"
)

func TestParseFaultJSON(t *testing.T) {
	u := Upstream{Listen: "127.0.0.1:9100", Forward: "127.0.0.1:9200", Protocol: ProtocolTCP}
	good := map[string]string{
		"delay":           `{"name":"lat","networkChaos":{"action":"delay","delay":{"latency":"50ms"}},"duration":"30s"}`,
		"named upstream":  `{"name":"lat","upstream":"payments","networkChaos":{"action":"partition"},"duration":"1m"}`,
		"json escapes":    `{"name":"lat","networkChaos":{"action":"delay","delay":{"latency":"50ms"}},"duration":"30s","upstream":"pay\/x\ud83d\ude00"}`,
		"stalled clients": `{"name":"s","stalledClients":{"mode":"idle","count":3},"duration":"30s"}`,
	}
	for name, body := range good {
		f, err := ParseFaultJSON("body", []byte(body), u)
		if name == "json escapes" {
			// The escapes decode; the name is then no DNS label, which
			// is the block's problem, reported at its upstream.
			ps, ok := AsProblems(err)
			if !ok || len(ps) != 1 || ps[0].Path != "upstream" || !strings.Contains(ps[0].Detail, "pay/x😀") {
				t.Errorf("%s: want one problem at upstream naming pay/x😀, got %v", name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if f.Kind() != KindStall && f.Engine != EngineProxy {
			t.Errorf("%s: engine %q, want proxy", name, f.Engine)
		}
	}
	bad := []struct{ body, path, pos, detail string }{
		{`{"name":"lat","networkChaos":{"action":"dely"},"duration":"30s"}`, "networkChaos.action", "body:1:40", `unknown action "dely"`},
		{"{\"name\":\"lat\",\n  \"bogus\": 1,\n\"networkChaos\":{\"action\":\"partition\"},\"duration\":\"3s\"}", "bogus", "body:2:3", `unknown field "bogus"`},
		{`{"name":"lat","networkChaos":{"action":"partition"},"duration":"3 parsecs"}`, "duration", "", "bad duration"},
		{`{"name":"h","httpChaos":{"target":"Response","replace":{"code":503}},"duration":"30s"}`, "httpChaos", "", "needs an http upstream"},
		{`{"networkChaos":{"action":"partition"},"duration":"3s"}`, "name", "", "name is required"},
		{`{"name":"a","name":"b","networkChaos":{"action":"partition"},"duration":"3s"}`, "name", "", "written twice"},
		{`[1]`, "", "body:1", "expected a JSON object"},
		{`{"name":`, "", "body:1", "bad JSON"},
	}
	for _, c := range bad {
		_, err := ParseFaultJSON("body", []byte(c.body), u)
		ps, ok := AsProblems(err)
		if !ok {
			t.Errorf("%s: want problems, got %v", c.body, err)
			continue
		}
		found := false
		for _, p := range ps {
			if p.Path == c.path && strings.Contains(p.Detail, c.detail) && strings.HasPrefix(p.Error(), c.pos) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no problem at %q (%s) saying %q in:\n%v", c.body, c.path, c.pos, c.detail, err)
		}
	}
}
