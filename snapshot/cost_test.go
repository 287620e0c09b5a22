package snapshot_test

import (
	"context"
	"testing"
	"time"

	"github.com/aftershock/aftershock/snapshot"
	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

// TestOnlyCaptureForcesAGC: a full Capture forces exactly one GC on the
// target (its MemStats and heap profile share it); the captures polls use
// force none.
func TestOnlyCaptureForcesAGC(t *testing.T) {
	t.Parallel()
	target := snapshottest.Start(t)
	c := newClient(t, target.PprofURL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	forced := func() uint64 {
		t.Helper()
		s, err := c.CaptureLight(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s.MemStats.NumForcedGC
	}
	before := forced()
	for _, capture := range []func(context.Context) (*snapshot.Snapshot, error){c.CaptureCount, c.CaptureLight, c.CaptureGoroutines} {
		if _, err := capture(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := forced() - before; got != 0 {
		t.Fatalf("polling captures forced %d GCs, want none", got)
	}
	s, err := c.Capture(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := forced() - before; got != 1 {
		t.Fatalf("a full capture forced %d GCs, want 1", got)
	}
	if !s.Collected || s.HeapProfile == nil || s.MemStats.HeapAlloc == 0 {
		t.Errorf("full capture: collected %v, heap profile %v, heap %d", s.Collected, s.HeapProfile != nil, s.MemStats.HeapAlloc)
	}
}

// TestAwaitingIsNotIdle: a connection whose caller still waits for its
// answer reads its socket like an idle pooled one; it counts as awaiting,
// in full and in light snapshots, and idle ones stay idle.
func TestAwaitingIsNotIdle(t *testing.T) {
	t.Parallel()
	target := snapshottest.Start(t)
	c := newClient(t, target.PprofURL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	target.IdleConns(2)
	target.AwaitHung(3)
	var full, light *snapshot.Snapshot
	deadline := time.Now().Add(15 * time.Second)
	for {
		var err error
		if full, err = c.CaptureGoroutines(ctx); err != nil {
			t.Fatal(err)
		}
		if full.Summary().Connections[snapshot.HTTPClientAwaiting].Count == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections = %+v, want 3 awaiting", full.Summary().Connections)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if light, _ = c.CaptureLight(ctx); light == nil {
		t.Fatal("light capture failed")
	}
	for name, s := range map[string]*snapshot.Snapshot{"full": full, "light": light} {
		conns := s.Summary().Connections
		if got := conns[snapshot.HTTPClientIdle].Count; got != 2 {
			t.Errorf("%s: idle = %d, want 2 (%+v)", name, got, conns)
		}
		if got := conns[snapshot.HTTPClientAwaiting].Count; got != 3 {
			t.Errorf("%s: awaiting = %d, want 3 (%+v)", name, got, conns)
		}
	}
	target.Release()
}
