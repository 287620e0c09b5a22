package grpc_test

import (
	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("An upstream gRPC method that answers Unavailable", Label("grpc"), suitekit.TargetDecorators(), func() {
	// Only the upstream's unary method fails; its streams and its other
	// methods on the same connection go on. The demo shop's checkouts fail
	// at their pricing call: what a failed call leaves behind (a
	// connection, a background retry) shows here.
	Context("when every call of the method fails", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			out = suitekit.Drive(ctx, tgt, `
name: upstream-unavailable
upstream: ${UPSTREAM}
duration: 3s
grpcChaos: {methods: [`+suitekit.GRPCMethodUnary+`], abort: {code: Unavailable, message: drill}}
`, suitekit.DefaultTiming)
		}, NodeTimeout(suitekit.DriveTimeout))

		suitekit.ItHolds(func() *suitekit.Outcome { return out })
	})
})

var _ = Describe("An upstream slower than the service's give-up", Label("grpc"), suitekit.TargetDecorators(), func() {
	// 800 ms is well past the demo shop's give-up (300 ms): every call it
	// makes upstream is answered, late, after it has given up on it. Work
	// left behind by the give-up (an open stream and its reader, a
	// producer nobody reads) shows here.
	Context("when every upstream call is held 800ms", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			out = suitekit.Drive(ctx, tgt, `
name: upstream-late
upstream: ${UPSTREAM}
duration: 3s
grpcChaos: {delay: {latency: 800ms, jitter: 100ms}}
`, suitekit.DefaultTiming)
		}, NodeTimeout(suitekit.DriveTimeout))

		suitekit.ItHolds(func() *suitekit.Outcome { return out })
	})
})

var _ = Describe("Upstream gRPC streams reset mid-call", Label("grpc"), suitekit.TargetDecorators(), func() {
	// Half the calls are reset (RST_STREAM), the rest answered: the
	// service must neither leak the reset calls nor stop serving.
	Context("when half the upstream calls are reset", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			out = suitekit.Drive(ctx, tgt, `
name: upstream-reset
upstream: ${UPSTREAM}
duration: 3s
grpcChaos: {percent: 50%, reset: true}
`, suitekit.DefaultTiming)
		}, NodeTimeout(suitekit.DriveTimeout))

		suitekit.ItHolds(func() *suitekit.Outcome { return out })
	})
})
