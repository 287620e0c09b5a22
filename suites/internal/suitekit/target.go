package suitekit

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/fixtures/launch"
	"github.com/aftershock/aftershock/fixtures/stack"
	"github.com/aftershock/aftershock/matchers"
)

// DefaultSettle is the settle deadline of the suites' own specs when
// neither --settle nor the env file's verify.settle sets one: a healthy
// service returns within a poll or two, a leaky one fails at the deadline.
const DefaultSettle = 15 * time.Second

// Target is the service the suites drill, with the upstream addresses its
// fault proxies use and the tolerances its verdicts apply.
type Target struct {
	// Name says what is drilled, for report entries and failure messages.
	Name string
	// URL is the service's base URL; Pprof its pprof base URL; Headers go
	// with every pprof request.
	URL, Pprof string
	Headers    map[string]string
	// Upstreams are where the service calls its upstreams (Listen, where a
	// fault proxy must run for it to reach them) and where they really are
	// (Forward).
	Upstreams []experiments.Upstream
	// Load is the steady load's request mix and rate.
	Load experiments.LoadSpec
	// SlowReadPath is the large or streaming response slow readers ask for.
	SlowReadPath string
	// Verify holds the tolerances; Settle is the settle deadline; Quiesce
	// how long the goroutine count must hold still before a baseline
	// (longer than the service's idle timers).
	Verify  experiments.Verify
	Settle  time.Duration
	Quiesce time.Duration
	// AllowHosts extends the blast-radius guard of drills.
	AllowHosts []string
	// Vars are the ${VAR} values Drill files are loaded with.
	Vars map[string]string

	// Demo is the demo stack, nil for a service named by an env file.
	Demo *stack.Stack
	// Leaks and Fixes are the demo shop's switches.
	Leaks, Fixes []string

	// warm tells that a Drive warmed the target up already.
	warm bool
}

// BuildShop builds the demo shop binary, once per suite: call it in the
// first function of SynchronizedBeforeSuite and hand its result to Start
// in every process. It builds nothing for an external target or when
// --shop-bin names a prebuilt binary.
func BuildShop() []byte {
	GinkgoHelper()
	if External() {
		return nil
	}
	if bin := setting(flags.shopBin, EnvShopBinary); bin != "" {
		path, err := ResolvePath(bin)
		Expect(err).NotTo(HaveOccurred(), "demo shop binary (%s)", EnvShopBinary)
		return []byte(path)
	}
	path, err := launch.Build(launch.ShopPackage)
	Expect(err).NotTo(HaveOccurred(), "build the demo shop")
	return []byte(path)
}

// CleanupBuild removes what BuildShop built; call it in the last function
// of SynchronizedAfterSuite.
func CleanupBuild() { launch.CleanupBuildArtifacts() }

// Start selects the target in this Ginkgo process: it loads the env file,
// or starts a demo stack of its own (every parallel process drills its own
// demo, so parallel specs never share a service) and stops it when the
// suite ends.
func Start(ctx context.Context, shopBin []byte) *Target {
	GinkgoHelper()
	var t *Target
	if file := TargetFile(); file != "" {
		path, err := ResolvePath(file)
		Expect(err).NotTo(HaveOccurred(), "env file (%s / --target)", EnvTarget)
		env, err := LoadEnv(path)
		if err != nil {
			Fail(fmt.Sprintf("env file (%s / --target):\n%v", EnvTarget, err))
		}
		t = fromEnv(env)
	} else {
		t = startDemo(ctx, string(shopBin))
	}
	if p := setting(flags.slowRead, EnvSlowRead); p != "" {
		Expect(p).To(HavePrefix("/"), "slow-read path (%s / --slow-read-path) must be absolute", EnvSlowRead)
		t.SlowReadPath = p
	}
	if s := setting(flags.settle, EnvSettle); s != "" {
		d, err := time.ParseDuration(s)
		Expect(err).NotTo(HaveOccurred(), "settle deadline (%s / --settle)", EnvSettle)
		t.Settle = d
	}
	fmt.Fprintf(GinkgoWriter, "aftershock: drilling %s at %s (pprof %s)\n", t.Name, t.URL, t.Pprof)
	return t
}

