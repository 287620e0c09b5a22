package demoleaks_test

import (
	"context"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/fixtures/upstream"
	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// slowIdle is how long a slow-winding shop's healthy background work takes
// to idle out: its audit workers and its pooled payments connections.
const slowIdle = 3 * time.Second

// startSlowRig starts a healthy shop (no leak, no fix) whose background work
// winds down after slowIdle, calling an upstream that never closes idle
// connections itself, so that the shop's own pool timeout is what ends them.
func startSlowRig(ctx context.Context) *rig {
	GinkgoHelper()
	return startRig(ctx, []upstream.Option{upstream.WithIdleTimeout(0)},
		"--leaks=", "--fixes=", "--give-up=1s",
		"--worker-idle="+slowIdle.String(), "--pool-idle="+slowIdle.String())
}

// healthyBurst sends 40 checkouts, 8 at a time, to a payments upstream that
// takes 20 ms per payment, as a real one would: wide enough to start every
// audit worker and to leave several pooled connections. It returns when the
// last checkout was answered.
func healthyBurst(ctx context.Context, r *rig) time.Time {
	GinkgoHelper()
	r.up.SetLatency(20 * time.Millisecond)
	expectCheckouts(ctx, r.shop.URL, 40, 8, http.StatusOK)
	end := time.Now()
	r.up.Reset()
	return end
}

// auditWorkers counts the shop's audit workers in a full snapshot.
func auditWorkers(s *snapshot.Snapshot) int {
	n := 0
	for _, g := range s.Summary().Groups {
		if g.Culprit.Function == fnAuditWorker {
			n += g.Count
		}
	}
	return n
}

// idleConns counts the shop's pooled idle HTTP/1 client connections.
func idleConns(s *snapshot.Snapshot) int {
	return s.Summary().Connections[snapshot.HTTPClientIdle].Count
}

var _ = Describe("a healthy service winding down slowly", Label("wind-down"), func() {
	It("returns to its baseline once its workers and pooled connections idle out, and is not reported",
		SpecTimeout(40*time.Second), func(ctx SpecContext) {
			r := startSlowRig(ctx)

			By("taking the baseline on the quiet shop")
			base := r.baseline(ctx)
			Expect(auditWorkers(base)).To(BeZero(), "audit workers in the quiet baseline")
			Expect(idleConns(base)).To(BeZero(), "pooled connections in the quiet baseline")

			By("sending a burst of healthy checkouts")
			burstEnd := healthyBurst(ctx, r)

			By("seeing the wind-down under way right after the burst")
			now, err := r.snap.Capture(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(time.Since(burstEnd)).To(BeNumerically("<", slowIdle), "the capture came too late to see the wind-down")
			early := matchers.ReturnToBaseline(base)
			Expect(early.Match(now)).To(BeFalse(), "the wind-down was not visible: the settle below would prove nothing")
			msg := early.FailureMessage(now)
			Expect(msg).To(ContainSubstring(fnAuditWorker))
			Expect(msg).To(ContainSubstring(string(snapshot.HTTPClientIdle)))
			AddReportEntry("right after the burst", msg, ReportEntryVisibilityFailureOrVerbose)

			By("settling: the shop must return to its baseline once the work idles out")
			Eventually(ctx, r.snap.Capture).WithTimeout(settle).WithPolling(poll).
				Should(matchers.ReturnToBaseline(base))
			took := time.Since(burstEnd)
			// The idle timers started with the last jobs and payments of
			// the burst, a few milliseconds before its last answer: allow
			// one poll of slack, far less than the idle time itself.
			Expect(took).To(BeNumerically(">=", slowIdle-poll), "back at the baseline before the idle timers could fire: the test proved luck, not polling")
			AddReportEntry("back at the baseline after the burst", took.Round(time.Millisecond).String(), ReportEntryVisibilityFailureOrVerbose)
		})
})
