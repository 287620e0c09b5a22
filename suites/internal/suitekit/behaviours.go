package suitekit

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/matchers"
)

// ItHolds declares the specs of a driven fault: one per resource —
// goroutines, connections and heap back within tolerance of the baseline,
// always asserted — and one per kind of SLO, asserted when the target
// declares it and it applies to the fault (otherwise skipped, saying
// why). Each fails on its own with its own findings. out is read when the
// specs run (a BeforeAll of the Ordered container sets it with Drive).
func ItHolds(out func() *Outcome) {
	ItReturnsToBaseline(out)
	ItHoldsItsSLOs(out)
}

// ItReturnsToBaseline declares the settle specs of a driven fault, one per
// resource.
func ItReturnsToBaseline(out func() *Outcome) {
	for _, r := range matchers.Resources {
		It(fmt.Sprintf("returns its %s to the baseline", r), Label(string(r)), func() {
			o := out()
			f := o.Fault
			if f.Findings == nil {
				Fail(fmt.Sprintf("%s: %s could not be judged: %s%s", o.Target.Name, r, f.Error, o.Rerun()))
			}
			Expect(f.Findings).To(matchers.HaveReturned(r), "%s: %s did not return to its baseline within %s%s",
				o.Target.Name, r, f.Settle.Round(1e6), o.Rerun())
		})
	}
}

// sloSpecs are the SLO specs, in the order they are declared.
var sloSpecs = []struct{ kind, title string }{
	{runner.SLODuringFault, "fails fast while the fault is held (its declared duringFault SLO)"},
	{runner.SLOIsolation, "keeps serving its other clients while some misbehave (its declared isolation SLO)"},
	{runner.SLOBreaker, "cuts off the failing upstream (its declared breaker SLO)"},
	{runner.SLORecovery, "serves again soon after the clear (its declared recovery SLO)"},
}

// ItHoldsItsSLOs declares one spec per kind of SLO. Nothing is asserted
// that the target does not declare: a service with timeouts and no
// circuit breaker declares no breaker, and passes. A spec is skipped only
// with the runner's reason for not judging its SLO; a declared SLO that
// yielded no check and no reason fails.
func ItHoldsItsSLOs(out func() *Outcome) {
	for _, s := range sloSpecs {
		It(s.title, Label("slo", s.kind), func() {
			o := out()
			var checks []runner.SLOCheck
			for _, c := range o.Fault.SLOs {
				if c.Kind == s.kind {
					checks = append(checks, c)
				}
			}
			if len(checks) == 0 {
				// The runner says why it judges no SLO it does not:
				// undeclared, or applying to none of the faults. A
				// declared one that yields no check and no reason
				// was never judged, and that is no pass.
				reason, ok := o.notJudged(s.kind)
				if !ok {
					Fail(fmt.Sprintf("%s declares a %s SLO, and fault %s yielded no %s check and no reason why it was not judged%s",
						o.Target.Name, s.kind, o.Fault.Name, s.kind, o.Rerun()))
				}
				Skip(reason)
			}
			var broken []string
			for _, c := range checks {
				if !c.OK {
					broken = append(broken, fmt.Sprintf("%s\n    over %s", c, c.Window))
				}
			}
			Expect(broken).To(BeEmpty(), "%s broke its declared %s SLO during fault %s (%s):\n  %s\ntimeline since the fault took effect:\n%s%s",
				o.Target.Name, s.kind, o.Fault.Name, o.Fault.Injected, strings.Join(broken, "\n  "), o.TimelineText(o.Fault.InEffect), o.Rerun())
		})
	}
}

// notJudged says why an SLO was not judged for the fault, as the runner
// recorded it; false when it recorded no reason.
func (o *Outcome) notJudged(kind string) (string, bool) {
	for _, n := range o.Fault.NotJudged {
		if n.Kind == kind {
			return n.Reason, true
		}
	}
	return "", false
}
