package leakmatrix_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/fixtures/launch"
	"github.com/aftershock/aftershock/fixtures/ports"
	"github.com/aftershock/aftershock/fixtures/shop"
	"github.com/aftershock/aftershock/fixtures/upstream"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

// externalRun is what the external-target specs run: the slow-upstream
// scenario past the give-up, settle of goroutines only — the same specs
// as the goroutine row of the matrix, so the leaky shop must fail them.
var externalRun = run{"slowupstream", "slow-upstream && goroutines", "slower than the service's give-up",
	[]string{"shop.(*Server).callPayments.func1"}}

// The runs of the breaker specs: whole suites whose faults make the
// upstream's calls fail (a 3 s delay past the 2 s call deadline, a
// partition), every spec.
var (
	slowRun      = run{suite: "slowupstream"}
	partitionRun = run{suite: "partition"}
)

// declaredBreaker is the breaker an env file declares: open within 2.5 s
// of the fault, answering in under 50 ms and calling the upstream for at
// most a quarter of the requests from then on; a call fails at 2 s.
const declaredBreaker = `  slo:
    breaker: {opensWithin: 2500ms, p50: 50ms, maxCallShare: 25%, callTimeout: 2s}
`

// minDrilled is how many checkouts (and payments) a run must at least
// cause: the scenario's load (20 requests/s over its warm-up, healthy
// half second, fault and recovery) makes about 130 on an idle machine, a
// stray probe a handful.
const minDrilled = 50

