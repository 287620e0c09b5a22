package snapshot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/snapshot"
	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

// TestAncestryFromARealDump: a target run with
// GODEBUG=tracebackancestors=10 writes, below each goroutine, the stacks
// of the goroutines that created it. They are read as its ancestry, never
// as its own frames: the dump's groups are the light poll's, its culprits
// and backtraces are as without the setting; and the call site of the
// leaked connections (the function that called client.Get, in a
// goroutine of its own that has since exited) is read from the ancestry.
func TestAncestryFromARealDump(t *testing.T) {
	target := snapshottest.StartWithEnv(t, "GODEBUG=tracebackancestors=10")
	client, err := snapshot.NewClient(target.PprofURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	target.Park(7)
	target.LeakBodies(3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	full, err := client.CaptureGoroutines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(full.Dump, "[originating from goroutine ") {
		t.Fatal("the dump carries no ancestry: was GODEBUG=tracebackancestors=10 set?")
	}
	code := full.Code()
	parked, withAncestry := 0, 0
	for i := range full.Goroutines {
		g := &full.Goroutines[i]
		if strings.Contains(g.Backtrace, "[originating from") || strings.Contains(g.Stack(), "originating") {
			t.Fatalf("goroutine %d: its backtrace or stack holds its ancestry:\n%s", g.ID, g.Backtrace)
		}
		if len(g.Ancestors) > 0 {
			withAncestry++
		}
		if g.Culprit(code).Function != "github.com/aftershock/aftershock/snapshot/snapshottest.ParkedWorker" {
			continue
		}
		parked++
		// Its own stack: ParkedWorker, then the go statement's wrapper
		// at most; state.park ran the go statement, in an ancestor.
		for _, f := range g.Frames {
			if strings.Contains(f.Function, "(*state).park") || strings.Contains(f.Function, "(*state).run") {
				t.Errorf("goroutine %d holds its creator's frame %s as its own:\n%s", g.ID, f.Function, g.Backtrace)
			}
		}
		if len(g.Ancestors) == 0 || g.Ancestors[0].ID != g.CreatorID || len(g.Ancestors[0].Frames) == 0 ||
			!strings.HasSuffix(g.Ancestors[0].Frames[0].Function, "(*state).park") || g.Ancestors[0].Frames[0].File == "" {
			t.Errorf("goroutine %d (created in %d): ancestors %+v", g.ID, g.CreatorID, g.Ancestors)
		}
		if site, ok := g.CallSite(code); !ok || !strings.HasSuffix(site.Function, "(*state).park") {
			t.Errorf("goroutine %d: call site %v %v, want (*state).park", g.ID, site, ok)
		}
	}
	if parked != 7 || withAncestry < 10 {
		t.Fatalf("%d goroutines parked in ParkedWorker (want 7), %d with ancestry", parked, withAncestry)
	}
	// The dump groups as the goroutine profile does, on their shared key.
	light, err := client.CaptureLight(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fullCounts, lightCounts := map[snapshot.GroupKey]int{}, map[snapshot.GroupKey]int{}
	for _, g := range full.Summary().Groups {
		fullCounts[g.Key().Light()] += g.Count
	}
	for _, g := range light.Summary().Groups {
		lightCounts[g.Key().Light()] += g.Count
	}
	for _, k := range []snapshot.GroupKey{
		{Culprit: "github.com/aftershock/aftershock/snapshot/snapshottest.ParkedWorker"},
		{Culprit: "net/http.(*persistConn).readLoop", Conn: snapshot.HTTPClientBodyPending},
	} {
		if fullCounts[k] == 0 || fullCounts[k] != lightCounts[k] {
			t.Errorf("%+v: %d in the dump, %d in the goroutine profile", k, fullCounts[k], lightCounts[k])
		}
	}
	// The leaked connections' call site: the function that called
	// client.Get, read outward of the client's frames in the ancestry.
	var pending *snapshot.Group
	for _, g := range full.Summary().Groups {
		if g.Conn == snapshot.HTTPClientBodyPending {
			pending = &g
			break
		}
	}
	if pending == nil || !strings.HasPrefix(pending.CallSite.Function, "github.com/aftershock/aftershock/snapshot/snapshottest.(*state).get.func") {
		t.Errorf("body-pending group %+v: want its call site in (*state).get's goroutine", pending)
	}
}
