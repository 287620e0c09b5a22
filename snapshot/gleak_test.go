package snapshot_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gleak"
	"github.com/onsi/gomega/gleak/goroutine"

	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

// gleak's own matchers judge the goroutines of a remote process.
func TestGleakMatchersOnRemoteGoroutines(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	target := snapshottest.Start(t)
	c := newClient(t, target.PprofURL)
	remote := func(ctx context.Context) ([]goroutine.Goroutine, error) {
		s, err := c.Capture(ctx)
		if err != nil {
			return nil, err
		}
		return s.GleakGoroutines(), nil
	}
	base := capture(t, c).GleakGoroutines()

	target.Park(3)
	// The target is polled as a settle would: a control connection of the
	// test may still be closing in the target for a moment.
	eventually := func() AsyncAssertion {
		return g.Eventually(remote).WithTimeout(10 * time.Second).WithContext(context.Background())
	}
	now := capture(t, c).GleakGoroutines()
	leak := gleak.HaveLeaked(base)
	g.Expect(now).To(leak)
	g.Expect(leak.FailureMessage(now)).To(ContainSubstring(targetPkg + ".ParkedWorker"))
	eventually().ShouldNot(gleak.HaveLeaked(base, gleak.IgnoringTopFunction(targetPkg+".ParkedWorker")))
	eventually().ShouldNot(gleak.HaveLeaked(base, gleak.IgnoringTopFunction(targetPkg+".ParkedWorker [chan receive]")))
	eventually().ShouldNot(gleak.HaveLeaked(base, gleak.IgnoringCreator(targetPkg+".(*state).park")))
	eventually().ShouldNot(gleak.HaveLeaked(base, gleak.IgnoringInBacktrace("ParkedWorker")))
	g.Expect(capture(t, c).GleakGoroutines()).To(gleak.HaveLeaked(base, gleak.IgnoringTopFunction(targetPkg+".ParkedWorker [select]")))

	target.Release()
	eventually().ShouldNot(gleak.HaveLeaked(base))
}
