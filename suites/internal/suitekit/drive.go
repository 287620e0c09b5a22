package suitekit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/report"
	"github.com/aftershock/aftershock/experiments/runner"
)

// Timing says how long the phases around a fault last; the fault's own
// hold is its duration, as its block writes it.
type Timing struct {
	// Warmup is the load before the baseline, so that what a service sets
	// up once (caches, lazily started workers, connection pools) is in
	// every baseline. For a target without upstreams only the first drill
	// in a process warms it up: it has been warm since. One with upstreams
	// is warmed up for every drill, since its upstream connections go with
	// each drill's fault proxies.
	Warmup time.Duration
	// Lead is how long the load runs on the healthy service between the
	// baseline and the fault, so that the fault meets a service in its
	// steady state — connections pooled, requests in flight — as faults
	// in production do.
	Lead time.Duration
	// Recovery is how long the load keeps running after the clear when
	// the target declares no recovery SLO (with one: its window and a
	// second).
	Recovery time.Duration
}

// DefaultTiming keeps a whole fault around 10 s on a 2-core machine.
var DefaultTiming = Timing{Warmup: 500 * time.Millisecond, Lead: 500 * time.Millisecond, Recovery: 2500 * time.Millisecond}

// DriveTimeout bounds the BeforeAll that drives a fault: warmup, quiesce,
// lead, hold, recovery and the settle deadline, with room for a slow
// machine.
const DriveTimeout = 2 * time.Minute

// Outcome is what drilling the target with one fault found: the fault's
// findings and SLO checks, which the specs of ItHolds judge.
type Outcome struct {
	Target *Target
	// Drill is the drill that ran: the target and the fault, as a Drill
	// file writes them (saved as drill.yaml beside the artifacts).
	Drill *experiments.Drill
	// Fault is the fault's result; Result the drill's.
	Fault  *runner.FaultResult
	Result *runner.Result
	// Dir holds the drill's bundles and journal.
	Dir string
}

// Drive drills the target with one fault, through the drill runner that
// `aftershock drill` runs: the fault is a Drill fault block (YAML, as a
// Drill file writes it; ${UPSTREAM} names the target's upstream), and the
// drill is the target's env (address, upstreams, load, tolerances,
// declared SLOs) with that fault. Call it from the BeforeAll of an Ordered
// container and declare the specs with ItHolds; the runner is closed
// (every fault cleared, every proxy closed) when the container ends.
func Drive(ctx context.Context, t *Target, fault string, tm Timing) *Outcome {
	GinkgoHelper()
	warmup := tm.Warmup
	if t.warm && len(t.Upstreams) == 0 {
		// Without upstreams nothing of the service went with the last
		// drill: it is warm still. With upstreams it is not: every drill
		// starts fault proxies of its own, and the connections the service
		// held to its upstreams closed with the last drill's. A baseline
		// before they are open again would count them as growth (a gRPC
		// client's transport is no idle HTTP/1 connection the idle
		// allowance could absorb).
		warmup = 0
	}
	d, doc, err := t.Drill(fault, warmup)
	Expect(err).NotTo(HaveOccurred(), "the suite's drill for %s", t.Name)
	dir := SpecArtifacts()
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "drill.yaml"), doc, 0o644)
	}
	name := d.Spec.Faults[0].Name
	r := runner.New(d,
		runner.WithProgress(GinkgoWriter), runner.WithArtifacts(dir), report.Charts(),
		runner.WithLead(tm.Lead), runner.WithRecovery(tm.Recovery), runner.WithSettle(t.Settle))
	DeferCleanup(func(ctx SpecContext) error { return r.Close(context.WithoutCancel(ctx)) }, NodeTimeout(time.Minute))
	By(fmt.Sprintf("drilling %s with %s: baseline, fault, clear, settle", t.Name, name))
	o := &Outcome{Target: t, Drill: d, Dir: dir}
	err = r.Prepare(ctx)
	t.warm = t.warm || err == nil
	if err == nil {
		o.Fault, err = r.Fault(ctx, name)
	}
	o.Result = r.Result()
	var text strings.Builder
	runner.WriteText(&text, o.Result)
	AddReportEntry("drill "+name, ReportEntryVisibilityFailureOrVerbose, text.String()+o.Rerun())
	Expect(err).NotTo(HaveOccurred(), "drill %s against %s could not run to its verdict%s", name, t.Name, o.Rerun())
	return o
}

// Rerun says where the drill's files are and how to run the same drill
// again with `aftershock drill`.
func (o *Outcome) Rerun() string {
	return fmt.Sprintf("\nartifacts: %s\nthe same drill from the command line: go run ./cmd/aftershock drill %s",
		o.Dir, filepath.Join(o.Dir, "drill.yaml"))
}

// TimelineText renders the load's timeline from a time on: one line per
// bucket with its offset, requests, errors and latencies.
func (o *Outcome) TimelineText(from time.Time) string {
	if o.Result.Load == nil {
		return "  (no load)\n"
	}
	var b strings.Builder
	for _, k := range o.Result.Load.Timeline {
		if k.Start.Before(from.Add(-o.Result.Load.Bucket)) {
			continue
		}
		fmt.Fprintf(&b, "  %+6.2fs %-22s %3d req %3d err  p50 %-6s p99 %s\n", k.Start.Sub(from).Seconds(), k.Phase,
			k.Requests, k.Errors, k.P50.Round(time.Millisecond), k.P99.Round(time.Millisecond))
	}
	return b.String()
}
