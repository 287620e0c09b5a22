package suitekit

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/matchers"
)

// SettleSpecTimeout bounds a settle spec: the settle deadline (15 s by
// default) plus the snapshots' own time, with room for a slow machine.
const SettleSpecTimeout = 2 * time.Minute

// ItReturnsToBaseline declares the settle specs of a driven fault, one per
// resource, so each fails on its own with its own culprits: goroutines,
// connections and heap back within tolerance of the baseline. out is read
// when the specs run (it is set by a BeforeAll of the Ordered container).
func ItReturnsToBaseline(out func() *Outcome) {
	It("returns its goroutines to the baseline", Label("goroutines"), func(ctx SpecContext) {
		o := out()
		o.Snaps.Settle(ctx, "goroutines", matchers.HaveNoExtraGoroutines(o.Snaps.Base, o.Target.MatcherOptions()...))
	}, SpecTimeout(SettleSpecTimeout))
	It("returns its connections to the baseline", Label("connections"), func(ctx SpecContext) {
		o := out()
		o.Snaps.Settle(ctx, "connections", matchers.HaveNoExtraConnections(o.Snaps.Base, o.Target.MatcherOptions()...))
	}, SpecTimeout(SettleSpecTimeout))
	It("returns its heap to the baseline", Label("heap"), func(ctx SpecContext) {
		o := out()
		o.Snaps.Settle(ctx, "heap", matchers.HaveHeapWithin(o.Snaps.Base, o.Target.MatcherOptions()...))
	}, SpecTimeout(SettleSpecTimeout))
}

// ItRecovers declares the recovery spec: after the clear, every slice of
// the load's timeline is back at 99 % success within the given time.
func ItRecovers(out func() *Outcome, within time.Duration) {
	It(fmt.Sprintf("serves again within %s of the clear", within), Label("recovery"), func() {
		o := out()
		d, ok := o.RecoveredWithin(0.99)
		Expect(ok).To(BeTrue(), "%s had not recovered to 99%% success by the end of the recovery window; timeline since the clear:\n%s",
			o.Target.Name, o.TimelineText(o.Cleared))
		Expect(d).To(BeNumerically("<=", within), "%s took %s to recover; timeline since the clear:\n%s",
			o.Target.Name, d, o.TimelineText(o.Cleared))
	})
}

// ItFailsFast declares the timeout spec: while the fault is held, the
// load's p99 stays under bound — the service's own deadlines fire long
// before the fault would let an answer through.
func ItFailsFast(out func() *Outcome, bound time.Duration, why string) {
	It(fmt.Sprintf("fails fast while the fault is held: p99 under %s (%s)", bound, why), Label("timeouts"), func() {
		o := out()
		st := o.DuringFault()
		Expect(st.P99).To(BeNumerically("<", bound), "%s: p99 %s during the fault (%d requests, codes %v); timeline:\n%s",
			o.Target.Name, st.P99.Round(time.Millisecond), st.Requests, st.Codes, o.TimelineText(o.Injected))
	})
}

// TimelineText renders the load's timeline from a time on: one line per
// bucket with its offset, requests, errors and latencies.
func (o *Outcome) TimelineText(from time.Time) string {
	var b strings.Builder
	for _, k := range o.Report.Timeline {
		if k.Start.Before(from.Add(-250 * time.Millisecond)) {
			continue
		}
		fmt.Fprintf(&b, "  %+6.2fs %-8s %3d req %3d err  p50 %-6s p99 %s\n", k.Start.Sub(from).Seconds(), k.Phase,
			k.Requests, k.Errors, k.P50.Round(time.Millisecond), k.P99.Round(time.Millisecond))
	}
	return b.String()
}

// ItStopsWaiting declares the circuit-breaker spec: once the upstream's
// calls have failed a few times, the service stops waiting on it, so in
// the last `late` of the fault every slice of the load's timeline answers
// with a p50 under bound. The demo without its breaker fix skips it.
func ItStopsWaiting(out func() *Outcome, hold, late, bound time.Duration) {
	It(fmt.Sprintf("stops waiting on the upstream once its calls fail: p50 under %s in the last %s of the fault", bound, late),
		Label("breaker"), func() {
			o := out()
			o.Target.RequireFix("breaker")
			from := o.Injected.Add(hold - late)
			buckets := o.Buckets(from, o.Cleared)
			Expect(buckets).NotTo(BeEmpty(), "no load in the last %s of the fault", late)
			for _, b := range buckets {
				if b.Requests == 0 {
					continue
				}
				Expect(b.P50).To(BeNumerically("<", bound), "%s still waits on the upstream %s into the fault (p50 %s): no breaker opened; timeline:\n%s",
					o.Target.Name, b.Start.Sub(o.Injected).Round(time.Millisecond), b.P50.Round(time.Millisecond), o.TimelineText(o.Injected))
			}
		})
}

// ItSparesTheUpstream declares the circuit-breaker spec for fast failures
// (a 5xx storm): once the breaker opens, the service stops calling the
// upstream, so at most a quarter of the requests sent during the fault
// reach it — without a breaker every one does. It needs the upstream's
// request count, which only the demo's in-process upstream gives.
func ItSparesTheUpstream(out func() *Outcome) {
	It("stops calling the upstream once its calls fail: at most a quarter of the requests reach it", Label("breaker"), func() {
		o := out()
		o.Target.RequireFix("breaker")
		if o.UpstreamCalls < 0 {
			Skip("counting the upstream's requests needs the demo's upstream; " + o.Target.Name + " has none to read")
		}
		st := o.DuringFault()
		Expect(o.UpstreamCalls).To(BeNumerically("<=", st.Requests/4),
			"%s called the upstream %d times for %d requests during the fault: no breaker opened (codes %v)",
			o.Target.Name, o.UpstreamCalls, st.Requests, st.Codes)
	})
}

// ItKeepsServing declares the isolation spec of faults that act on the
// service itself: while the fault is held, the steady load's p99 stays
// under bound and nothing fails — other clients do not pay for the
// misbehaving ones.
func ItKeepsServing(out func() *Outcome, bound time.Duration) {
	It(fmt.Sprintf("keeps serving its other clients meanwhile: p99 under %s, no errors", bound), Label("isolation"), func() {
		o := out()
		st := o.DuringFault()
		Expect(st.P99).To(BeNumerically("<", bound), "%s: p99 %s while the fault was held; timeline:\n%s",
			o.Target.Name, st.P99.Round(time.Millisecond), o.TimelineText(o.Injected))
		Expect(st.Errors).To(BeZero(), "%s failed %d of %d requests while the fault was held (codes %v)",
			o.Target.Name, st.Errors, st.Requests, st.Codes)
	})
}
