package httpfaults_test

import (
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/injectors/httpfault"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("A 503 storm", Label("http-faults"), suitekit.TargetDecorators(), func() {
	// Every answer of the upstream becomes a 503 with a body: a service
	// that does not read and close error bodies keeps a connection per
	// failed call, one that remembers failures keeps their memory.
	Context("when every upstream answer is a 503 for 3s", Ordered, ContinueOnFailure, func() {
		var out *suitekit.Outcome
		BeforeAll(func(ctx SpecContext) {
			p := suitekit.StartProxy(tgt.Upstream())
			storm := p.HTTPFault("upstream-503", httpfault.Fault{
				Target: httpfault.Response,
				Replace: &httpfault.Replace{
					Code:    http.StatusServiceUnavailable,
					Headers: map[string]string{"Retry-After": "1"},
					Body:    []byte(`{"error":"overloaded"}`),
				},
			})
			out = suitekit.Drive(ctx, tgt, storm, suitekit.DefaultTiming)
		}, NodeTimeout(2*time.Minute))
		get := func() *suitekit.Outcome { return out }

		suitekit.ItSparesTheUpstream(get)
		suitekit.ItRecovers(get, 2*time.Second)
		suitekit.ItReturnsToBaseline(get)
	})
})
