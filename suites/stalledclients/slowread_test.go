package stalledclients_test

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("Slow readers", Label("stalled-clients"), suitekit.TargetDecorators(), func() {
	// Clients that ask for a big response (the demo's 4 MiB stream) and
	// read it a trickle at a time through a tiny window: the service's
	// writes block, and when the clients finally go, whatever produced the
	// response for them must stop too.
	Context("when 20 clients read a big response a trickle at a time for 3s", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			out = suitekit.Drive(ctx, tgt, fmt.Sprintf(`
name: slow-readers
duration: 3s
stalledClients: {mode: slow-read, count: 20, path: %q}
`, tgt.SlowReadPath), suitekit.DefaultTiming)
		}, NodeTimeout(suitekit.DriveTimeout))

		suitekit.ItHolds(func() *suitekit.Outcome { return out })
	})
})
