package runner_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/snapshot"
	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

// TestSettleGCCeiling: readings that keep saying back and not back — every
// uncollected MemStats page within tolerance, every collected one 64 MiB
// over (the target holds that much more than at its baseline) — make the
// settle no more than the ceiling of forced GCs per fault, however many
// polls it takes. The readings are the target's own, through a pprof proxy
// that lowers HeapAlloc in every MemStats page read without a GC: each
// light poll then says the heap is back, each GC says it is not, which
// drove the settle to collect at every paced poll. The GCs are counted on
// the target (runtime.MemStats.NumForcedGC), from the settle's start to
// the end of the drill, the verdict's and anything after it included.
// (Before the ceiling was enforced, this drill forced 10.)
//
// The verdict is not asserted: a real target's uncollected HeapAlloc is
// never below its live heap, and the settle may pass on it; the proxy's
// readings break that on purpose.
func TestSettleGCCeiling(t *testing.T) {
	t.Parallel()
	target := snapshottest.Start(t)
	var lowered atomic.Int64
	heapAlloc := regexp.MustCompile(`(?m)^# HeapAlloc = \d+$`)
	proxy := pprofProxy(t, target.PprofURL, nil, func(r *http.Request, body []byte) []byte {
		if q := r.URL.Query(); strings.HasSuffix(r.URL.Path, "/heap") && q.Get("debug") == "1" && q.Get("gc") == "" {
			lowered.Add(1)
			return heapAlloc.ReplaceAll(body, []byte("# HeapAlloc = 1"))
		}
		return body
	})
	d, err := experiments.Parse("stalled.yaml", fmt.Appendf(nil, `apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: stalled}
spec:
  target: {url: %q, pprof: %q}
  faults:
    - {name: crowd, duration: 1s, stalledClients: {mode: idle, count: 3}}
  verify: {settle: 6s, quiesce: 500ms}
`, target.URL, proxy))
	if err != nil {
		t.Fatal(err)
	}
	// Counted through the proxy too: a connection of the test's own to
	// the target would be one the baseline did not have.
	c, err := snapshot.NewClient(proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var once sync.Once
	var mu sync.Mutex
	var atSettle uint64
	progress := progressFunc(func(line string) {
		switch {
		case strings.Contains(line, "] hold crowd"):
			once.Do(func() { target.Retain(64 << 20) })
		case strings.Contains(line, "] settle crowd"):
			mu.Lock()
			atSettle = forcedGCs(t, c)
			mu.Unlock()
		}
	})
	res, err := runner.Run(context.Background(), d, runner.WithProgress(progress))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if atSettle == 0 {
		t.Fatal("no settle seen in the progress")
	}
	forced := forcedGCs(t, c) - atSettle
	t.Logf("verdict %s; the settle and verdict forced %d GCs on the target; %d uncollected MemStats pages lowered; captures %v",
		res.Verdict, forced, lowered.Load(), res.Cost.Captures)
	if res.Cost.Captures["goroutines"] < 3 {
		t.Errorf("%d dumps in the settle: the proxy did not keep the light polls saying back", res.Cost.Captures["goroutines"])
	}
	if forced > runner.FaultGCs {
		t.Errorf("the settle and verdict forced %d GCs on the target, over the ceiling of %d per fault", forced, runner.FaultGCs)
	}
}

// pprofProxy serves a target's pprof endpoints (pprof, its base URL) at
// the URL it returns, closed with the test. before, when given, runs
// first and may end the request (returning false); edit, when given, may
// change each body the target served. The proxy keeps one connection to
// the target, whoever asks: the one that serves each dump, which leaves
// it out as its own, so the proxy adds no connection to what the target
// holds.
func pprofProxy(tb testing.TB, pprof string, before func(r *http.Request) bool, edit func(r *http.Request, body []byte) []byte) string {
	tb.Helper()
	hc := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if before != nil && !before(r) {
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, pprof+strings.TrimPrefix(r.URL.Path, "/debug/pprof")+"?"+r.URL.RawQuery, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp, err := hc.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if edit != nil && resp.StatusCode == http.StatusOK {
			body = edit(r, body)
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
	}))
	tb.Cleanup(func() {
		proxy.Close()
		hc.CloseIdleConnections()
	})
	return proxy.URL + "/debug/pprof"
}
