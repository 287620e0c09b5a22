package partition_test

import (
	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("A partition that drops packets", Label("partition"), suitekit.TargetDecorators(), func() {
	// Direction to, Chaos Mesh's default: what the upstream sends is cut,
	// so requests arrive and their answers never do. Longer than the demo
	// shop's payments deadline (2 s) and the upstream's idle timeout (2 s):
	// calls hang until their deadline, the breaker opens, and the upstream
	// gives up on its side of the pooled connections, which are left
	// half-open, as they are behind a real partition. (Cut both ways, the
	// requests would be held and delivered after the clear, and the calls
	// would complete.)
	Context("when the upstream's answers are dropped for 4s", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			out = suitekit.Drive(ctx, tgt, `
name: partitioned-upstream
upstream: ${UPSTREAM}
duration: 4s
networkChaos: {action: partition, direction: to, partitionBehavior: drop}
`, suitekit.DefaultTiming)
		}, NodeTimeout(suitekit.DriveTimeout))

		suitekit.ItHolds(func() *suitekit.Outcome { return out })
	})
})
