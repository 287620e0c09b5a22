package slowupstream_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("An upstream slower than the service's call deadline", Label("slow-upstream"), suitekit.TargetDecorators(), func() {
	// 3 s is past the demo shop's payments deadline (2 s): calls fail at
	// the deadline, and after three failures in a row its breaker opens
	// and checkouts are refused at once instead of waiting.
	Context("when the upstream answers 3s late", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			out = suitekit.Drive(ctx, tgt, `
name: very-late-upstream
upstream: ${UPSTREAM}
duration: 4s
networkChaos: {action: delay, direction: to, delay: {latency: 3s}}
`, suitekit.DefaultTiming)
		}, NodeTimeout(suitekit.DriveTimeout+time.Minute))

		suitekit.ItHolds(func() *suitekit.Outcome { return out })
	})
})
