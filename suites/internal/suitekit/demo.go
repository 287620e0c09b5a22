package suitekit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/fixtures/grpcshop"
	"github.com/aftershock/aftershock/fixtures/launch"
	"github.com/aftershock/aftershock/fixtures/shop"
	"github.com/aftershock/aftershock/fixtures/stack"
	"github.com/aftershock/aftershock/fixtures/switches"
)

// DemoSlowReadPath is the demo shop's big stream: 4 MiB, far more than the
// socket buffers between a slow reader and the shop hold.
const DemoSlowReadPath = "/stream?chunks=4096&size=1024"

// DemoShopArgs tune the demo shop's healthy wind-down: its audit workers
// and pooled payments connections outlive the load by 1 s instead of 2-3 s.
// They still outlive it — the suites must still tell them from leaks —
// but quiet baselines and settles come sooner, which keeps the quick run
// within its few minutes.
var DemoShopArgs = []string{"--worker-idle=1s", "--pool-idle=1s"}

// demoQuiesce is the demo's quiesce window: longer than its idle timers.
const demoQuiesce = 1500 * time.Millisecond

// hiddenBy lists, for a leak, the fixes other than its own that would hide
// it from the suites, so a leak run turns them off too: the client timeout
// (over the whole exchange, body included) ends the hung calls of the
// context leak and releases the unread bodies of the body leak, and an
// open breaker stops the failures that fill the retry cache long before it
// outgrows the heap tolerance.
var hiddenBy = map[string][]string{
	shop.LeakBody:    {shop.FixTimeouts},
	shop.LeakContext: {shop.FixTimeouts},
	shop.LeakCache:   {shop.FixBreaker},
}

// DemoSwitches returns the demo shop's leaks and fixes: the leaks of
// --demo-leaks (none by default) and every fix but those leaks' own and
// those that would hide them, unless --demo-fixes names the fixes.
func DemoSwitches() (leaks, fixes []string, err error) {
	return demoSwitches(demoSettings{"demo shop", flags.demoLeaks, flags.demoFixes, EnvDemoLeaks, EnvDemoFixes, "--demo-"},
		shop.Leaks(), shop.Fixes(), hiddenBy)
}

// GRPCDemoSwitches returns the gRPC demo shop's leaks and fixes, read as
// DemoSwitches reads the shop's, from settings of its own
// (AFTERSHOCK_GRPC_DEMO_LEAKS, AFTERSHOCK_GRPC_DEMO_FIXES): a leak name
// of one shop means nothing, or another leak, in the other.
func GRPCDemoSwitches() (leaks, fixes []string, err error) {
	return demoSwitches(demoSettings{"gRPC demo shop", flags.grpcDemoLeaks, flags.grpcDemoFixes, EnvGRPCDemoLeaks, EnvGRPCDemoFixes, "--grpc-demo-"},
		grpcshop.Leaks(), grpcshop.Fixes(), nil)
}

// demoSettings is where a demo's switches come from.
type demoSettings struct {
	demo                 string
	leaksFlag, fixesFlag *string
	leaksEnv, fixesEnv   string
	flagPrefix           string
}

func demoSwitches(st demoSettings, allLeaks, allFixes []string, hidden map[string][]string) (leaks, fixes []string, err error) {
	demo := st.demo
	leaks = splitList(setting(st.leaksFlag, st.leaksEnv))
	if slices.Contains(leaks, switches.All) {
		leaks = allLeaks
	}
	for _, l := range leaks {
		if !slices.Contains(allLeaks, l) {
			return nil, nil, fmt.Errorf("unknown %s leak %q (%s / %sleaks); allowed: %s, all",
				demo, l, st.leaksEnv, st.flagPrefix, strings.Join(allLeaks, ", "))
		}
	}
	if f := setting(st.fixesFlag, st.fixesEnv); f != "" {
		fixes = splitList(f)
		if slices.Contains(fixes, switches.All) {
			fixes = allFixes
		}
		for _, x := range fixes {
			if !slices.Contains(allFixes, x) {
				return nil, nil, fmt.Errorf("unknown %s fix %q (%s / %sfixes); allowed: %s, all",
					demo, x, st.fixesEnv, st.flagPrefix, strings.Join(allFixes, ", "))
			}
		}
		return leaks, fixes, nil
	}
	off := map[string]bool{}
	for _, l := range leaks {
		off[l] = true
		for _, h := range hidden[l] {
			off[h] = true
		}
	}
	for _, x := range allFixes {
		if !off[x] {
			fixes = append(fixes, x)
		}
	}
	return leaks, fixes, nil
}

