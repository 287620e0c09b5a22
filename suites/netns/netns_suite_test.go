// Package netns_test drills the demo shop with kernel faults: its payments
// upstream lives in a network namespace aftershock makes for the drill,
// and the faults are nftables rules and tc qdiscs on the veth between
// them, not a userspace proxy. The same Drill runner, the same verdicts.
//
// The suite needs root (CAP_NET_ADMIN) and skips, saying so, without it.
// It drills demo shops of its own, one with a leak and one with every fix,
// because a service it did not start cannot be told to dial a namespace:
// with AFTERSHOCK_TARGET set it skips.
package netns_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

func TestNetns(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Kernel faults (netns) suite")
}

// shopBin is the demo shop, built once for every Ginkgo process.
var shopBin string

var _ = suitekit.SetupShop(&shopBin)
