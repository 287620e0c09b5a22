package runner

import (
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/matchers"
)

// TestStretchedEpisode: a confirmation cycle holds every fault of the
// episode three times as long, its overlaps stretched alike, at most 30 s
// longer than the episode; the drill's own faults are left as they were.
func TestStretchedEpisode(t *testing.T) {
	lead := &experiments.Fault{Name: "slow-prices", Duration: experiments.Duration{Duration: 3 * time.Second}}
	with := &experiments.Fault{Name: "slow-stock", Duration: experiments.Duration{Duration: 3 * time.Second},
		Overlap: &experiments.Overlap{With: "slow-prices", After: experiments.Duration{Duration: time.Second}}}
	ep := experiments.Episode{Faults: []*experiments.Fault{lead, with}, Offsets: []time.Duration{0, time.Second}}
	got := stretched(ep)
	if got.End() != 12*time.Second || got.Faults[1].Overlap.After.Duration != 3*time.Second || got.Offsets[1] != 3*time.Second {
		t.Errorf("stretched: end %s, overlap after %s, offset %s; want 12s, 3s, 3s", got.End(), got.Faults[1].Overlap.After, got.Offsets[1])
	}
	if lead.Duration.Duration != 3*time.Second || with.Overlap.After.Duration != time.Second || ep.Offsets[1] != time.Second {
		t.Errorf("the drill's faults were changed: %s, %s, %s", lead.Duration, with.Overlap.After, ep.Offsets[1])
	}
	long := experiments.Episode{Faults: []*experiments.Fault{{Name: "long", Duration: experiments.Duration{Duration: time.Minute}}}, Offsets: []time.Duration{0}}
	if got := stretched(long).End(); got != 90*time.Second {
		t.Errorf("a 1m fault stretched to %s, want 1m30s (at most 30s longer)", got)
	}
}

// TestUnclearConfirmation: a confirmation cycle settles the judgement on
// its own when it grew clearly over its bar in objects, or not over it;
// over it in bytes only, or in objects by less than 1.5 times the bar, it
// is unclear (and an automatic confirmation holds a third cycle).
func TestUnclearConfirmation(t *testing.T) {
	floor := &matchers.NoiseFloor{Bytes: 9600, Objects: 150} // 600 faulted requests
	bytes, objects := matchers.RepeatBar(floor, 600)
	if objects != 300 || bytes != 64<<10+32*600 {
		t.Fatalf("bar at 600 requests: %d objects, %d B; want 300 objects, %d B", objects, bytes, 64<<10+32*600)
	}
	for _, tc := range []struct {
		name  string
		c     matchers.HeapCycle
		clear bool
	}{
		{"a map leak", matchers.HeapCycle{Cycle: 2, Growth: 95 << 10, Objects: 646, Faulted: 600}, true},
		{"healthy noise", matchers.HeapCycle{Cycle: 2, Growth: 31 << 10, Objects: 114, Faulted: 600}, true},
		{"records by value", matchers.HeapCycle{Cycle: 2, Growth: 120 << 10, Objects: 20, Faulted: 600}, false},
		{"just over in objects", matchers.HeapCycle{Cycle: 2, Growth: 40 << 10, Objects: 380, Faulted: 600}, false},
		{"over, less its connections' allowance", matchers.HeapCycle{Cycle: 2, Growth: 60 << 10, Objects: 520, Faulted: 600, Conns: 3}, false},
	} {
		why := unclear(tc.c, floor)
		if (why == "") != tc.clear {
			t.Errorf("%s (%s): unclear %q, want clear %v", tc.name, tc.c, why, tc.clear)
		}
		if why != "" && !strings.Contains(why, "bytes only") && !strings.Contains(why, "1.5 times its bar") {
			t.Errorf("%s: unclear says %q", tc.name, why)
		}
	}
}
