package demoleaks_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/matchers"
)

var _ = Describe("a baseline taken while warm-up work winds down", Label("quiesce"), func() {
	It("is not trusted: it differs from the quiesced baseline, and quiesce waits the wind-down out",
		SpecTimeout(40*time.Second), func(ctx SpecContext) {
			r := startSlowRig(ctx)

			By("warming up with a burst of healthy checkouts")
			burstEnd := healthyBurst(ctx, r)

			By("capturing a baseline mid-wind-down, right after the burst")
			early, err := r.snap.Capture(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(time.Since(burstEnd)).To(BeNumerically("<", slowIdle), "the capture came too late to be mid-wind-down")
			Expect(auditWorkers(early)).To(BeNumerically(">", 0), "audit workers right after the burst")
			Expect(idleConns(early)).To(BeNumerically(">", 0), "pooled connections right after the burst")

			By("quiescing over a window shorter than the idle timers: it is fooled")
			// The goroutine count holds still while the workers and the
			// pooled connections wait out their timers.
			_, err = r.snap.Quiesce(ctx, 600*time.Millisecond, 200*time.Millisecond)
			Expect(err).NotTo(HaveOccurred())
			fooled, err := r.snap.Capture(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(time.Since(burstEnd)).To(BeNumerically("<", slowIdle), "the short quiesce took longer than the idle timers")
			Expect(auditWorkers(fooled)).To(BeNumerically(">", 0), "audit workers after a short quiesce")

			By("quiescing over a window longer than the idle timers")
			_, err = r.snap.Quiesce(ctx, 3500*time.Millisecond, 500*time.Millisecond) // 3.5 s > slowIdle
			Expect(err).NotTo(HaveOccurred())
			Expect(time.Since(burstEnd)).To(BeNumerically(">=", slowIdle), "quiesce returned before the idle timers could fire")
			quiet, err := r.snap.Capture(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(auditWorkers(quiet)).To(BeZero(), "audit workers in the quiesced baseline")
			Expect(idleConns(quiet)).To(BeZero(), "pooled connections in the quiesced baseline")

			By("comparing: the mid-wind-down baseline holds what the quiesced one does not")
			Expect(early.Summary().Goroutines).To(BeNumerically(">", quiet.Summary().Goroutines))
			m := matchers.ReturnToBaseline(quiet)
			Expect(m.Match(early)).To(BeFalse(), "the mid-wind-down snapshot is within the quiesced baseline")
			msg := m.FailureMessage(early)
			Expect(msg).To(ContainSubstring(fnAuditWorker))
			AddReportEntry("mid-wind-down against quiesced", msg, ReportEntryVisibilityFailureOrVerbose)
		})
})
