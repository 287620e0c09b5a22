// Package search_test asserts how much a service can take, with the
// threshold search as a Gomega helper (search.Run, search.HoldUpTo): "no
// leak below 3 s of upstream latency". It starts demo shops of its own,
// one with every fix on, which holds, and one with its goroutine leak on,
// whose violated bound shows what the helper's failure says: the
// threshold, its bracket and the culprits.
package search_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

func TestSearch(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Search suite")
}

// shopBin is the demo shop, built once for all Ginkgo processes.
var shopBin string

var _ = suitekit.SetupShop(&shopBin)
