package httpfaults_test

import (
	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("A 503 storm", Label("http-faults"), suitekit.TargetDecorators(), func() {
	// Every answer of the upstream becomes a 503 with a body: a service
	// that does not read and close error bodies keeps a connection per
	// failed call, one that remembers failures keeps their memory. The
	// body is base64, as in any Kubernetes manifest: {"error":"overloaded"}.
	Context("when every upstream answer is a 503 for 3s", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			out = suitekit.Drive(ctx, tgt, `
name: upstream-503
upstream: ${UPSTREAM}
duration: 3s
httpChaos:
  target: Response
  replace:
    code: 503
    headers: {Retry-After: "1"}
    body: eyJlcnJvciI6Im92ZXJsb2FkZWQifQ==
`, suitekit.DefaultTiming)
		}, NodeTimeout(suitekit.DriveTimeout))

		suitekit.ItHolds(func() *suitekit.Outcome { return out })
	})
})
