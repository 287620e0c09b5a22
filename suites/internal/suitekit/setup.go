package suitekit

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
)

// Setup registers the suite-level nodes every fault suite shares: the
// first Ginkgo process builds the demo shop once (BuildShop), every
// process then starts its target into *tgt (Start: the demo, or the
// service of an env file), and the build is removed at the end. Call it
// at package level, where Ginkgo builds its tree:
//
//	var tgt *suitekit.Target
//	var _ = suitekit.Setup(&tgt)
//
// The HTTP fault suites call it; an env file naming a gRPC service makes
// them skip, saying so.
func Setup(tgt **Target) bool {
	return setup(func(ctx SpecContext, shop []byte) { *tgt = Start(ctx, shop) })
}

// SetupAny is Setup for a suite whose specs suit any service, HTTP or
// gRPC (suites/drills: the drill files say what they drill).
func SetupAny(tgt **Target) bool {
	return setup(func(ctx SpecContext, shop []byte) {
		*tgt = start(ctx, forAny, func() *Target { return startDemo(ctx, string(shop)) })
	})
}

// SetupShop registers the suite-level nodes of a suite that starts demo
// stacks of its own (StartStack) instead of drilling one target: the
// first Ginkgo process builds the shop, every process gets its path in
// *shopBin, and the build is removed at the end.
func SetupShop(shopBin *string) bool {
	return setup(func(_ SpecContext, shop []byte) { *shopBin = string(shop) })
}

func setup(each func(SpecContext, []byte)) bool {
	SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
		return BuildShop()
	}, each, NodeTimeout(3*time.Minute))
	SynchronizedAfterSuite(func() {}, CleanupBuild)
	return true
}
