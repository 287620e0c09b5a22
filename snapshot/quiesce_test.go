package snapshot_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/aftershock/aftershock/snapshot"
	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

// TestQuiesceWaitsOutAWindDown: goroutines that go away while Quiesce
// polls restart its window; it returns the quiet count, a window after the
// last change.
func TestQuiesceWaitsOutAWindDown(t *testing.T) {
	t.Parallel()
	target := snapshottest.Start(t)
	c := newClient(t, target.PprofURL)
	// Light counts, like Quiesce's own (they may include the background
	// read of the capture's connection, which a full capture leaves out).
	light, err := c.CaptureLight(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	quiet := light.Summary().Goroutines
	target.Park(6)
	released := make(chan time.Time, 1)
	go func() {
		time.Sleep(300 * time.Millisecond) // the wind-down: busy, then gone
		target.Release()
		released <- time.Now()
	}()
	const window = 600 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := c.Quiesce(ctx, window, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	at := <-released
	if got := s.Summary().Goroutines; got > quiet {
		t.Errorf("quiesced at %d goroutines, want the quiet %d", got, quiet)
	}
	if d := time.Since(at); d < window-50*time.Millisecond {
		t.Errorf("returned %v after the last change, want at least the %v window", d, window)
	}
}

// TestQuiesceGivesUpWithErrNotQuiet: when ctx ends before the window has
// held, Quiesce says so and still returns the last snapshot.
func TestQuiesceGivesUpWithErrNotQuiet(t *testing.T) {
	t.Parallel()
	target := snapshottest.Start(t)
	c := newClient(t, target.PprofURL)
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	s, err := c.Quiesce(ctx, 10*time.Second, 50*time.Millisecond)
	if !errors.Is(err, snapshot.ErrNotQuiet) || s == nil {
		t.Fatalf("Quiesce = %v, %v; want the last snapshot and ErrNotQuiet", s, err)
	}
}

// TestQuiesceConfirmsASlowTarget: a target whose every count takes 100 ms
// (a busy machine, a large service) would have its polls paced 10 s apart
// by their cost, past a 4 s deadline, and a target that was quiet all
// along reported as still changing. Polls are at most a window apart.
func TestQuiesceConfirmsASlowTarget(t *testing.T) {
	t.Parallel()
	target := snapshottest.Start(t)
	u, err := url.Parse(target.PprofURL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond) // the capture's cost, as the client sees it
		rp.ServeHTTP(w, r)
	}))
	defer slow.Close()
	c := newClient(t, slow.URL+u.Path)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if _, err := c.Quiesce(ctx, 500*time.Millisecond, 50*time.Millisecond); err != nil {
		t.Fatalf("a quiet target behind 100 ms captures: %v", err)
	}
}
