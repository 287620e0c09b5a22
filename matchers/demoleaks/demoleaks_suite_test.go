package demoleaks_test

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/fixtures/launch"
)

func TestDemoLeaks(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Demo Leaks Suite")
}

// shopBin is the shop binary, built once for the whole suite (by the first
// parallel process) and shared by every process.
var shopBin string

var _ = SynchronizedBeforeSuite(func() []byte {
	bin, err := launch.Build(launch.ShopPackage)
	Expect(err).NotTo(HaveOccurred())
	return []byte(bin)
}, func(bin []byte) {
	shopBin = string(bin)
})

var _ = SynchronizedAfterSuite(func() {}, func() {
	launch.CleanupBuildArtifacts()
})

// Timing of the suite. The leak scenarios run a shop tuned to wind down fast
// (see fastShop), so that quiesce and settle take well under a second each
// and 6 leaks × 2 variants × 5 runs fit in a few minutes.
const (
	// poll is how often Eventually and Consistently take a snapshot.
	poll = 250 * time.Millisecond
	// settle is how long a service may take to return to its baseline.
	settle = 10 * time.Second
	// leakHold is how long a leaking shop must stay off its baseline after
	// the fault cleared: several times what the fixed shops need to get
	// back (under a second, see the report of a -v run).
	leakHold = 2500 * time.Millisecond
	// quiesceWindow and quiesceEvery make the quiesce window of the leak
	// scenarios: 600 ms, longer than their shops' idle timers (250 ms).
	quiesceWindow = 600 * time.Millisecond
	quiesceEvery  = 200 * time.Millisecond
	// requestTimeout bounds every request the suite sends to a shop.
	requestTimeout = 5 * time.Second
)