// fromEnv makes the target of an env file.
func fromEnv(env *Env) *Target {
	t := &Target{
		Name: "the service of " + env.File, URL: env.Target.URL, Pprof: env.Target.Pprof, Headers: env.Target.Headers,
		Upstreams: env.Upstreams, Verify: env.Verify, Settle: DefaultSettle, AllowHosts: env.AllowHosts,
		Load: experiments.LoadSpec{Rate: 20, Timeout: experiments.D(5 * time.Second), Requests: []experiments.Request{{Method: "GET", Path: "/"}}},
	}
	if env.Written["verify.settle"] {
		t.Settle = env.Verify.Settle.Duration
	}
	t.Quiesce = cmp.Or(env.Verify.Quiesce.Duration, experiments.DefaultQuiesce)
	if env.Load != nil {
		t.Load = *env.Load
		if t.Load.Timeout.Duration == 0 {
			t.Load.Timeout = experiments.D(5 * time.Second)
		}
	}
	t.SlowReadPath = t.Load.Requests[0].Path
	t.Vars = map[string]string{
		"TARGET_URL": t.URL, "TARGET_PPROF": t.Pprof,
		// The names the shipped drills use, so they run against it too.
		experiments.VarShopURL: t.URL, experiments.VarShopPprof: t.Pprof,
	}
	for _, u := range t.Upstreams {
		name := strings.ToUpper(strings.ReplaceAll(u.Name, "-", "_"))
		t.Vars[name+"_PROXY"], t.Vars[name+"_ADDR"] = u.Listen, u.Forward
	}
	return t
}

// External tells whether the target is a running service named by an env
// file.
func (t *Target) External() bool { return t.Demo == nil }

// Upstream is the upstream the suites' upstream faults act on: the one
// named payments, else the first one declared. Specs that need one are
// skipped when the target declares none.
func (t *Target) Upstream() experiments.Upstream {
	GinkgoHelper()
	if len(t.Upstreams) == 0 {
		Skip(t.Name + " declares no upstreams: upstream faults need one")
	}
	for _, u := range t.Upstreams {
		if u.Name == "payments" {
			return u
		}
	}
	return t.Upstreams[0]
}

// HasFix tells whether the demo runs with a fix on. For an external target
// it is always true: its behaviour is what the specs find out.
func (t *Target) HasFix(fix string) bool {
	return t.External() || slices.Contains(t.Fixes, fix)
}

// RequireFix skips the current spec when the demo runs without fix: the
// spec asserts what the fix delivers (a breaker that opens), and the leak
// runs turn fixes off on purpose.
func (t *Target) RequireFix(fix string) {
	GinkgoHelper()
	if !t.HasFix(fix) {
		Skip(fmt.Sprintf("the demo runs without the %s fix (fixes: %s)", fix, strings.Join(t.Fixes, ",")))
	}
}

// MatcherOptions are the tolerances of the target's verdicts, as matcher
// options: the env file's verify block (a Drill's defaults), or the
// matchers' own defaults for the demo.
func (t *Target) MatcherOptions() []matchers.Option {
	v := t.Verify
	opts := []matchers.Option{
		matchers.MaxExtraGoroutines(v.Goroutines.MaxExtra),
		matchers.MaxExtraConnections(v.Connections.MaxExtra),
	}
	if t.External() {
		opts = append(opts, matchers.MaxExtraIdleConnections(v.Connections.MaxIdleExtra))
		if g := v.Heap.MaxGrowth; !g.IsZero() {
			opts = append(opts, matchers.MaxHeapGrowth(g.Bytes.Bytes))
			ratio := 0.0
			if g.Percent != nil {
				ratio = g.Percent.Fraction()
			}
			opts = append(opts, matchers.MaxHeapGrowthRatio(ratio))
		}
	}
	if len(v.Ignore) > 0 {
		var fs []any
		for _, p := range v.Ignore {
			fs = append(fs, p)
		}
		opts = append(opts, matchers.Ignoring(fs...))
	}
	return opts
}

// Describe is the target for report entries: its name, URL and pprof.
func (t *Target) Describe() string {
	return fmt.Sprintf("%s: %s (pprof %s)", t.Name, t.URL, t.Pprof)
}

// VarNames lists the ${VAR} names the target supplies to Drill files.
func (t *Target) VarNames() []string { return slices.Sorted(maps.Keys(t.Vars)) }

// TargetDecorators are the decorators of every container that drills the
// target: Serial for an external target, which every Ginkgo process would
// otherwise drill at once (and whose proxy addresses only one process can
// listen on); none for the demo, of which every process runs its own.
func TargetDecorators() []any {
	if External() {
		return []any{Serial}
	}
	return nil
}
