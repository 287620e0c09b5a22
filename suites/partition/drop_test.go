package partition_test

import (
	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("A partition that drops packets", Label("partition"), suitekit.TargetDecorators(), func() {
	// Longer than the demo shop's payments deadline (2 s) and the
	// upstream's idle timeout (2 s): calls hang until their deadline, the
	// breaker opens, and pooled connections go half-open, as they do behind
	// a real partition.
	Context("when the upstream is unreachable both ways for 4s", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			out = suitekit.Drive(ctx, tgt, `
name: partitioned-upstream
upstream: ${UPSTREAM}
duration: 4s
networkChaos: {action: partition, direction: both, partitionBehavior: drop}
`, suitekit.DefaultTiming)
		}, NodeTimeout(suitekit.DriveTimeout))

		suitekit.ItHolds(func() *suitekit.Outcome { return out })
	})
})
