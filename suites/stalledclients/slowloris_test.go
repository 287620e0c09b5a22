package stalledclients_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/injectors/stall"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("Slowloris clients", Label("stalled-clients"), suitekit.TargetDecorators(), func() {
	// Clients that trickle their request headers a byte a second and never
	// finish them. A server with a read-header timeout closes them; one
	// without keeps a connection and a goroutine for each, for as long as
	// the attacker likes.
	const clients = 50
	timing := suitekit.Timing{Warmup: 500 * time.Millisecond, Lead: 500 * time.Millisecond, Hold: 3 * time.Second, Recovery: time.Second}

	Context("when 50 clients never finish their headers, for 3s", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			suitekit.StartProxies(tgt)
			s, err := stall.New(tgt.URL, stall.Config{Mode: stall.Slowloris, Count: clients, Path: tgt.Load.Requests[0].Path})
			Expect(err).NotTo(HaveOccurred())
			out = suitekit.Drive(ctx, tgt, s, timing)
		}, NodeTimeout(2*time.Minute))
		get := func() *suitekit.Outcome { return out }

		It("closes every one of them before the fault clears (read-header timeout)", Label("timeouts"), func() {
			tgt.RequireFix("timeouts")
			st := out.Fault.(*stall.Stall).Stats()
			Expect(st.ServerClosed).To(BeEquivalentTo(clients),
				"%s closed %d of %d slowloris clients within %s: no read-header timeout? stats: %+v",
				tgt.Name, st.ServerClosed, clients, timing.Hold, st)
		})
		suitekit.ItKeepsServing(get, 500*time.Millisecond)
		suitekit.ItReturnsToBaseline(get)
	})
})
