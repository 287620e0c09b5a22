package proxyapi_test

import (
	"encoding/json"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments/proxyapi"
)

// TestBadInputChangesNothing posts bad fault blocks — most of them
// partitions, which would stall every connection if they took effect — and
// checks for each a 400 naming the bad field, an unchanged fault list and
// traffic that flows as before, on an open and on a new connection.
func TestBadInputChangesNothing(t *testing.T) {
	noLeaks(t)
	api, addr := tcpAPI(t)
	api.post(`{"name":"slow","networkChaos":{"action":"delay","direction":"from","delay":{"latency":"1ms"}},"duration":"1m"}`)
	before := api.faults()
	open := dial(t, addr)

	cases := []struct {
		name, body, path, detail string
	}{
		{"bad JSON", `{"name":"cut","networkChaos":{"action":"partition"},`, "", "bad JSON"},
		{"empty body", ``, "", "bad JSON"},
		{"not an object", `["cut"]`, "", "expected a JSON object"},
		{"unknown field", `{"name":"cut","networkChaos":{"action":"partition"},"duration":"30s","ttl":"5s"}`, "ttl", `unknown field "ttl"`},
		{"unknown nested field", `{"name":"cut","networkChaos":{"action":"partition","latency":"5s"},"duration":"30s"}`, "networkChaos.latency", `unknown field "latency"`},
		{"unknown action", `{"name":"cut","networkChaos":{"action":"explode"},"duration":"30s"}`, "networkChaos.action", `unknown action "explode"`},
		{"action the proxy cannot do", `{"name":"cut","networkChaos":{"action":"loss","loss":{"loss":"50"}},"duration":"30s"}`, "networkChaos.action", "cannot inject"},
		{"bad duration", `{"name":"cut","networkChaos":{"action":"partition"},"duration":"30 seconds"}`, "duration", "bad duration"},
		{"duration as a number", `{"name":"cut","networkChaos":{"action":"partition"},"duration":30}`, "duration", "no unit"},
		{"zero duration", `{"name":"cut","networkChaos":{"action":"partition"},"duration":"0s"}`, "duration", "> 0"},
		{"no duration", `{"name":"cut","networkChaos":{"action":"partition"}}`, "duration", "required"},
		{"bad latency", `{"name":"cut","networkChaos":{"action":"delay","delay":{"latency":"fast"}},"duration":"30s"}`, "networkChaos.delay.latency", "bad duration"},
		{"bad direction", `{"name":"cut","networkChaos":{"action":"delay","direction":"sideways","delay":{"latency":"1s"}},"duration":"30s"}`, "networkChaos.direction", "sideways"},
		{"duplicate name", `{"name":"slow","networkChaos":{"action":"partition"},"duration":"30s"}`, "name", "already in use"},
		{"no name", `{"networkChaos":{"action":"partition"},"duration":"30s"}`, "name", "required"},
		{"bad name", `{"name":"Cut_It","networkChaos":{"action":"partition"},"duration":"30s"}`, "name", "DNS-1123"},
		{"name written twice", `{"name":"cut","name":"cut2","networkChaos":{"action":"partition"},"duration":"30s"}`, "name", "twice"},
		{"no kind", `{"name":"cut","duration":"30s"}`, "", "no kind"},
		{"httpChaos on a tcp proxy", `{"name":"cut","httpChaos":{"target":"Request","abort":true},"duration":"30s"}`, "httpChaos", "needs an http upstream"},
		{"stalledClients", `{"name":"cut","stalledClients":{"mode":"idle","count":10},"duration":"30s"}`, "stalledClients", "not a fault of this proxy"},
		{"another engine", `{"name":"cut","engine":"netns","networkChaos":{"action":"partition"},"duration":"30s"}`, "engine", "not this proxy"},
		{"bad upstream name", `{"name":"cut","upstream":"Not A Name","networkChaos":{"action":"partition"},"duration":"30s"}`, "upstream", "unknown upstream"},
		{"block duration disagrees", `{"name":"cut","networkChaos":{"action":"partition","duration":"5s"},"duration":"30s"}`, "networkChaos.duration", "disagrees"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, b := api.do("POST", "/faults", c.body)
			var e proxyapi.Error
			if err := json.Unmarshal(b, &e); err != nil || code != http.StatusBadRequest {
				t.Fatalf("POST %s: %d %s, want 400 with a JSON error", c.body, code, b)
			}
			found := false
			for _, p := range e.Problems {
				found = found || (p.Path == c.path && strings.Contains(p.Detail, c.detail))
			}
			if !found || !strings.Contains(e.Error, c.detail) {
				t.Errorf("POST %s: want a problem at %q saying %q, got %s", c.body, c.path, c.detail, b)
			}
			if after := api.faults(); !reflect.DeepEqual(after, before) {
				t.Errorf("faults changed by a 400:\nbefore %+v\nafter  %+v", before, after)
			}
			for what, conn := range map[string]net.Conn{"open": open, "new": dial(t, addr)} {
				if rt := roundTrip(t, conn); rt > 500*time.Millisecond {
					t.Errorf("%s connection: round trip %v after a 400", what, rt)
				}
			}
		})
	}

	huge := `{"name":"cut","networkChaos":{"action":"partition"},"duration":"30s","x":"` + strings.Repeat("x", 100<<10) + `"}`
	if code, b := api.do("POST", "/faults", huge); code != http.StatusRequestEntityTooLarge {
		t.Errorf("POST of 100 KiB: %d %s, want 413", code, b)
	}
	if after := api.faults(); !reflect.DeepEqual(after, before) {
		t.Errorf("faults changed by a 413: %+v", after)
	}
}
