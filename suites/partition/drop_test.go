package partition_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/injectors/proxy"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("A partition that drops packets", Label("partition"), suitekit.TargetDecorators(), func() {
	// Longer than the demo shop's payments deadline (2 s) and the
	// upstream's idle timeout (2 s): calls hang until their deadline, the
	// breaker opens, and pooled connections go half-open, as they do behind
	// a real partition.
	timing := suitekit.Timing{Warmup: 500 * time.Millisecond, Lead: 500 * time.Millisecond, Hold: 4 * time.Second, Recovery: 2500 * time.Millisecond}

	Context("when the upstream is unreachable both ways for 4s", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			p := suitekit.StartProxy(tgt.Upstream())
			out = suitekit.Drive(ctx, tgt, p.Network("partitioned-upstream", proxy.Partition{}), timing)
		}, NodeTimeout(2*time.Minute))
		get := func() *suitekit.Outcome { return out }

		suitekit.ItFailsFast(get, timing.Hold/4, "its give-up and deadline answer first")
		suitekit.ItStopsWaiting(get, timing.Hold, 1500*time.Millisecond, 50*time.Millisecond)
		suitekit.ItRecovers(get, 2*time.Second)
		suitekit.ItReturnsToBaseline(get)
	})
})
