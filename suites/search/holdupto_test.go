package search_test

import (
	"io/fs"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/experiments/search"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

// searchTimeout bounds one search: a handful of drills of about 12 s.
const searchTimeout = 5 * time.Minute

// slowUpstream is the shipped slow-upstream drill against a demo stack.
func slowUpstream(vars map[string]string) *experiments.Drill {
	GinkgoHelper()
	data, err := fs.ReadFile(experiments.DemoFS, "slow-upstream.yaml")
	Expect(err).NotTo(HaveOccurred())
	d, err := experiments.Parse("slow-upstream.yaml", data, experiments.WithVars(vars))
	Expect(err).NotTo(HaveOccurred())
	return d
}

// searchLatency searches the slow-payments fault's latency from 100ms up
// to high on a demo shop with the given switches. One trial per value:
// the bound is what the spec asserts, not the threshold's precision.
func searchLatency(ctx SpecContext, leaks, fixes []string, high string) *search.Outcome {
	GinkgoHelper()
	st := suitekit.StartStack(ctx, shopBin, leaks, fixes, "")
	out, err := search.Run(ctx, slowUpstream(st.Vars()), "slow-payments", search.MustParseVary("latency=100ms.."+high),
		search.Options{Repeats: 1, Resolution: 0.3, MaxTrials: 10},
		runner.WithProgress(GinkgoWriter), runner.WithSettle(4*time.Second))
	Expect(err).NotTo(HaveOccurred())
	AddReportEntry("search", ReportEntryVisibilityFailureOrVerbose, out.Text())
	return out
}

var _ = Describe("How much upstream latency the service takes", Label("search"), func() {
	It("holds up to 3s of upstream latency with every fix on", func(ctx SpecContext) {
		out := searchLatency(ctx, nil, []string{"all"}, "3s")
		Expect(out).To(search.HoldUpTo("3s"))
		// A bound that holds is asserted by the range's high end alone.
		Expect(out.Trials).To(HaveLen(1))
	}, SpecTimeout(searchTimeout))

	It("fails with the threshold and the culprits when the goroutine leak breaks the bound", func(ctx SpecContext) {
		out := searchLatency(ctx, []string{"goroutine"}, nil, "2s")
		failure := InterceptGomegaFailure(func() { Expect(out).To(search.HoldUpTo("2s")) })
		Expect(failure).To(HaveOccurred(), "a leak from the give-up (300ms) on breaks a 2s bound")
		Expect(failure.Error()).To(And(
			ContainSubstring("expected slow-upstream / slow-payments to hold up to 2s of latency, but the verdict flips at"),
			ContainSubstring("latency threshold"),
			ContainSubstring("culprits at"),
			ContainSubstring("shop.(*Server).callPayments.func1"),
		))
		// The shop gives up after 300ms; the drill's ±50ms jitter moves
		// the flip a little below it.
		Expect(out.Threshold).To(And(BeNumerically(">", 150), BeNumerically("<", 450)))
	}, SpecTimeout(searchTimeout))
})
