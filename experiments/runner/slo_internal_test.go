package runner

import (
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/load"
)

// TestEmptyWindowFailsTheSLO: a window in which the load sent nothing
// shows nothing, and an SLO that needs traffic fails saying so instead
// of passing with a success rate of 1.
func TestEmptyWindowFailsTheSLO(t *testing.T) {
	pct := experiments.Percent{Value: 1}
	bounds := &experiments.FaultSLO{P99: experiments.D(300 * time.Millisecond), ErrorRate: &pct}
	checks := boundChecks(SLODuringFault, "during the fault", bounds, load.PhaseStats{SuccessRate: 1}, "the fault's window")
	if len(checks) != 2 {
		t.Fatalf("checks = %+v, want p99 and error rate", checks)
	}
	for _, c := range checks {
		if c.OK || !strings.Contains(c.Got, "no requests in the window") || !strings.Contains(c.Window, "0 requests") {
			t.Errorf("empty window judged %+v", c)
		}
	}

	in := time.Now()
	fr := &FaultResult{Name: "cut", InEffect: in, Cleared: in.Add(3 * time.Second)}
	share := experiments.Percent{Value: 25}
	b := &experiments.BreakerSLO{OpensWithin: experiments.D(2 * time.Second), P50: experiments.D(50 * time.Millisecond), MaxCallShare: &share}
	for _, c := range breakerChecks(b, "the fault", fr.InEffect, [2]time.Time{fr.InEffect, fr.Cleared}, load.Report{Bucket: 250 * time.Millisecond}, load.PhaseStats{}, 0) {
		if c.OK || !strings.Contains(c.Got, "no requests in the window") || !strings.Contains(c.Window, "2s to 3s after the fault took effect") {
			t.Errorf("empty breaker window judged %+v", c)
		}
	}
}

// TestBreakerWindow: the breaker is judged on the slices wholly inside
// [opensWithin after the fault took effect, clear), and on the share of
// the upstream's calls in that span.
func TestBreakerWindow(t *testing.T) {
	in := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	fr := &FaultResult{Name: "cut", InEffect: in, Cleared: in.Add(3 * time.Second)}
	share := experiments.Percent{Value: 25}
	b := &experiments.BreakerSLO{OpensWithin: experiments.D(2 * time.Second), P50: experiments.D(50 * time.Millisecond), MaxCallShare: &share}
	rep := load.Report{Bucket: 250 * time.Millisecond}
	for s := 0; s < 16; s++ {
		p50 := 300 * time.Millisecond // waiting on the upstream
		if s >= 7 {
			p50 = 2 * time.Millisecond // open from 1.75 s on
		}
		rep.Timeline = append(rep.Timeline, load.Bucket{Start: in.Add(time.Duration(s) * 250 * time.Millisecond), Requests: 5, P50: p50})
	}
	checks := breakerChecks(b, "the fault", fr.InEffect, [2]time.Time{fr.InEffect, fr.Cleared}, rep, load.PhaseStats{Requests: 20}, 4)
	if len(checks) != 2 || !checks[0].OK || !checks[1].OK {
		t.Fatalf("open breaker judged %+v", checks)
	}
	if !strings.Contains(checks[0].Got, "over 4 slices") || !strings.Contains(checks[1].Got, "20% (4 upstream calls for 20 requests)") {
		t.Errorf("figures: %q, %q", checks[0].Got, checks[1].Got)
	}
	// A breaker that never opens keeps waiting and calling.
	for i := range rep.Timeline {
		rep.Timeline[i].P50 = 300 * time.Millisecond
	}
	checks = breakerChecks(b, "the fault", fr.InEffect, [2]time.Time{fr.InEffect, fr.Cleared}, rep, load.PhaseStats{Requests: 20}, 20)
	if checks[0].OK || checks[1].OK || !strings.Contains(checks[0].Got, "worst p50 300ms") || !strings.Contains(checks[1].Got, "100%") {
		t.Errorf("closed breaker judged %+v", checks)
	}
}