var _ = Describe("A separately started service (AFTERSHOCK_TARGET)", Label(MatrixLabel, ExternalLabel), Ordered, func() {
	if !externalSelected() {
		It("runs only with --label-filter="+ExternalLabel+" or "+MatrixLabel, func() {
			Skip("it runs a suite for about a minute; select it with --label-filter=" + ExternalLabel)
		})
		return
	}

	var (
		up     *launch.Process
		upAddr string
		dir    string
	)
	BeforeAll(func(ctx SpecContext) {
		Expect(bins.Upstream).NotTo(BeEmpty(), "the payments upstream was not built")
		for _, s := range externalSuites {
			Expect(bins.Suites[s]).NotTo(BeEmpty(), "suite %s was not built", s)
		}
		up, upAddr = startPayments(ctx)
		dir = GinkgoT().TempDir()
	}, NodeTimeout(time.Minute))

	It("drills that service, not a demo, and passes with its fixes on", func(ctx SpecContext) {
		// The demo switches are set to a leak on purpose: a run that drilled
		// a demo instead of the env file's service would fail.
		sh, env := startExternalShop(ctx, dir, "healthy", upAddr, nil, shop.Fixes(), "")
		orders0, pays0 := orders(ctx, sh), payments(ctx, up)

		By("running " + externalRun.suite + " with " + suitekit.EnvTarget + "=" + env)
		out, code := runBinary(ctx, bins.Suites[externalRun.suite], externalRun, []string{"-ginkgo.v"},
			suitekit.EnvTarget+"="+env, suitekit.EnvDemoLeaks+"="+shop.LeakGoroutine,
			suitekit.EnvDemoFixes+"=", suitekit.EnvSettle+"=", suitekit.EnvShopBinary+"="+bins.Shop)
		AddReportEntry("output of "+externalRun.suite, ReportEntryVisibilityFailureOrVerbose, out)
		orders1, pays1 := orders(ctx, sh), payments(ctx, up)
		AddReportEntry("drilled", fmt.Sprintf("shop orders %d → %d, upstream requests %d → %d", orders0, orders1, pays0, pays1))

		Expect(code).To(Equal(0), "the suite must pass against the healthy external shop; output:\n%s", out)
		Expect(out).To(ContainSubstring(fmt.Sprintf("aftershock: drilling the service of %s at %s (pprof %s)", env, sh.URL, sh.Pprof)),
			"the suite must say it drills the env file's service")
		Expect(out).To(MatchRegexp(`Ran [1-9]\d* of \d+ Specs`), "the run must have run specs, not skipped them all")
		// With -v the suite streams its GinkgoWriter, where a demo's shop
		// would print its READY line and the target line would name it.
		Expect(out).NotTo(ContainSubstring("demo shop"), "no demo may be drilled")
		Expect(out).NotTo(ContainSubstring("aftershock-fixture ready"), "no fixture may be started by the suite")
		Expect(orders1-orders0).To(BeNumerically(">=", minDrilled), "the external shop must have taken the suite's load")
		Expect(pays1-pays0).To(BeNumerically(">=", minDrilled), "the external shop's upstream must have been called through the suite's proxy")
	}, SpecTimeout(runTimeout+30*time.Second))

	It("fails against that service when it leaks, naming the culprit", func(ctx SpecContext) {
		// No fix but the leak's own hides the goroutine leak (unlike body,
		// context and cache, see suitekit's hiddenBy), so every other fix
		// stays on. The demo switches are clean: only the external shop
		// can make the run fail.
		fixes := slices.DeleteFunc(shop.Fixes(), func(f string) bool { return f == shop.LeakGoroutine })
		sh, env := startExternalShop(ctx, dir, "leaky", upAddr, []string{shop.LeakGoroutine}, fixes, "")
		pays0 := payments(ctx, up)

		By("running " + externalRun.suite + " with " + suitekit.EnvTarget + "=" + env)
		out, code := runBinary(ctx, bins.Suites[externalRun.suite], externalRun, nil,
			suitekit.EnvTarget+"="+env, suitekit.EnvDemoLeaks+"=", suitekit.EnvDemoFixes+"=",
			suitekit.EnvSettle+"=", suitekit.EnvShopBinary+"="+bins.Shop)
		AddReportEntry("output of "+externalRun.suite, ReportEntryVisibilityFailureOrVerbose, out)
		pays1 := payments(ctx, up)

		Expect(code).To(Equal(1), "the suite must fail against the leaky external shop; output:\n%s", out)
		Expect(out).To(ContainSubstring("the service of "+env+": goroutines did not return to its baseline"),
			"the failure must be the external shop's settle failure")
		for _, c := range externalRun.culprits {
			Expect(out).To(ContainSubstring(c), "the failure must name the culprit %s", c)
		}
		Expect(out).NotTo(ContainSubstring("demo shop"), "no demo may be drilled")
		Expect(pays1-pays0).To(BeNumerically(">=", minDrilled), "the external shop's upstream must have been called")
		Expect(sh.ExitCode()).To(Equal(-1), "the external shop must still be running: the suite does not stop it")
	}, SpecTimeout(runTimeout+30*time.Second))

	// A service with timeouts and no circuit breaker never claimed a
	// breaker: the suites assert none, and it passes. Declare one in its
	// env file, and the breaker specs fail, naming the window and what
	// was measured.
	noBreaker := slices.DeleteFunc(shop.Fixes(), func(f string) bool { return f == shop.FixBreaker })
	clean := func(env string) []string {
		return []string{suitekit.EnvTarget + "=" + env, suitekit.EnvDemoLeaks + "=", suitekit.EnvDemoFixes + "=",
			suitekit.EnvSettle + "=", suitekit.EnvShopBinary + "=" + bins.Shop}
	}

	It("passes a service with timeouts and no breaker that declares none", func(ctx SpecContext) {
		_, env := startExternalShop(ctx, dir, "no-breaker", upAddr, nil, noBreaker, "")
		for _, r := range []run{slowRun, partitionRun} {
			By("running " + r.suite + " against " + env)
			out, code := runBinary(ctx, bins.Suites[r.suite], r, nil, clean(env)...)
			AddReportEntry("output of "+r.suite, ReportEntryVisibilityFailureOrVerbose, out)
			Expect(code).To(Equal(0), "%s must pass: the service declares no breaker; output:\n%s", r.suite, out)
			Expect(out).To(MatchRegexp(`Ran [1-9]\d* of \d+ Specs`))
		}
	}, SpecTimeout(2*runTimeout+30*time.Second))

	It("fails the breaker specs of the same service when its env file declares a breaker", func(ctx SpecContext) {
		_, env := startExternalShop(ctx, dir, "declared-breaker", upAddr, nil, noBreaker, declaredBreaker)
		for _, r := range []run{slowRun, partitionRun} {
			r.labels = "breaker"
			By("running " + r.suite + "'s breaker specs against " + env)
			out, code := runBinary(ctx, bins.Suites[r.suite], r, nil, clean(env)...)
			AddReportEntry("output of "+r.suite, ReportEntryVisibilityFailureOrVerbose, out)
			Expect(code).To(Equal(1), "%s must fail: the service declares a breaker it does not have; output:\n%s", r.suite, out)
			Expect(out).To(ContainSubstring("broke its declared breaker SLO"))
			Expect(out).To(ContainSubstring("once open (2.5s into the fault) to its clear: 2.5s to"), "the failure must name the window")
			Expect(out).To(MatchRegexp(`got worst p50 \d+ms`), "the failure must give the latency measured")
			Expect(out).To(MatchRegexp(`upstream calls for \d+ requests`), "the failure must give the calls counted")
		}
	}, SpecTimeout(2*runTimeout+30*time.Second))
})

