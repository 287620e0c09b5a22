package suitekit

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/fixtures/launch"
	"github.com/aftershock/aftershock/fixtures/stack"
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

	// Demo is the demo stack, GRPCDemo the gRPC demo stack; both are nil
	// for a service named by an env file.
	Demo     *stack.Stack
	GRPCDemo *stack.GRPCStack
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
	return start(ctx, forHTTP, func() *Target { return startDemo(ctx, string(shopBin)) })
}

// suiteProtocol is which services a suite drills.
type suiteProtocol int

const (
	forHTTP suiteProtocol = iota // the HTTP fault suites
	forGRPC                      // suites/grpc
	forAny                       // suites/drills: the drill files say
)

// deprecatedOnce prints an old env file's warning once per process.
var deprecatedOnce sync.Once

// start selects the target: the env file's service, else the demo
// startDemo starts. A suite for the other protocol skips: one env file
// names one service, and a pipeline runs every suite against it.
func start(ctx context.Context, proto suiteProtocol, startDemo func() *Target) *Target {
	GinkgoHelper()
	var t *Target
	if file := TargetFile(); file != "" {
		path, err := ResolvePath(file)
		Expect(err).NotTo(HaveOccurred(), "env file (%s / --target)", EnvTarget)
		env, err := LoadEnv(path)
		if err != nil {
			Fail(fmt.Sprintf("env file (%s / --target):\n%v", EnvTarget, err))
		}
		if env.Deprecated != "" {
			deprecatedOnce.Do(func() { fmt.Fprintln(os.Stderr, "aftershock: warning: "+env.Deprecated) })
		}
		if why := otherProtocol(proto, path, env.Target); why != "" {
			// Ginkgo shows a skip's reason only when verbose: say it
			// where a pipeline's log shows it.
			fmt.Fprintln(os.Stderr, "aftershock: "+why)
			Skip(why)
		}
		t, err = fromEnv(env)
		if err != nil {
			Fail(fmt.Sprintf("env file (%s / --target): %v", EnvTarget, err))
		}
	} else {
		t = startDemo()
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

// otherProtocol says why a suite for proto skips the env file's target,
// "" when it drills it.
func otherProtocol(proto suiteProtocol, file string, t experiments.Target) string {
	switch {
	case t.IsGRPC() && proto == forHTTP:
		return fmt.Sprintf("skipped: the target of %s is a gRPC service (%s); this suite drills HTTP services, suites/grpc and suites/drills drill it", file, t.URL)
	case !t.IsGRPC() && proto == forGRPC:
		return fmt.Sprintf("skipped: the target of %s is an HTTP service (%s); this suite drills gRPC services (a grpc://host:port target)", file, t.URL)
	}
	return ""
}

// fromEnv makes the target of an env file.
func fromEnv(env *Env) (*Target, error) {
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
	if env.Target.IsGRPC() && len(t.Load.GRPC) == 0 {
		return nil, fmt.Errorf("%s: the target %s is gRPC: write load.grpc, the methods the steady load calls (e.g. [{method: /pkg.Service/Method, message: '{}'}])", env.File, t.URL)
	}
	if len(t.Load.Requests) > 0 {
		t.SlowReadPath = t.Load.Requests[0].Path
	}
	t.Vars = map[string]string{
		"TARGET_URL": t.URL, "TARGET_PPROF": t.Pprof,
		// The names the shipped drills use, so they run against it too.
		experiments.VarShopURL: t.URL, experiments.VarShopPprof: t.Pprof,
		experiments.VarGRPCURL: t.URL, experiments.VarGRPCPprof: t.Pprof,
	}
	for _, u := range t.Upstreams {
		name := strings.ToUpper(strings.ReplaceAll(u.Name, "-", "_"))
		t.Vars[name+"_PROXY"], t.Vars[name+"_ADDR"] = u.Listen, u.Forward
	}
	return t, nil
}

// External tells whether the target is a running service named by an env
// file.
func (t *Target) External() bool { return t.Demo == nil && t.GRPCDemo == nil }

// Drill composes the drill of one fault against the target: the target's
// address, upstreams, load and verify block (tolerances, settle, quiesce
// and the SLOs it declares), the warmup, and the fault block, written as
// a Drill file writes it. ${UPSTREAM} in the block names the target's
// upstream (see Upstream). The drill is loaded as strictly as a Drill
// file; it is returned with its YAML, which runs as it is through
// `aftershock drill`.
func (t *Target) Drill(fault string, warmup time.Duration) (*experiments.Drill, []byte, error) {
	var block map[string]any
	fault = strings.ReplaceAll(fault, "${UPSTREAM}", t.upstreamName())
	if err := yaml.Unmarshal([]byte(fault), &block); err != nil {
		return nil, nil, fmt.Errorf("fault block: %w\n%s", err, fault)
	}
	name, _ := block["name"].(string)
	v := t.Verify
	v.Settle = experiments.D(t.Settle)
	v.Quiesce = experiments.D(t.Quiesce)
	spec := map[string]any{}
	for key, val := range map[string]any{
		"target":    experiments.Target{URL: t.URL, Pprof: t.Pprof, Headers: t.Headers},
		"upstreams": t.Upstreams,
		"load":      t.Load,
		"verify":    v,
	} {
		b, err := yaml.Marshal(val)
		if err != nil {
			return nil, nil, fmt.Errorf("drill of %s: %s: %w", t.Name, key, err)
		}
		var m any
		if err := yaml.Unmarshal(b, &m); err != nil {
			return nil, nil, fmt.Errorf("drill of %s: %s: %w", t.Name, key, err)
		}
		spec[key] = m
	}
	if len(t.Upstreams) == 0 {
		delete(spec, "upstreams")
	}
	if warmup > 0 {
		spec["warmup"] = warmup.String()
	}
	if len(t.AllowHosts) > 0 {
		spec["allowHosts"] = t.AllowHosts
	}
	spec["faults"] = []any{block}
	doc, err := yaml.Marshal(map[string]any{
		"apiVersion": experiments.APIVersion, "kind": "Drill",
		"metadata": map[string]any{"name": name}, "spec": spec,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("drill of %s: %w", t.Name, err)
	}
	d, err := experiments.Parse(name+".yaml", doc)
	if err != nil {
		return nil, doc, fmt.Errorf("%w\nthe drill:\n%s", err, doc)
	}
	return d, doc, nil
}

// upstreamName is the upstream ${UPSTREAM} names: payments, else the first
// one declared ("" when there is none: a fault on it fails to load,
// naming the problem).
func (t *Target) upstreamName() string {
	for _, u := range t.Upstreams {
		if u.Name == "payments" {
			return u.Name
		}
	}
	if len(t.Upstreams) > 0 {
		return t.Upstreams[0].Name
	}
	return ""
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
