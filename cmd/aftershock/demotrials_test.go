package main_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/fixtures/fanout"
)

// TestFixtureFanout: the binary runs the fanout service itself (what
// `aftershock demo --explore` drills), so no source tree is needed.
func TestFixtureFanout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := fanout.StartCommand(ctx, []string{aftershockBin, "fixture", "fanout"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Stop() })
	// The upstreams' proxies are not running: the service answers
	// (with its give-up) rather than hanging or dying.
	resp, err := http.Get(st.Service.URL + "/quote")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := http.Get(st.Service.Pprof + "/goroutine?debug=1"); err != nil {
		t.Errorf("pprof: %v", err)
	}
	if code, _, errs := aftershock(t, nil, "demo", "--search", "--explore"); code != 2 || !strings.Contains(errs, "choose one") {
		t.Errorf("demo --search --explore: exit %d:\n%s", code, errs)
	}
	if code, _, errs := aftershock(t, nil, "fixture", "nosuch"); code != 2 || !strings.Contains(errs, "allowed: shop, grpcshop, upstream, fanout") {
		t.Errorf("fixture nosuch: exit %d:\n%s", code, errs)
	}
}
