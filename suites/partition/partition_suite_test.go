// Package partition_test drills the target with its upstream cut off by a
// network partition: packets dropped both ways (calls hang, connections
// go half-open), then connections reset. Meanwhile the service must fail
// fast and stop waiting on the upstream; afterwards every goroutine and
// connection the hung calls held must be gone.
package partition_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

func TestPartition(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Partition suite")
}

// tgt is the service drilled in this Ginkgo process.
var tgt *suitekit.Target

var _ = suitekit.Setup(&tgt)
