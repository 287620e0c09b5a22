package suitekit

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/experiments/runner"
)

// sloChild makes this test binary, run again with it set, the Ginkgo
// suite of ItHoldsItsSLOs alone (one suite per process is all Ginkgo
// allows, and a spec that fails must not fail the parent test).
const sloChild = "AFTERSHOCK_TEST_SLO_SPECS"

// TestDeclaredSLOWithoutChecksFails: of the SLO specs of a fault, one
// whose SLO the runner says why it did not judge is skipped with that
// reason; one that yielded no checks and no reason (declared, yet never
// judged) fails, never skips: --fail-on-pending would not catch a skip.
func TestDeclaredSLOWithoutChecksFails(t *testing.T) {
	if os.Getenv(sloChild) != "" {
		o := &Outcome{Target: &Target{Name: "shop"}, Result: &runner.Result{}, Dir: t.TempDir(),
			Fault: &runner.FaultResult{Name: "slow-payments", NotJudged: []runner.NotJudged{
				{Kind: runner.SLODuringFault, Reason: "drill x declares no duringFault SLO"},
				{Kind: runner.SLOIsolation, Reason: "the isolation SLO applies to stalled clients"},
				{Kind: runner.SLOBreaker, Reason: "drill x declares no breaker SLO"},
				// recovery: declared, not judged, and no reason.
			}}}
		Describe("slow-payments", func() { ItHoldsItsSLOs(func() *Outcome { return o }) })
		RegisterFailHandler(Fail)
		RunSpecs(t, "slo specs")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDeclaredSLOWithoutChecksFails$", "-ginkgo.no-color")
	cmd.Env = append(os.Environ(), sloChild+"=1")
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err == nil {
		t.Fatalf("the SLO specs passed; the recovery SLO yielded no checks and no reason:\n%s", text)
	}
	for _, want := range []string{
		"0 Passed | 1 Failed | 0 Pending | 3 Skipped",
		"shop declares a recovery SLO, and fault slow-payments yielded no recovery check and no reason why",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the SLO specs' output lacks %q:\n%s", want, text)
		}
	}
}
