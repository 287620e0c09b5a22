// Package httpfaults_test drills the target with HTTP faults on its
// upstream's answers, through the HTTP-aware fault proxy (upstreams
// declared protocol: http): a storm of 503s, and requests dropped without
// an answer. Meanwhile a breaker must stop calling the upstream; afterwards
// every connection, goroutine and byte the failures held must be released.
package httpfaults_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

func TestHTTPFaults(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "HTTP faults suite")
}

// tgt is the service drilled in this Ginkgo process.
var tgt *suitekit.Target

var _ = suitekit.Setup(&tgt)