// StartStack starts a demo stack — payments, and a shop with these
// switches calling it at proxyAddr ("" picks a free loopback port) — and
// stops it when the current node's scope ends.
func StartStack(ctx context.Context, shopBin string, leaks, fixes []string, proxyAddr string) *stack.Stack {
	GinkgoHelper()
	Expect(shopBin).NotTo(BeEmpty(), "no demo shop binary: call BuildShop in SynchronizedBeforeSuite")
	st, err := stack.Start(ctx, stack.Config{
		Shop: []string{shopBin}, Leaks: leaks, Fixes: fixes, ShopArgs: DemoShopArgs,
		Launch: []launch.Option{launch.WithOutput(GinkgoWriter)}, ProxyAddr: proxyAddr,
	})
	Expect(err).NotTo(HaveOccurred(), "start the demo stack")
	DeferCleanup(st.Stop)
	return st
}

// startDemo starts this process's demo stack and stops it when the suite
// ends.
func startDemo(ctx context.Context, shopBin string) *Target {
	leaks, fixes, err := DemoSwitches()
	Expect(err).NotTo(HaveOccurred())
	st := StartStack(ctx, shopBin, leaks, fixes, "")

	name := "the demo shop (fixes: " + cmpList(fixes) + "; leaks: " + cmpList(leaks) + ")"
	pay := experiments.Upstream{
		Name: "payments", Listen: st.ProxyAddr, Forward: st.Payments.Addr(),
		Protocol: experiments.ProtocolHTTP, Engine: experiments.EngineProxy,
	}
	return &Target{
		Name: name, URL: st.Shop.URL, Pprof: st.Shop.Pprof,
		Upstreams: []experiments.Upstream{pay},
		Load: experiments.LoadSpec{
			Rate: 20, Timeout: experiments.D(5 * time.Second),
			Requests: []experiments.Request{{Method: "GET", Path: "/checkout"}},
		},
		SlowReadPath: DemoSlowReadPath,
		Verify:       DemoVerify(fixes),
		Settle:       DefaultSettle,
		Quiesce:      demoQuiesce,
		Vars:         st.Vars(),
		Demo:         st, Leaks: leaks, Fixes: fixes,
	}
}

// DemoVerify is the verify block of the demo shop with these fixes: the
// default tolerances, and the SLOs the shop declares — what its design
// delivers whatever is switched on (it answers 504 after its 300 ms
// give-up, so it fails fast; stalled clients do not slow its other
// shoppers; it serves again within 2 s of a clear), and, with the breaker
// fix, a circuit breaker that opens after three failed payments (a
// payment fails at its 2 s deadline at the latest), answers at once while
// open and lets one probe through a second.
func DemoVerify(fixes []string) experiments.Verify {
	pct := func(v float64) *experiments.Percent { return &experiments.Percent{Value: v} }
	slo := &experiments.SLO{
		DuringFault: &experiments.FaultSLO{P99: experiments.D(500 * time.Millisecond)},
		Isolation:   &experiments.FaultSLO{P99: experiments.D(500 * time.Millisecond), ErrorRate: pct(0)},
		Recovery:    &experiments.RecoverySLO{SuccessRate: *pct(99), Within: experiments.D(2 * time.Second)},
	}
	if slices.Contains(fixes, shop.FixBreaker) {
		slo.Breaker = &experiments.BreakerSLO{
			OpensWithin: experiments.D(2500 * time.Millisecond), P50: experiments.D(50 * time.Millisecond),
			MaxCallShare: pct(25), CallTimeout: experiments.D(2 * time.Second),
		}
	}
	v := experiments.DefaultVerify()
	v.SLO = slo
	return v
}

func cmpList(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ",")
}
