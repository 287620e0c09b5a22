package demoleaks_test

import (
	"context"
	"net/http"
	"regexp"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"

	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// leakCase is one leak switch of the shop, the fault that fires it and what
// the baseline check must say about it.
type leakCase struct {
	// leak is the switch (and fix) name; it is also the specs' label.
	leak string
	// fault says what provoke does, for By.
	fault string
	// args are extra shop flags, for the leaky and the fixed shop alike.
	args []string
	// provoke sets the fault with the upstream's own controls (where the
	// fault is upstream) and sends bounded traffic under it, checking that
	// the fault reached the shop. The scenario clears it afterwards.
	provoke func(ctx context.Context, r *rig)
	// check is the finer matcher that must fail on the leak
	// (matchers.HaveNoExtraGoroutines, HaveNoExtraConnections or
	// HaveHeapWithin).
	check func(base *snapshot.Snapshot, opts ...matchers.Option) types.GomegaMatcher
	// culprit are regular expressions the failure messages of check and of
	// ReturnToBaseline must both match: they name the culprit.
	culprit []string
	// grown measures the leak in the diff from the baseline; it must be at
	// least min after the hold.
	grown func(d *snapshot.Diff) int64
	min   int64
}

// fastShop are the shop flags of the leak scenarios: its healthy background
// work (audit workers, pooled payments connections) idles out after 250 ms,
// inside the quiesce window, so that quiesce and settle are short; a generous
// --give-up keeps a loaded machine from turning a healthy checkout into an
// abandoned one. Cases that need other values append their own (the last
// one of a flag wins).
func fastShop() []string {
	return []string{"--worker-idle=250ms", "--pool-idle=250ms", "--give-up=1s"}
}

// describeLeak declares the spec pair of a leak: with only the leak on, the
// baseline check fails after the fault clears and names the culprit; with
// the leak's own fix on too, the same scenario returns to its baseline.
// Each spec must pass five times in a row.
func describeLeak(lc leakCase) bool {
	return Describe("leak "+lc.leak, Label(lc.leak), func() {
		// scenario starts a shop, takes the baseline after a warm-up and a
		// quiesce, provokes the fault, clears it and sends a little healthy
		// traffic, as a service would see after an incident.
		scenario := func(ctx context.Context, fixed bool) (*rig, *snapshot.Snapshot) {
			fixes := "--fixes="
			if fixed {
				fixes += lc.leak
			}
			r := startRig(ctx, nil, append(append(fastShop(), "--leaks="+lc.leak, fixes), lc.args...)...)

			By("warming up, quiescing and taking the baseline")
			warmUp(ctx, r.shop.URL)
			base := r.baseline(ctx)

			By("provoking the fault: " + lc.fault)
			lc.provoke(ctx, r)

			By("clearing the fault; healthy traffic goes on")
			r.up.Reset()
			expectCheckouts(ctx, r.shop.URL, 3, 1, http.StatusOK)
			return r, base
		}

		It("with the leak on, fails the baseline check and names the culprit",
			MustPassRepeatedly(5), SpecTimeout(30*time.Second), func(ctx SpecContext) {
				r, base := scenario(ctx, false)

				By("holding: the shop must stay off its baseline")
				Consistently(ctx, r.snap.Capture).WithTimeout(leakHold).WithPolling(poll).
					ShouldNot(matchers.ReturnToBaseline(base))

				By("checking that the failure names the culprit")
				now, err := r.snap.Capture(ctx)
				Expect(err).NotTo(HaveOccurred())
				for _, m := range []types.GomegaMatcher{matchers.ReturnToBaseline(base), lc.check(base)} {
					ok, err := m.Match(now)
					Expect(err).NotTo(HaveOccurred())
					Expect(ok).To(BeFalse(), "the baseline check passed on a leaking shop")
					msg := m.FailureMessage(now)
					for _, re := range lc.culprit {
						Expect(msg).To(MatchRegexp(re))
					}
					AddReportEntry("failure message", msg, ReportEntryVisibilityFailureOrVerbose)
				}
				d, err := now.Diff(base)
				Expect(err).NotTo(HaveOccurred())
				Expect(lc.grown(d)).To(BeNumerically(">=", lc.min), "the leak's size")
			})

		It("with its fix on, returns to the baseline",
			MustPassRepeatedly(5), SpecTimeout(30*time.Second), func(ctx SpecContext) {
				r, base := scenario(ctx, true)

				By("settling: the shop must return to its baseline")
				start := time.Now()
				Eventually(ctx, r.snap.Capture).WithTimeout(settle).WithPolling(poll).
					Should(matchers.ReturnToBaseline(base))
				AddReportEntry("back at the baseline after", time.Since(start).Round(time.Millisecond).String(), ReportEntryVisibilityFailureOrVerbose)
			})
	})
}

// Culprit frames, as the shop's goroutine dumps and heap profiles name them.
const (
	shopPkg         = "github.com/aftershock/aftershock/fixtures/shop."
	fnProgress      = shopPkg + "(*Server).reportProgress"
	fnPostPayment   = shopPkg + "(*Server).postPayment"
	fnPaySend       = shopPkg + "(*Server).callPayments.func1"
	fnProduceStream = shopPkg + "(*Server).produceStream"
	fnRetryAdd      = shopPkg + "(*retryCache).add"
	fnAuditWorker   = shopPkg + "(*auditPool).worker"
)

// culpritLine matches a goroutine group's culprit line of a failure
// message: the function and its file:line.
func culpritLine(fn, file string) string {
	return `culprit:\s+` + regexp.QuoteMeta(fn) + ` at \S+/` + regexp.QuoteMeta(file) + `:\d+`
}

// connLine matches a grown connection class of a failure message.
func connLine(class snapshot.ConnClass) string {
	return regexp.QuoteMeta(string(class)) + `: \d+ → \d+ \(\+\d+`
}

// heapSiteLine matches a grown allocation site of a failure message.
func heapSiteLine(fn, file string) string {
	return `\+[0-9.]+ [KMG]iB\s+(?:[+-]?[0-9]+ objects\s+)?` + regexp.QuoteMeta(fn) + ` at \S+/` + regexp.QuoteMeta(file) + `:\d+`
}

// goroutinesGrown counts the goroutines gained by the groups whose culprit
// is fn.
func goroutinesGrown(fn string) func(d *snapshot.Diff) int64 {
	return func(d *snapshot.Diff) int64 {
		var n int64
		for _, g := range d.Groups {
			if g.Culprit.Function == fn {
				n += int64(g.Extra())
			}
		}
		return n
	}
}

// connsGrown counts the connections class gained.
func connsGrown(class snapshot.ConnClass) func(d *snapshot.Diff) int64 {
	return func(d *snapshot.Diff) int64 {
		for _, c := range d.Connections {
			if c.Class == class {
				return int64(c.Extra())
			}
		}
		return 0
	}
}

// heapGrown is the growth of the post-GC heap.
func heapGrown(d *snapshot.Diff) int64 { return d.HeapGrowth() }

// failedPayments answers every payment with 503 and sends n checkouts, conc
// at a time; the shop answers each 502.
func failedPayments(n, conc int) func(ctx context.Context, r *rig) {
	return func(ctx context.Context, r *rig) {
		GinkgoHelper()
		r.up.SetStatus(http.StatusServiceUnavailable)
		expectCheckouts(ctx, r.shop.URL, n, conc, http.StatusBadGateway)
	}
}
