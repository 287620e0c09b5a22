package snapshot_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aftershock/aftershock/snapshot"
	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

// TestProcessTellsARestart: readings of one process, taken from two
// goroutines at once, are never told apart as two processes; a fresh
// process answering at the same place is, by its counters.
func TestProcessTellsARestart(t *testing.T) {
	t.Parallel()
	old := snapshottest.Start(t)
	c, err := snapshot.NewClient(old.PprofURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	base, err := c.Capture(ctx) // forces a GC, as a drill's baseline does
	if err != nil {
		t.Fatal(err)
	}
	p := base.Process()
	if p.Counters["NumForcedGC"] == 0 || p.Counters["Mallocs"] == 0 || p.File == "" {
		t.Fatalf("process of a full capture = %+v, want counters and the binary", p)
	}
	// Many captures from two goroutines: readings reach us in any order,
	// and none may look like another process.
	var mu sync.Mutex
	var seen []snapshot.Process
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				s, err := c.CaptureLight(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen = append(seen, s.Process())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, a := range seen {
		if why, replaced := p.Replaced(a); replaced {
			t.Errorf("the baseline's process replaced by itself: %s", why)
		}
		for _, b := range seen {
			if a.Before(b) {
				if why, replaced := a.Replaced(b); replaced {
					t.Errorf("a reading replaced by a later one of the same process: %s", why)
				}
			}
		}
	}

	fresh := snapshottest.Start(t)
	c2, err := snapshot.NewClient(fresh.PprofURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	now, err := c2.CaptureLight(ctx)
	if err != nil {
		t.Fatal(err)
	}
	why, replaced := p.Replaced(now.Process())
	if !replaced || !strings.Contains(why, "counters went back (") || !strings.Contains(why, "NumForcedGC") {
		t.Errorf("a fresh process read as the old one: replaced %v, %q", replaced, why)
	}
}

// TestProcessBinary: another binary is another process, whatever its
// counters say.
func TestProcessBinary(t *testing.T) {
	a := snapshot.Process{BuildID: "aaaaaaaaaaaaaaaa", Counters: map[string]uint64{"NumGC": 1}}
	b := snapshot.Process{BuildID: "bbbbbbbbbbbbbbbb", Counters: map[string]uint64{"NumGC": 9}}
	if why, ok := a.Replaced(b); !ok || !strings.Contains(why, "another binary") {
		t.Errorf("Replaced = %v %q", ok, why)
	}
	if _, ok := a.Replaced(snapshot.Process{}); ok {
		t.Error("a reading that says nothing replaced the process")
	}
}
