package snapshot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/snapshot"
	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

const targetPkg = "github.com/aftershock/aftershock/snapshot/snapshottest"

func capture(t *testing.T, c *snapshot.Client) *snapshot.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := c.Capture(ctx)
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	return s
}

func newClient(t *testing.T, url string, opts ...snapshot.Option) *snapshot.Client {
	t.Helper()
	c, err := snapshot.NewClient(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func findGroup(d *snapshot.Diff, culprit string) (snapshot.GroupDelta, bool) {
	for _, g := range d.Groups {
		if g.Culprit.Function == culprit {
			return g, true
		}
	}
	return snapshot.GroupDelta{}, false
}

func findConn(d *snapshot.Diff, class snapshot.ConnClass) snapshot.ConnDelta {
	for _, c := range d.Connections {
		if c.Class == class {
			return c
		}
	}
	return snapshot.ConnDelta{Class: class}
}

func TestCaptureDiffNamesGoroutinesConnsAndHeap(t *testing.T) {
	t.Parallel()
	target := snapshottest.Start(t)
	c := newClient(t, target.PprofURL)
	base := capture(t, c)

	target.Park(7)
	target.LeakBodies(3)
	target.IdleConns(2)
	target.Retain(8 << 20)
	now := capture(t, c)

	d, err := now.Diff(base)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := findGroup(d, targetPkg+".ParkedWorker")
	if !ok {
		t.Fatalf("no grown group for ParkedWorker in %+v", d.Groups)
	}
	if g.Before != 0 || g.Count != 7 || g.State != "chan receive" ||
		g.Creator.Function != targetPkg+".(*state).park" || !strings.HasSuffix(g.Creator.File, "snapshottest/leaks.go") ||
		!strings.HasSuffix(g.Culprit.File, "snapshottest/leaks.go") || g.Culprit.Line == 0 || !strings.Contains(g.Example, "ParkedWorker") {
		t.Errorf("ParkedWorker group = %+v", g)
	}
	if cd := findConn(d, snapshot.HTTPClientBodyPending); cd.Extra() != 3 || !strings.Contains(cd.Example, "readLoop") {
		t.Errorf("body-pending conns = %+v, want +3", cd)
	}
	if cd := findConn(d, snapshot.HTTPClientIdle); cd.Extra() != 2 {
		t.Errorf("idle conns = %+v, want +2", cd)
	}
	if d.HeapGrowth() < 8<<20 {
		t.Errorf("heap growth %d, want at least 8 MiB (before %d, after %d)", d.HeapGrowth(), d.HeapBefore, d.HeapAfter)
	}
	if len(d.HeapSites) == 0 || d.HeapSites[0].Site.Function != targetPkg+".RetainHeap" || d.HeapSites[0].InuseBytes < 1<<20 {
		t.Errorf("top heap site = %+v, want RetainHeap with MiBs", d.HeapSites[:min(3, len(d.HeapSites))])
	}
	if d.GoroutinesAfter-d.GoroutinesBefore < 7+3*2+2*2 {
		t.Errorf("goroutines %d -> %d, want at least +15", d.GoroutinesBefore, d.GoroutinesAfter)
	}
	for _, g := range now.Goroutines {
		if strings.Contains(g.Backtrace, "net/http/pprof.") || strings.Contains(g.Backtrace, "startBackgroundRead") {
			t.Errorf("the capture's own request was not left out:\n%s", g.Backtrace)
		}
	}
	if sum := now.Summary(); sum.Connections[snapshot.Listener].Count != 1 {
		t.Errorf("listeners = %+v, want the target's one", sum.Connections[snapshot.Listener])
	}
}

func TestCaptureLightCountsGoroutinesAndConns(t *testing.T) {
	t.Parallel()
	target := snapshottest.Start(t)
	c := newClient(t, target.PprofURL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	base, err := c.CaptureLight(ctx)
	if err != nil {
		t.Fatal(err)
	}
	target.Park(5)
	target.LeakBodies(2)
	now, err := c.CaptureLight(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if now.Dump != "" || now.HeapProfile != nil || !now.Light {
		t.Errorf("light snapshot carries a dump or a heap profile")
	}
	d, err := now.Diff(base)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.GoroutinesAfter - d.GoroutinesBefore; got < 5+2*2 || got > 5+2*2+2 {
		t.Errorf("goroutines %d -> %d, want +9 (+2 for transient ones)", d.GoroutinesBefore, d.GoroutinesAfter)
	}
	if cd := findConn(d, snapshot.HTTPClientBodyPending); cd.Extra() != 2 {
		t.Errorf("body-pending conns from the profile = %+v, want +2", cd)
	}
	if now.MemStats.HeapAlloc == 0 || now.Collected {
		t.Errorf("memstats = %+v, collected %v; want figures read without a forced GC", now.MemStats, now.Collected)
	}
}
