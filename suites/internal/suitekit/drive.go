package suitekit

import (
	"context"
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/experiments/load"
	"github.com/aftershock/aftershock/injectors"
)

// Phases of the steady load, as Outcome.Report names them.
const (
	PhaseWarmup   = "warmup"
	PhaseLead     = "lead"
	PhaseFault    = "fault"
	PhaseRecovery = "recovery"
)

// Timing says how long each phase of Drive lasts.
type Timing struct {
	// Warmup is the load before the first baseline taken in a process, so
	// that what a service sets up once (caches, lazily started workers,
	// connection pools) is in every baseline. Later Drives skip it: the
	// target has been warm since.
	Warmup time.Duration
	// Lead is how long the load runs on the healthy service between the
	// baseline and the fault, so that the fault meets a service in its
	// steady state — connections pooled, requests in flight — as faults
	// in production do.
	Lead time.Duration
	// Hold is how long the fault is held under load.
	Hold time.Duration
	// Recovery is how long the load keeps running after the clear, the
	// window the recovery assertions read.
	Recovery time.Duration
}

// DefaultTiming keeps a whole fault around 10 s on a 2-core machine.
var DefaultTiming = Timing{Warmup: 500 * time.Millisecond, Lead: 500 * time.Millisecond, Hold: 3 * time.Second, Recovery: 2500 * time.Millisecond}

// Outcome is what Drive saw: the baseline (in Snaps), the load's report
// and when the fault was applied and cleared. Specs judge it; the settle
// specs use Snaps to poll the service back to its baseline.
type Outcome struct {
	Target *Target
	Snaps  *Snapshots
	Load   *load.Generator
	Fault  injectors.Injector
	// Injected and Cleared are when the fault was applied and removed.
	Injected, Cleared time.Time
	// Report is the load's report at the end of the recovery window.
	Report load.Report
	// UpstreamCalls is how many requests the demo's payments upstream
	// received while the fault was held; -1 for an external target, whose
	// upstream keeps no count the suites can read.
	UpstreamCalls int64
}

// StartLoad prepares the target's steady load and pauses it when the spec
// (or Ordered container) ends, waiting for its requests in flight and
// closing its connections.
func StartLoad(t *Target) *load.Generator {
	GinkgoHelper()
	cfg := load.Config{Target: t.URL, Rate: t.Load.Rate, Timeout: t.Load.Timeout.Duration}
	for _, q := range t.Load.Requests {
		h := http.Header{}
		for k, v := range q.Headers {
			h.Set(k, v)
		}
		cfg.Requests = append(cfg.Requests, load.Request{Method: q.Method, Path: q.Path, Header: h, Body: []byte(q.Body)})
	}
	gen, err := load.New(cfg)
	Expect(err).NotTo(HaveOccurred(), "steady load on %s", t.URL)
	DeferCleanup(gen.Pause)
	return gen
}

// Drive drills the target with one fault, phase by phase: warm up under
// load, pause it and take a quiet baseline, inject the fault under load,
// hold it, clear it, keep the load on for the recovery window, pause it.
// The fault's Clear, the load's Pause and the snapshot client's Close are
// registered with DeferCleanup, so they happen whatever fails. The fault
// proxy, if the fault needs one, must already run (StartProxy).
func Drive(ctx context.Context, t *Target, fault injectors.Injector, tm Timing) *Outcome {
	GinkgoHelper()
	o := &Outcome{Target: t, Snaps: NewSnapshots(t), Load: StartLoad(t), Fault: fault, UpstreamCalls: -1}
	upstreamCalls := func() int64 { return 0 }
	if t.Demo != nil {
		upstreamCalls = func() int64 { return t.Demo.Payments.Stats().Requests }
	}
	if tm.Warmup > 0 && !t.warm {
		By(fmt.Sprintf("warming up: %d req/s for %s", t.Load.Rate, tm.Warmup))
		o.Load.Start(PhaseWarmup)
		Hold(ctx, tm.Warmup)
		o.Load.Pause()
		t.warm = true
	}
	o.Snaps.Baseline(ctx)

	By(fmt.Sprintf("injecting %s for %s under load", fault, tm.Hold))
	o.Load.Start(PhaseLead)
	Hold(ctx, tm.Lead)
	o.Load.Mark(PhaseFault)
	o.Injected = time.Now()
	callsBefore := upstreamCalls()
	clear := Inject(ctx, fault, tm.Hold)
	Hold(ctx, tm.Hold)

	By("clearing " + fault.String())
	calls := upstreamCalls() - callsBefore
	clear()
	o.Cleared = time.Now()
	if t.Demo != nil {
		o.UpstreamCalls = calls
	}
	o.Load.Mark(PhaseRecovery)
	Hold(ctx, tm.Recovery)

	By("pausing the load, so that snapshots see a quiet service")
	o.Load.Pause()
	o.Report = o.Load.Report()
	o.reportLoad()
	return o
}

// DuringFault is the load's statistics for requests sent while the fault
// was held.
func (o *Outcome) DuringFault() load.PhaseStats {
	GinkgoHelper()
	st, ok := o.Report.Phase(PhaseFault)
	Expect(ok).To(BeTrue(), "the load recorded no fault phase")
	Expect(st.Requests).To(BeNumerically(">", 0), "no request was sent during the fault")
	return st
}

// RecoveredWithin is how long after the clear every timeline bucket had
// at least successRate (0..1) success; ok is false when the load had not
// recovered by the end of the recovery window.
func (o *Outcome) RecoveredWithin(successRate float64) (time.Duration, bool) {
	until := o.Cleared
	if st, ok := o.Report.Phase(PhaseRecovery); ok {
		until = st.End
	}
	return o.Report.Recovery(o.Cleared, until, successRate)
}

// Buckets returns the timeline buckets that start in [from, to).
func (o *Outcome) Buckets(from, to time.Time) []load.Bucket {
	var bs []load.Bucket
	for _, b := range o.Report.Timeline {
		if !b.Start.Before(from) && b.Start.Before(to) {
			bs = append(bs, b)
		}
	}
	return bs
}

// reportLoad adds the load's statistics per phase as a report entry.
func (o *Outcome) reportLoad() {
	text := o.Target.Describe() + "\n" + "fault: " + o.Fault.String() + "\n"
	for _, st := range o.Report.Phases {
		text += fmt.Sprintf("%-9s %4d req, %5.1f%% ok, p50 %s, p99 %s, max %s, codes %v\n",
			st.Phase, st.Requests, 100*st.SuccessRate, st.P50.Round(time.Millisecond),
			st.P99.Round(time.Millisecond), st.Max.Round(time.Millisecond), st.Codes)
	}
	AddReportEntry("load", ReportEntryVisibilityFailureOrVerbose, text)
}
