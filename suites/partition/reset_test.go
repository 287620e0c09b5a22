package partition_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/injectors/proxy"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("A partition that rejects connections", Label("partition"), suitekit.TargetDecorators(), func() {
	// partitionBehavior: reject. Every connection to the upstream is reset,
	// open ones and new ones: calls fail at once, and whatever the service
	// held for them must be released.
	Context("when every connection to the upstream is reset for 3s", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			p := suitekit.StartProxy(tgt.Upstream())
			out = suitekit.Drive(ctx, tgt, p.Network("rejecting-upstream", proxy.Reset{}), suitekit.DefaultTiming)
		}, NodeTimeout(2*time.Minute))
		get := func() *suitekit.Outcome { return out }

		suitekit.ItRecovers(get, 2*time.Second)
		suitekit.ItReturnsToBaseline(get)
	})
})
