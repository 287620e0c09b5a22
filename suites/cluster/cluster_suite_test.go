// Package cluster_test drills the demo shop through the cluster engine:
// the drill's faults are Chaos Mesh objects submitted through
// controller-runtime's client, the runner waits for Chaos Mesh to report
// them injected, deletes them on clear and waits for the recovery.
//
// There is no cluster here, so the client is controller-runtime's fake one
// and Chaos Mesh is chaosmeshtest's stand-in controller, which applies each
// NetworkChaos to a fault proxy in front of the demo's payments upstream.
// That proves aftershock's side of the cluster contract — objects, labels,
// lease as duration, waiting for AllInjected, finalizers on clear, the
// verdict — not Chaos Mesh's. On a real cluster, `aftershock drill` runs
// the same Drill against the kubeconfig's cluster (README: Running on a
// cluster).
package cluster_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

func TestCluster(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Cluster engine suite")
}

// shopBin is the demo shop, built once for every Ginkgo process.
var shopBin string

var _ = suitekit.SetupShop(&shopBin)
