package stalledclients_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/injectors/stall"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("Slow readers", Label("stalled-clients"), suitekit.TargetDecorators(), func() {
	// Clients that ask for a big response (the demo's 4 MiB stream) and
	// read it a trickle at a time through a tiny window: the service's
	// writes block, and when the clients finally go, whatever produced the
	// response for them must stop too.
	Context("when 20 clients read a big response a trickle at a time for 3s", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			suitekit.StartProxies(tgt)
			s, err := stall.New(tgt.URL, stall.Config{Mode: stall.SlowRead, Count: 20, Path: tgt.SlowReadPath})
			Expect(err).NotTo(HaveOccurred())
			out = suitekit.Drive(ctx, tgt, s, suitekit.DefaultTiming)
		}, NodeTimeout(2*time.Minute))
		get := func() *suitekit.Outcome { return out }

		suitekit.ItKeepsServing(get, 500*time.Millisecond)
		suitekit.ItReturnsToBaseline(get)
	})
})
