package httpfaults_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/injectors/httpfault"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("Aborted upstream requests", Label("http-faults"), suitekit.TargetDecorators(), func() {
	// httpChaos abort on the request: the proxy closes the connection
	// instead of passing the request on, so every call ends with the
	// connection gone and no answer.
	Context("when every request to the upstream is aborted for 3s", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			p := suitekit.StartProxy(tgt.Upstream())
			abort := p.HTTPFault("upstream-abort", httpfault.Fault{Target: httpfault.Request, Abort: true})
			out = suitekit.Drive(ctx, tgt, abort, suitekit.DefaultTiming)
		}, NodeTimeout(2*time.Minute))
		get := func() *suitekit.Outcome { return out }

		suitekit.ItSparesTheUpstream(get)
		suitekit.ItRecovers(get, 2*time.Second)
		suitekit.ItReturnsToBaseline(get)
	})
})
