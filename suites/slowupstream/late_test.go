package slowupstream_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/injectors/proxy"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("An upstream slower than the service's give-up", Label("slow-upstream"), suitekit.TargetDecorators(), func() {
	// 1 s is well past the demo shop's give-up (300 ms) and well before its
	// call deadline (2 s): every payment succeeds, late, after the shopper
	// was answered 504. Work left behind by the give-up shows here.
	const latency = time.Second

	Context("when the upstream answers 1s late", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			p := suitekit.StartProxy(tgt.Upstream())
			late := p.Network("late-upstream", proxy.Delay{Direction: proxy.To, Latency: latency, Jitter: latency / 10})
			out = suitekit.Drive(ctx, tgt, late, suitekit.DefaultTiming)
		}, NodeTimeout(2*time.Minute))
		get := func() *suitekit.Outcome { return out }

		suitekit.ItFailsFast(get, latency/2, "its give-up answers first")
		suitekit.ItRecovers(get, 2*time.Second)
		suitekit.ItReturnsToBaseline(get)
	})
})
