package runner

import (
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments"
)

// TestStretchedEpisode: a confirmation cycle holds every fault of the
// episode three times as long, its overlaps stretched alike, at most 30 s
// longer than the episode; the drill's own faults are left as they were.
func TestStretchedEpisode(t *testing.T) {
	lead := &experiments.Fault{Name: "slow-prices", Duration: experiments.Duration{Duration: 3 * time.Second}}
	with := &experiments.Fault{Name: "slow-stock", Duration: experiments.Duration{Duration: 3 * time.Second},
		Overlap: &experiments.Overlap{With: "slow-prices", After: experiments.Duration{Duration: time.Second}}}
	ep := experiments.Episode{Faults: []*experiments.Fault{lead, with}, Offsets: []time.Duration{0, time.Second}}
	got := ep.Stretched()
	if got.End() != 12*time.Second || got.Faults[1].Overlap.After.Duration != 3*time.Second || got.Offsets[1] != 3*time.Second {
		t.Errorf("stretched: end %s, overlap after %s, offset %s; want 12s, 3s, 3s", got.End(), got.Faults[1].Overlap.After, got.Offsets[1])
	}
	if lead.Duration.Duration != 3*time.Second || with.Overlap.After.Duration != time.Second || ep.Offsets[1] != time.Second {
		t.Errorf("the drill's faults were changed: %s, %s, %s", lead.Duration, with.Overlap.After, ep.Offsets[1])
	}
	long := experiments.Episode{Faults: []*experiments.Fault{{Name: "long", Duration: experiments.Duration{Duration: time.Minute}}}, Offsets: []time.Duration{0}}
	if got := long.Stretched().End(); got != 90*time.Second {
		t.Errorf("a 1m fault stretched to %s, want 1m30s (at most 30s longer)", got)
	}
}
