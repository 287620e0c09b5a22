// Package slowupstream_test drills the target with an upstream that
// answers late: slower than the service's own give-up, then slower than
// its call deadline. Afterwards goroutines, connections and heap must be
// back at the baseline; meanwhile the service must fail fast (timeouts)
// and, once its calls fail, stop calling the upstream (breaker).
package slowupstream_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

func TestSlowUpstream(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Slow upstream suite")
}

// tgt is the service drilled in this Ginkgo process.
var tgt *suitekit.Target

var _ = suitekit.Setup(&tgt)
