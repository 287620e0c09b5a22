package partition_test

import (
	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("A partition that rejects connections", Label("partition"), suitekit.TargetDecorators(), func() {
	// partitionBehavior: reject. Every connection to the upstream is reset,
	// open ones and new ones: calls fail at once, and whatever the service
	// held for them must be released.
	Context("when every connection to the upstream is reset for 3s", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			out = suitekit.Drive(ctx, tgt, `
name: rejecting-upstream
upstream: ${UPSTREAM}
duration: 3s
networkChaos: {action: partition, direction: both, partitionBehavior: reject}
`, suitekit.DefaultTiming)
		}, NodeTimeout(suitekit.DriveTimeout))

		suitekit.ItHolds(func() *suitekit.Outcome { return out })
	})
})
