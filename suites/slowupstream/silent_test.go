package slowupstream_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/injectors/proxy"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("An upstream that stops answering", Label("slow-upstream"), suitekit.TargetDecorators(), func() {
	// The upstream takes requests and never answers them (its answers are
	// swallowed, like a deadlocked server's): only the service's own call
	// deadline ends such a call. A call without one hangs for good.
	//
	// Recovery takes longer than after a slow upstream: the breaker's
	// half-open probe may have left just before the clear, and its answer
	// is lost with the others, so the breaker closes only after the
	// probe's deadline (2 s) and another open period (1 s).
	timing := suitekit.Timing{Warmup: 500 * time.Millisecond, Lead: 500 * time.Millisecond, Hold: 4 * time.Second, Recovery: 4500 * time.Millisecond}

	Context("when the upstream's answers never arrive for 4s", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			p := suitekit.StartProxy(tgt.Upstream())
			out = suitekit.Drive(ctx, tgt, p.Network("silent-upstream", proxy.Timeout{Direction: proxy.To}), timing)
		}, NodeTimeout(2*time.Minute))
		get := func() *suitekit.Outcome { return out }

		suitekit.ItFailsFast(get, timing.Hold/4, "its give-up and deadline answer first")
		suitekit.ItStopsWaiting(get, timing.Hold, 1500*time.Millisecond, 50*time.Millisecond)
		suitekit.ItRecovers(get, 4*time.Second)
		suitekit.ItReturnsToBaseline(get)
	})
})
