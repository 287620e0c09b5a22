package stalledclients_test

import (
	"fmt"

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
			out = suitekit.Drive(ctx, tgt, fmt.Sprintf(`
name: abandoning-clients
duration: 3s
stalledClients: {mode: abandon, count: 20, rate: 20, abandonAfter: 100ms, path: %q}
`, tgt.SlowReadPath), suitekit.DefaultTiming)
		}, NodeTimeout(suitekit.DriveTimeout))

		It("had requests abandoned in flight", func() {
			st, ok := out.Fault.Effect.(stall.Stats)
			Expect(ok).To(BeTrue(), "the stalled clients reported no counters: %#v", out.Fault.Effect)
			Expect(st.Abandoned).To(BeNumerically(">=", 10), "stats: %+v", st)
		})
		suitekit.ItHolds(func() *suitekit.Outcome { return out })
	})
})
