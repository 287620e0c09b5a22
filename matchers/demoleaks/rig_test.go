package demoleaks_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/fixtures/launch"
	"github.com/aftershock/aftershock/fixtures/upstream"
	"github.com/aftershock/aftershock/snapshot"
)

// rig is one shop process calling one payments upstream of this process,
// watched through the shop's own pprof endpoints.
type rig struct {
	// up is the payments upstream; its controls are the faults.
	up *upstream.Server
	// shop is the service under test, a real process.
	shop *launch.Process
	// snap captures the shop's snapshots; the baseline and every later
	// snapshot of a spec come from it (see snapshot.Client).
	snap *snapshot.Client
}

// startRig starts an upstream with upOpts and a shop calling it with the
// extra flags shopArgs, and registers their cleanup. The switches are
// always given as flags, so SHOP_LEAKS and SHOP_FIXES in the caller's
// environment cannot change a spec.
func startRig(ctx context.Context, upOpts []upstream.Option, shopArgs ...string) *rig {
	GinkgoHelper()
	up, err := upstream.Start(upOpts...)
	Expect(err).NotTo(HaveOccurred(), "start the payments upstream")
	DeferCleanup(up.Close)

	args := append([]string{"--payments=" + up.URL()}, shopArgs...)
	shop, err := launch.Start(ctx, shopBin, args, nil, launch.WithOutput(GinkgoWriter))
	Expect(err).NotTo(HaveOccurred(), "start the shop")
	// The shop stops before the upstream (cleanups run last in, first
	// out), so a payment still hanging cannot hold the upstream's Close.
	DeferCleanup(shop.Stop)

	snap, err := snapshot.NewClient(shop.Pprof)
	Expect(err).NotTo(HaveOccurred(), "snapshot client for %s", shop.Pprof)
	DeferCleanup(snap.Close)
	return &rig{up: up, shop: shop, snap: snap}
}

// baseline quiesces the shop (see quiesce) and captures the full snapshot
// that later ones are compared with.
func (r *rig) baseline(ctx context.Context) *snapshot.Snapshot {
	GinkgoHelper()
	_, err := r.snap.Quiesce(ctx, quiesceWindow, quiesceEvery)
	Expect(err).NotTo(HaveOccurred(), "quiesce before the baseline")
	base, err := r.snap.Capture(ctx)
	Expect(err).NotTo(HaveOccurred(), "capture the baseline")
	return base
}
