package stalledclients_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/injectors/stall"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("Clients that hang up mid-response", Label("stalled-clients"), suitekit.TargetDecorators(), func() {
	// Clients that start a big response and hang up 100 ms into it, 20 a
	// second: the handler sees its request's context cancelled, and work
	// that ignores it is stranded.
	Context("when clients abandon a big response 100ms in, for 3s", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			suitekit.StartProxies(tgt)
			s, err := stall.New(tgt.URL, stall.Config{
				Mode: stall.Abandon, Count: 20, Rate: 20, AbandonAfter: 100 * time.Millisecond, Path: tgt.SlowReadPath,
			})
			Expect(err).NotTo(HaveOccurred())
			out = suitekit.Drive(ctx, tgt, s, suitekit.DefaultTiming)
		}, NodeTimeout(2*time.Minute))
		get := func() *suitekit.Outcome { return out }

		It("had requests abandoned in flight", func() {
			st := out.Fault.(*stall.Stall).Stats()
			Expect(st.Abandoned).To(BeNumerically(">=", 10), "stats: %+v", st)
		})
		suitekit.ItKeepsServing(get, 500*time.Millisecond)
		suitekit.ItReturnsToBaseline(get)
	})
})
