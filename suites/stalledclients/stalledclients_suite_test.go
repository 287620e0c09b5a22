// Package stalledclients_test drills the target with misbehaving clients
// of its own: slow readers of a big response, clients that hang up
// mid-response, clients that never finish their headers. Meanwhile the
// service must keep serving everyone else and close what its timeouts
// cover; afterwards nothing the stalled clients made it start may remain.
package stalledclients_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

func TestStalledClients(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Stalled clients suite")
}

// tgt is the service drilled in this Ginkgo process.
var tgt *suitekit.Target

var _ = suitekit.Setup(&tgt)
