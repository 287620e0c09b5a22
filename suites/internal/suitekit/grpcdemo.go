package suitekit

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/fixtures/launch"
	"github.com/aftershock/aftershock/fixtures/stack"
)

// Methods of the gRPC demo shop (gRPC's own test service), full names as
// load and grpcChaos write them.
const (
	GRPCMethodUnary  = "/grpc.testing.TestService/UnaryCall"
	GRPCMethodQuotes = "/grpc.testing.TestService/StreamingOutputCall"
	GRPCMethodDuplex = "/grpc.testing.TestService/FullDuplexCall"
	GRPCMethodEmpty  = "/grpc.testing.TestService/EmptyCall"
)

// GRPCDemoLoad is the gRPC demo's steady load: checkouts and quote
// streams of three quotes, in turn.
var GRPCDemoLoad = experiments.LoadSpec{
	Rate: 20, Timeout: experiments.D(5 * time.Second),
	GRPC: []experiments.GRPCLoad{
		{Method: GRPCMethodUnary, Message: `{"responseSize": 8}`},
		{Method: GRPCMethodQuotes, Message: `{"responseParameters": [{"size": 4}, {"size": 4}, {"size": 4}]}`},
	},
}

// BuildGRPCShop builds the gRPC demo shop binary, as BuildShop builds the
// shop's (--grpcshop-bin names a prebuilt one).
func BuildGRPCShop() []byte {
	GinkgoHelper()
	if External() {
		return nil
	}
	if bin := setting(flags.grpcShopBin, EnvGRPCShopBinary); bin != "" {
		path, err := ResolvePath(bin)
		Expect(err).NotTo(HaveOccurred(), "gRPC demo shop binary (%s)", EnvGRPCShopBinary)
		return []byte(path)
	}
	path, err := launch.Build(launch.GRPCShopPackage)
	Expect(err).NotTo(HaveOccurred(), "build the gRPC demo shop")
	return []byte(path)
}

// SetupGRPC registers the suite-level nodes of a gRPC fault suite, as
// Setup does for the HTTP ones: the first Ginkgo process builds the gRPC
// demo shop, every process starts its target (the gRPC demo, or the
// service of an env file) into *tgt.
func SetupGRPC(tgt **Target) bool {
	SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
		return BuildGRPCShop()
	}, func(ctx SpecContext, bin []byte) {
		*tgt = start(ctx, forGRPC, func() *Target { return startGRPCDemo(ctx, string(bin)) })
	}, NodeTimeout(3*time.Minute))
	SynchronizedAfterSuite(func() {}, CleanupBuild)
	return true
}

// StartGRPCStack starts a gRPC demo stack with these switches and stops it
// when the current node's scope ends.
func StartGRPCStack(ctx context.Context, bin string, leaks, fixes []string, proxyAddr string) *stack.GRPCStack {
	GinkgoHelper()
	Expect(bin).NotTo(BeEmpty(), "no gRPC demo shop binary: call BuildGRPCShop in SynchronizedBeforeSuite")
	st, err := stack.StartGRPC(ctx, stack.Config{
		Shop: []string{bin}, Leaks: leaks, Fixes: fixes,
		Launch: []launch.Option{launch.WithOutput(GinkgoWriter)}, ProxyAddr: proxyAddr,
	})
	Expect(err).NotTo(HaveOccurred(), "start the gRPC demo stack")
	DeferCleanup(st.Stop)
	return st
}

// startGRPCDemo starts this process's gRPC demo stack.
func startGRPCDemo(ctx context.Context, bin string) *Target {
	leaks, fixes, err := GRPCDemoSwitches()
	Expect(err).NotTo(HaveOccurred())
	st := StartGRPCStack(ctx, bin, leaks, fixes, "")
	inv := experiments.Upstream{
		Name: "inventory", Listen: st.ProxyAddr, Forward: st.Inventory.Addr(),
		Protocol: experiments.ProtocolGRPC, Engine: experiments.EngineProxy,
	}
	return &Target{
		Name: "the demo gRPC shop (fixes: " + cmpList(fixes) + "; leaks: " + cmpList(leaks) + ")",
		URL:  st.Shop.URL, Pprof: st.Shop.Pprof,
		Upstreams: []experiments.Upstream{inv},
		Load:      GRPCDemoLoad,
		Verify:    GRPCDemoVerify(),
		Settle:    DefaultSettle,
		Quiesce:   experiments.DefaultQuiesce,
		Vars:      st.Vars(),
		GRPCDemo:  st, Leaks: leaks, Fixes: fixes,
	}
}

// GRPCDemoVerify is the gRPC demo shop's verify block: the default
// tolerances, and the SLOs its design delivers whatever is switched on —
// it gives up on inventory after 300 ms, so it answers within half a
// second during any fault, and serves again within 2 s of a clear.
func GRPCDemoVerify() experiments.Verify {
	v := experiments.DefaultVerify()
	v.SLO = &experiments.SLO{
		DuringFault: &experiments.FaultSLO{P99: experiments.D(500 * time.Millisecond)},
		Recovery:    &experiments.RecoverySLO{SuccessRate: experiments.Percent{Value: 99}, Within: experiments.D(2 * time.Second)},
	}
	return v
}
