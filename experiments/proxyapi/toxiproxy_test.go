package proxyapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments/proxyapi"
)

func TestToxiproxyAPI(t *testing.T) {
	noLeaks(t)
	api, addr := tcpAPI(t)
	c := dial(t, addr)

	// A Toxiproxy client first creates its proxy; one that describes this
	// proxy names it.
	upstream := api.info().Forward
	if code, b := api.do("POST", "/proxies", `{"name":"pb","listen":"`+addr+`","upstream":"`+upstream+`","enabled":true}`); code != http.StatusCreated {
		t.Fatalf("POST /proxies: %d %s", code, b)
	}
	if code, _ := api.do("POST", "/proxies", `{"name":"other","listen":"127.0.0.1:1","upstream":"`+upstream+`"}`); code != http.StatusConflict {
		t.Errorf("POST /proxies of another proxy: %d, want 409", code)
	}

	code, b := api.do("POST", "/proxies/pb/toxics", `{"name":"pb_latency","type":"latency","stream":"downstream","toxicity":1.0,"attributes":{"latency":50,"jitter":0}}`)
	if code != http.StatusOK {
		t.Fatalf("POST toxic: %d %s", code, b)
	}
	within50(t, "latency toxic", minRoundTrip(t, c, 3))
	if fs := api.faults(); len(fs) != 1 || fs[0].Name != "pb_latency" || !strings.Contains(fs[0].Description, "50ms") {
		t.Errorf("GET /faults under a toxic = %+v", fs)
	}
	var p proxyapi.ToxiproxyProxy
	code, b = api.do("GET", "/proxies/pb", "")
	if code != http.StatusOK || json.Unmarshal(b, &p) != nil || len(p.Toxics) != 1 || p.Toxics[0].Type != "latency" {
		t.Errorf("GET /proxies/pb: %d %s", code, b)
	}

	for _, bad := range []struct{ body, says string }{
		{`{"type":"noop"}`, "invalid toxic type"},
		{`{"type":"slicer"}`, "average size 0 is not positive"},
		{`{"type":"latency","toxicity":1.5,"attributes":{"latency":10}}`, "toxicity"},
		{`{"type":"latency","stream":"sideways","attributes":{"latency":10}}`, "stream was invalid"},
		{`{"type":"latency","attributes":{"latency":10,"colour":1}}`, "attributes.colour: unknown"},
		{`{"type":"latency","attributes":{"latency":"slow"}}`, "attributes.latency"},
		{`{"type":"latency","colour":"red"}`, "unknown field"},
		{`{"name":"pb_latency","type":"reset_peer"}`, "already exists"},
	} {
		code, b := api.do("POST", "/proxies/pb/toxics", bad.body)
		if code/100 != 4 || !strings.Contains(string(b), bad.says) {
			t.Errorf("POST toxic %s: %d %s, want 4xx saying %q", bad.body, code, b, bad.says)
		}
	}
	if code, _ := api.do("POST", "/proxies/nope/toxics", `{"type":"reset_peer"}`); code != http.StatusNotFound {
		t.Errorf("POST toxic to an unknown proxy: %d, want 404", code)
	}
	if fs := api.faults(); len(fs) != 1 {
		t.Errorf("bad toxics changed the faults: %+v", fs)
	}

	if code, b := api.do("DELETE", "/proxies/pb/toxics/pb_latency", ""); code != http.StatusNoContent {
		t.Errorf("DELETE toxic: %d %s", code, b)
	}
	if rt := minRoundTrip(t, c, 3); rt > 20*time.Millisecond {
		t.Errorf("round trip after DELETE toxic: %v", rt)
	}
	api.do("POST", "/proxies/pb/toxics", `{"type":"bandwidth","attributes":{"rate":100}}`)
	if code, _ := api.do("POST", "/reset", ""); code != http.StatusNoContent {
		t.Errorf("POST /reset: %d", code)
	}
	if fs := api.faults(); len(fs) != 0 {
		t.Errorf("faults after /reset: %+v", fs)
	}
}
