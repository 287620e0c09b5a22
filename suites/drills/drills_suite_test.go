// Package drills_test runs Drill files as Ginkgo specs, one spec per file,
// so that a team keeps its drills as files and runs them in its pipeline
// like any other suite: the shipped demo drills by default, or every
// *.yaml in --drills / AFTERSHOCK_DRILLS. Each drill runs against the
// selected target (its target and upstream addresses are replaced by the
// target's) through experiments.Run, and its verdict is the spec's.
package drills_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

func TestDrills(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Drills suite")
}

// tgt is the service drilled in this Ginkgo process.
var tgt *suitekit.Target

var _ = suitekit.SetupAny(&tgt)
