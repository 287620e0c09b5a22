package stall

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/goleak"
)

// noLeaks registers, first, a cleanup that fails the test if any goroutine
// it started (clients, servers, handlers) is still running after every
// other cleanup has run. Tests using it must not be parallel.
func noLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// testServer is a real net/http server on a loopback port that records
// what state each of its connections is in.
type testServer struct {
	URL string
	srv *http.Server

	mu     sync.Mutex
	states map[net.Conn]http.ConnState
}

// startServer serves h; configure may set timeouts on the server before it
// starts. The server is closed at cleanup.
func startServer(t *testing.T, h http.Handler, configure func(*http.Server)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ts := &testServer{URL: "http://" + ln.Addr().String(), states: map[net.Conn]http.ConnState{}}
	ts.srv = &http.Server{Handler: h, ConnState: ts.track}
	if configure != nil {
		configure(ts.srv)
	}
	served := make(chan error, 1)
	go func() { served <- ts.srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = ts.srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ts
}

func (ts *testServer) track(c net.Conn, s http.ConnState) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if s == http.StateClosed || s == http.StateHijacked {
		delete(ts.states, c)
		return
	}
	ts.states[c] = s
}

// count returns how many of the server's connections are in state s.
func (ts *testServer) count(s http.ConnState) int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	n := 0
	for _, st := range ts.states {
		if st == s {
			n++
		}
	}
	return n
}

// open returns how many connections the server holds in any state.
func (ts *testServer) open() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.states)
}

// newStall builds a Stall and clears it at cleanup, before the server
// closes (cleanups run last-in first-out).
func newStall(t *testing.T, url string, cfg Config) *Stall {
	t.Helper()
	s, err := New(url, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Clear(ctx); err != nil {
			t.Errorf("Clear: %v", err)
		}
	})
	return s
}

func inject(t *testing.T, s *Stall, lease time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Inject(ctx, lease); err != nil {
		t.Fatalf("Inject: %v", err)
	}
}

// clearFast clears s and checks that it took well under a second.
func clearFast(t *testing.T, s *Stall) {
	t.Helper()
	start := time.Now()
	if err := s.Clear(context.Background()); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Clear took %v, want well under 1s", d)
	}
	st := s.Stats()
	if st.Connected != 0 || st.Goroutines != 0 {
		t.Errorf("after Clear: %d connections open, %d goroutines running; want 0 and 0", st.Connected, st.Goroutines)
	}
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
}

// poll is the Eventually settings for conditions on real sockets.
func poll(g *WithT, f any) AsyncAssertion {
	return g.Eventually(f).WithTimeout(5 * time.Second).WithPolling(10 * time.Millisecond)
}
