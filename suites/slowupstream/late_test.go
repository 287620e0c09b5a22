package slowupstream_test

import (
	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("An upstream slower than the service's give-up", Label("slow-upstream"), suitekit.TargetDecorators(), func() {
	// 1 s is well past the demo shop's give-up (300 ms) and well before its
	// call deadline (2 s): every payment succeeds, late, after the shopper
	// was answered 504. Work left behind by the give-up shows here.
	Context("when the upstream answers 1s late", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			out = suitekit.Drive(ctx, tgt, `
name: late-upstream
upstream: ${UPSTREAM}
duration: 3s
networkChaos: {action: delay, direction: to, delay: {latency: 1s, jitter: 100ms}}
`, suitekit.DefaultTiming)
		}, NodeTimeout(suitekit.DriveTimeout))

		suitekit.ItHolds(func() *suitekit.Outcome { return out })
	})
})