// startExternalShop starts a shop as a process of its own, calling
// payments through a fault proxy address the suite will listen on, as an
// operator would start their service, and writes the env file that
// describes it. The shop is stopped when the spec ends.
func startExternalShop(ctx context.Context, dir, name, upAddr string, leaks, fixes []string, verify string) (*launch.Process, string) {
	GinkgoHelper()
	proxyAddr, err := ports.FreeAddr()
	Expect(err).NotTo(HaveOccurred())
	By(fmt.Sprintf("starting a %s shop (leaks %q, fixes %q) calling payments at %s", name, leaks, fixes, proxyAddr))
	args := append(slices.Clone(suitekit.DemoShopArgs), "--payments=http://"+proxyAddr,
		"--leaks="+strings.Join(leaks, ","), "--fixes="+strings.Join(fixes, ","))
	sh, err := launch.Start(ctx, bins.Shop, args, []string{"SHOP_LEAKS=", "SHOP_FIXES="}, launch.WithOutput(GinkgoWriter))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(sh.Stop)

	// The quiesce window outlasts the shop's 1 s idle timers (DemoShopArgs);
	// the settle deadline is the matrix's.
	env := filepath.Join(dir, name+".yaml")
	data := fmt.Sprintf(`target:
  url: %s
  pprof: %s
upstreams:
  - name: payments
    listen: %s
    forward: %s
    protocol: http
load:
  rate: 20
  requests: [{path: /checkout}]
verify:
  settle: %s
  quiesce: 1500ms
%s`, sh.URL, sh.Pprof, proxyAddr, upAddr, settle, verify)
	Expect(os.WriteFile(env, []byte(data), 0o644)).To(Succeed())
	_, err = suitekit.LoadEnv(env)
	Expect(err).NotTo(HaveOccurred(), "the env file must be valid")
	return sh, env
}

// startPayments starts the payments upstream as a process of its own and
// returns it with its address; it is stopped when the node's scope ends.
func startPayments(ctx context.Context) (*launch.Process, string) {
	GinkgoHelper()
	Expect(bins.Upstream).NotTo(BeEmpty(), "the payments upstream was not built")
	By("starting the payments upstream as a process of its own")
	up, err := launch.Start(ctx, bins.Upstream, nil, nil, launch.WithOutput(GinkgoWriter))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(up.Stop)
	u, err := url.Parse(up.URL)
	Expect(err).NotTo(HaveOccurred())
	return up, u.Host
}

// orders reads the shop's order counter from its /healthz.
func orders(ctx context.Context, sh *launch.Process) int64 {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sh.URL+"/healthz", nil)
	Expect(err).NotTo(HaveOccurred())
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	var h struct {
		Orders int64 `json:"orders"`
	}
	Expect(json.NewDecoder(resp.Body).Decode(&h)).To(Succeed())
	return h.Orders
}

// payments reads how many requests the upstream served.
func payments(ctx context.Context, up *launch.Process) int64 {
	GinkgoHelper()
	st, err := upstream.Controller{URL: up.Control}.State(ctx)
	Expect(err).NotTo(HaveOccurred())
	return st.Stats.Requests
}
