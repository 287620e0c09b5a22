package stalledclients_test

import (
	"fmt"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/fixtures/shop"
	"github.com/aftershock/aftershock/injectors/stall"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("Slowloris clients", Label("stalled-clients"), suitekit.TargetDecorators(), func() {
	// Clients that trickle their request headers a byte a second and never
	// finish them. A server with a read-header timeout closes them; one
	// without keeps a connection and a goroutine for each, for as long as
	// the attacker likes.
	const clients = 50
	Context("when 50 clients never finish their headers, for 3s", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			out = suitekit.Drive(ctx, tgt, fmt.Sprintf(`
name: slowloris
duration: 3s
stalledClients: {mode: slowloris, count: %d, path: %q}
`, clients, tgt.Load.Requests[0].Path), suitekit.DefaultTiming)
		}, NodeTimeout(suitekit.DriveTimeout))

		It("closes every one of them before the fault clears (read-header timeout)", Label("timeouts"), func() {
			if tgt.Demo == nil || !slices.Contains(tgt.Fixes, shop.FixTimeouts) {
				Skip("only the demo with its timeouts fix promises a read-header timeout; " + tgt.Name + " does not")
			}
			st, ok := out.Fault.Effect.(stall.Stats)
			Expect(ok).To(BeTrue(), "the stalled clients reported no counters: %#v", out.Fault.Effect)
			Expect(st.ServerClosed).To(BeEquivalentTo(clients),
				"%s closed %d of %d slowloris clients within the fault: no read-header timeout? stats: %+v",
				tgt.Name, st.ServerClosed, clients, st)
		})
		suitekit.ItHolds(func() *suitekit.Outcome { return out })
	})
})
