package slowupstream_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/injectors/proxy"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("An upstream slower than the service's call deadline", Label("slow-upstream"), suitekit.TargetDecorators(), func() {
	// 3 s is past the demo shop's payments deadline (2 s): calls fail at
	// the deadline, and after three failures in a row its breaker opens
	// and checkouts are refused at once instead of waiting.
	const latency = 3 * time.Second
	timing := suitekit.Timing{Warmup: 500 * time.Millisecond, Lead: 500 * time.Millisecond, Hold: 4 * time.Second, Recovery: 2500 * time.Millisecond}

	Context("when the upstream answers 3s late", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			p := suitekit.StartProxy(tgt.Upstream())
			late := p.Network("very-late-upstream", proxy.Delay{Direction: proxy.To, Latency: latency})
			out = suitekit.Drive(ctx, tgt, late, timing)
		}, NodeTimeout(2*time.Minute))
		get := func() *suitekit.Outcome { return out }

		suitekit.ItFailsFast(get, latency/4, "its give-up and deadline answer first")
		suitekit.ItStopsWaiting(get, timing.Hold, 1500*time.Millisecond, 50*time.Millisecond)
		suitekit.ItRecovers(get, 2*time.Second)
		suitekit.ItReturnsToBaseline(get)
	})
})
