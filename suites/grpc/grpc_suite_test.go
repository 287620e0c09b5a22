// Package grpc_test drills a gRPC service with faults on the gRPC calls it
// makes upstream, per call: an upstream method that answers Unavailable,
// an upstream slower than the service's give-up, streams reset. The
// other calls on the same HTTP/2 connection are left alone, as a real
// failure of one method would leave them. Afterwards goroutines,
// connections and heap must be back at the baseline; meanwhile the
// service must fail fast, and serve again soon after the clear.
//
// It drills the gRPC demo shop (fixtures/grpcshop) unless AFTERSHOCK_TARGET
// names an env file of a gRPC service (target url grpc://host:port, its
// pprof, upstreams of protocol grpc, load.grpc).
package grpc_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

func TestGRPC(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "gRPC suite")
}

// tgt is the service drilled in this Ginkgo process.
var tgt *suitekit.Target

var _ = suitekit.SetupGRPC(&tgt)
