package load

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func phaseRequests(g *Generator, name string) int {
	p, _ := g.Report().Phase(name)
	return p.Requests
}

func TestPhasesErrorsAndRecovery(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var failing atomic.Bool
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if failing.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	g, err := New(Config{Target: srv.URL, Rate: 200, Requests: []Request{{Path: "/checkout"}}, Bucket: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	g.Start("baseline")
	waitFor(t, "baseline requests", func() bool { return phaseRequests(g, "baseline") >= 20 })
	failing.Store(true)
	g.Mark("fault")
	waitFor(t, "fault requests", func() bool { return phaseRequests(g, "fault") >= 20 })
	failing.Store(false)
	cleared := time.Now()
	g.Mark("recovery")
	waitFor(t, "recovery requests", func() bool { return phaseRequests(g, "recovery") >= 30 })
	g.Pause()
	stopped := served.Load()

	rep := g.Report()
	base, _ := rep.Phase("baseline")
	fault, _ := rep.Phase("fault")
	rec, _ := rep.Phase("recovery")
	// A request belongs to the phase it was sent in: one sent just before
	// the switch flipped may be answered 503 and still count here.
	if base.SuccessRate < 0.9 || base.Codes[200] < 18 {
		t.Errorf("baseline success rate %.2f, codes %v; want (nearly) all 200", base.SuccessRate, base.Codes)
	}
	// The first requests of the fault phase may have been sent just before
	// the switch flipped; most must have failed.
	if fault.SuccessRate > 0.2 || fault.Codes[503] == 0 {
		t.Errorf("fault success rate %.2f, codes %v; want mostly 503", fault.SuccessRate, fault.Codes)
	}
	if rec.SuccessRate < 0.9 {
		t.Errorf("recovery success rate %.2f, want ≥ 0.9", rec.SuccessRate)
	}
	d, ok := rep.Recovery(cleared, time.Now(), 0.99)
	if !ok || d > time.Second {
		t.Errorf("recovery = %v, %v; want recovered within 1s", d, ok)
	}
	if len(rep.Timeline) < 3 {
		t.Errorf("timeline has %d buckets, want several", len(rep.Timeline))
	}
	// Paused means paused: nothing more reaches the server.
	time.Sleep(100 * time.Millisecond)
	if n := served.Load(); n != stopped {
		t.Errorf("server got %d requests after Pause", n-stopped)
	}
}

func TestRecoveryNeverReached(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	g, err := New(Config{Target: srv.URL, Rate: 100, Bucket: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now()
	g.Start("fault")
	waitFor(t, "requests", func() bool { return phaseRequests(g, "fault") >= 10 })
	g.Pause()
	if d, ok := g.Report().Recovery(from, time.Now(), 0.99); ok {
		t.Errorf("recovered after %v against a service that always fails", d)
	}
}

func TestTimeoutBoundsHungService(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	g, err := New(Config{Target: srv.URL, Rate: 50, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	g.Start("hang")
	waitFor(t, "timed-out requests", func() bool {
		p, _ := g.Report().Phase("hang")
		return p.Codes[0] >= 5
	})
	start := time.Now()
	g.Pause()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Pause took %v against a hung service; requests must be bounded by the timeout", d)
	}
	p, _ := g.Report().Phase("hang")
	if p.Errors != p.Requests {
		t.Errorf("%d of %d requests to a hung service succeeded", p.Requests-p.Errors, p.Requests)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Target: "http://127.0.0.1:1", Rate: 0}, "rate must be positive"},
		{Config{Target: "127.0.0.1:1", Rate: 1}, "not an http(s) URL"},
		{Config{Target: "http://127.0.0.1:1", Rate: 1, Requests: []Request{{Path: "x"}}}, "must start with /"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want error containing %q", tc.cfg, err, tc.want)
		}
	}
}

// TestPauseLeavesNoConnection: after Pause the service holds none of the
// load's connections, however the last responses raced the pause (net/http
// returns a connection to its idle pool after the caller has moved on, so
// closing only the idle pool can miss one).
func TestPauseLeavesNoConnection(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var open atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 512)))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	defer srv.Close()
	g, err := New(Config{Target: srv.URL, Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		g.Start(fmt.Sprint("round ", i))
		waitFor(t, "requests", func() bool { return phaseRequests(g, fmt.Sprint("round ", i)) >= 20 })
		g.Pause()
		if n := g.conns.len(); n != 0 {
			t.Fatalf("round %d: the load still holds %d connections after Pause", i, n)
		}
		waitFor(t, "the service to see every connection closed", func() bool { return open.Load() == 0 })
	}
}
