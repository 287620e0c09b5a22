package experiments

import (
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/aftershock/aftershock/injectors/stall"
	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
)

// APIVersion and Kind identify a Drill file.
const (
	APIVersion = "aftershock.dev/v1alpha1"
	Kind       = "Drill"
	// KindTarget is a Drill file without faults: a service, its upstreams,
	// its load and what must hold, for the suites (which bring their own
	// faults) and any tool that drills it. Loaded WithoutFaults or
	// ForChecking, by the same loader.
	KindTarget = "Target"
)

// Drill is one chaos drill: a target, the fault proxies in front of its
// upstreams, steady load, the faults to inject one after another, and what
// must hold afterwards. Its YAML form is the contract the README documents.
type Drill struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`

	// File is where the drill was loaded from ("" when parsed from memory
	// without a name); problems found later (the blast-radius guard) cite it.
	File string `json:"-"`

	// Placeholders lists the fields whose unset ${NAME}s were stood in for
	// when the drill was loaded ForChecking; those fields are checked where
	// the drill runs.
	Placeholders []string `json:"-"`

	// pos maps field paths to where they were written, so that checks made
	// after loading can still cite file:line:col.
	pos positions
}

// Metadata names the drill. Namespace and labels are used only by the
// cluster engine, for the Chaos Mesh objects it creates.
type Metadata struct {
	// Name is required and must be a DNS-1123 label: it names journals,
	// artifacts and Chaos Mesh objects.
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Spec is the body of a drill.
type Spec struct {
	Target    Target     `json:"target"`
	Upstreams []Upstream `json:"upstreams,omitempty"`
	// Load is the steady traffic sent to the target during every phase;
	// nil means no load (then SLO checks are not possible).
	Load *LoadSpec `json:"load,omitempty"`
	// Warmup is how long load runs before the baseline is taken.
	Warmup Duration `json:"warmup,omitzero"`
	// Faults run one after another, except those that overlap an earlier
	// one (Fault.Overlap); at least one is required.
	Faults []Fault `json:"faults"`
	Verify Verify  `json:"verify,omitzero"`
	// AllowHosts extends the blast-radius guard: by default every target
	// and upstream address must be loopback. Entries are host names,
	// IP addresses or CIDR ranges; ${VAR} is expanded.
	AllowHosts []string `json:"allowHosts,omitempty"`
	// Cluster names the cluster the faults on engine chaos-mesh go to.
	Cluster *Cluster `json:"cluster,omitempty"`
}

// Cluster names the one cluster a drill's Chaos Mesh faults may be
// submitted to: aftershock never submits to whatever kube context happens
// to be current.
type Cluster struct {
	// Context is the kubeconfig context, or "in-cluster" for the service
	// account of the pod aftershock runs in (a CronJob); `--context`
	// overrides it.
	Context string `json:"context,omitempty"`
	// Server, when set, must be the API server's URL of that context: a
	// second check that the context points where the drill means.
	Server string `json:"server,omitempty"`
}

// Target is the service under test.
type Target struct {
	// URL is the base URL of the service (required): http(s)://host:port,
	// or grpc://host:port for a gRPC service (its pprof is then required);
	// ${VAR} is expanded.
	URL string `json:"url"`
	// Pprof is the pprof base URL; after loading it is never empty
	// (default <url>/debug/pprof), unless Replicas are listed. ${VAR} is
	// expanded.
	Pprof string `json:"pprof,omitempty"`
	// Headers are sent with every pprof request (e.g. a bearer token);
	// ${VAR} is expanded in the values.
	Headers map[string]string `json:"headers,omitempty"`
	// Pods are the target's replicas as pods of the drill's cluster,
	// found through its API server (see PodsTarget); Pprof is then
	// empty: each pod's pprof is read on its own.
	Pods *PodsTarget `json:"pods,omitempty"`
	// Replicas are the processes behind URL (a balancer, a Service), each
	// baselined, settled and judged on its own through its own pprof; the
	// load still goes to URL. With replicas, Pprof is neither written nor
	// derived from URL: it would read the balancer's pprof.
	Replicas []Replica `json:"replicas,omitempty"`
}

// Replica is one process of the target, judged on its own.
type Replica struct {
	// Name names it in every finding (required, unique, a DNS-1123
	// label: a pod's name fits).
	Name string `json:"name"`
	// Pprof is its pprof base URL (required). ${VAR} is expanded.
	Pprof string `json:"pprof"`
	// Headers are sent with its pprof requests, over the target's
	// headers; ${VAR} is expanded in the values.
	Headers map[string]string `json:"headers,omitempty"`
}

// Protocol is what an upstream speaks; it decides which fault kinds apply.
type Protocol string

// Protocols.
const (
	// ProtocolTCP allows networkChaos faults only (the default).
	ProtocolTCP Protocol = "tcp"
	// ProtocolHTTP also allows httpChaos faults (HTTP/1.1).
	ProtocolHTTP Protocol = "http"
	// ProtocolH2C is HTTP/2 without TLS: httpChaos per stream.
	ProtocolH2C Protocol = "h2c"
	// ProtocolGRPC is gRPC on a plaintext port: httpChaos per stream and
	// grpcChaos per call.
	ProtocolGRPC Protocol = "grpc"
)

// GRPCScheme starts the URL of a gRPC target, grpc://host:port.
const GRPCScheme = "grpc://"

// IsGRPC tells a gRPC target: its URL is grpc://host:port.
func (t Target) IsGRPC() bool { return strings.HasPrefix(t.URL, GRPCScheme) }

// SpeaksHTTP tells a protocol whose proxy parses HTTP and takes httpChaos.
func (p Protocol) SpeaksHTTP() bool {
	return p == ProtocolHTTP || p == ProtocolH2C || p == ProtocolGRPC
}

// HTTP2 tells a protocol that runs on the HTTP/2 fault proxy.
func (p Protocol) HTTP2() bool { return p == ProtocolH2C || p == ProtocolGRPC }

// Engine is the mechanism that injects a fault.
type Engine string

// Engines.
const (
	// EngineProxy is the userspace fault proxy at the upstream's listen
	// address, forwarding to its forward address (the default).
	EngineProxy Engine = "proxy"
	// EngineNetns applies kernel faults (tc/nftables) in network
	// namespaces; it needs root.
	EngineNetns Engine = "netns"
	// EngineChaosMesh submits the Chaos Mesh objects as written to a
	// cluster; selector and mode are then required.
	EngineChaosMesh Engine = "chaos-mesh"
)

// Upstream is a dependency of the target that the target is configured to
// call through a fault proxy: the target calls Listen, the proxy forwards to
// Forward.
type Upstream struct {
	// Name is a DNS-1123 label that faults refer to.
	Name string `json:"name"`
	// Listen is the host:port the proxy listens on; ${VAR} is expanded.
	Listen string `json:"listen,omitempty"`
	// Forward is the host:port of the real upstream; ${VAR} is expanded.
	Forward string `json:"forward,omitempty"`
	// Protocol is what the proxy understands: tcp (the default), http,
	// h2c or grpc; after loading it is never empty.
	Protocol Protocol `json:"protocol,omitempty"`
	// Engine is proxy (the default), netns or chaos-mesh; after loading
	// never empty.
	Engine Engine `json:"engine,omitempty"`
}

// LoadSpec is steady traffic at a fixed rate, cycling through Requests.
type LoadSpec struct {
	// Rate is requests (or calls) per second, > 0.
	Rate int `json:"rate"`
	// Timeout bounds each request; zero lets the runner choose.
	Timeout Duration `json:"timeout,omitzero"`
	// Requests are the HTTP requests of the load mix, sent round-robin.
	Requests []Request `json:"requests,omitempty"`
	// GRPC are the gRPC calls of the load mix instead, made round-robin,
	// on a target of scheme grpc://.
	GRPC []GRPCLoad `json:"grpc,omitempty"`
}

// GRPCLoad is one gRPC call of a steady load: a unary method, or a
// server-streaming one read to its end.
type GRPCLoad struct {
	// Method is the full method name, /package.Service/Method.
	Method string `json:"method"`
	// Message is the request in protobuf's JSON form (default {}).
	Message string `json:"message,omitempty"`
	// DescriptorSet is a FileDescriptorSet file with the method's types;
	// without one they are read from the server's reflection service.
	DescriptorSet string `json:"descriptorSet,omitempty"`
	// Metadata is sent with every call.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Request is one request of the load mix, sent to the target.
type Request struct {
	// Method defaults to GET.
	Method string `json:"method,omitempty"`
	// Path is absolute ("/checkout?x=1").
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
}

// Fault is one fault, held for Duration under load. Exactly one of
// NetworkChaos, HTTPChaos, GRPCChaos and StalledClients is set.
type Fault struct {
	// Name is a DNS-1123 label, unique within the drill.
	Name string `json:"name"`
	// Upstream names the upstream a networkChaos or httpChaos fault acts
	// on; stalledClients act on the target and name none.
	Upstream string `json:"upstream,omitempty"`
	// Duration is how long the fault is held (required, > 0). It is also
	// the lease: the fault removes itself if the runner disappears.
	Duration Duration `json:"duration"`
	// Engine overrides the upstream's engine for this fault.
	Engine Engine `json:"engine,omitempty"`
	// Overlap holds this fault together with an earlier one instead of
	// after it: see Overlap.
	Overlap *Overlap `json:"overlap,omitempty"`

	// NetworkChaos is a Chaos Mesh NetworkChaosSpec, as Chaos Mesh spells
	// it. Locally, the upstream stands for the selected pods and target:
	// selector, mode, value, target, externalTargets, device, targetDevice
	// and remoteCluster address pods in a cluster and are used only by the
	// cluster engine; direction reads with the upstream as the selected
	// side (to = upstream → target, the default; from; both).
	NetworkChaos *v1alpha1.NetworkChaosSpec `json:"networkChaos,omitempty"`
	// HTTPChaos is a Chaos Mesh HTTPChaosSpec, as Chaos Mesh spells it
	// (replace.body is base64, as in any Kubernetes manifest). Locally,
	// selector/mode/value are cluster-only and port, when set, must be the
	// upstream's forward port.
	HTTPChaos *v1alpha1.HTTPChaosSpec `json:"httpChaos,omitempty"`
	// GRPCChaos faults gRPC calls, one call at a time, on an upstream of
	// protocol grpc: aftershock's own block, since Chaos Mesh has none.
	GRPCChaos *GRPCChaos `json:"grpcChaos,omitempty"`
	// StalledClients are misbehaving clients of the target.
	StalledClients *StalledClients `json:"stalledClients,omitempty"`
}

// Overlap injects a fault while an earlier fault of the drill is held:
// After its With fault took effect, and while it is still held. The faults
// held together form one episode, named after its first fault: the load
// leads into it, each fault is injected at its offset and cleared when its
// own duration ends, and when the last is cleared the episode recovers,
// settles and is judged once. A leak found after an episode is the
// episode's: which of the faults held together caused it cannot be told
// from the snapshots, and is what a schedule search shrinks (aftershock
// explore). The SLOs are judged over the episode's window, from its first
// fault taking effect to its last one's clear; the breaker's over the
// window of the first of its faults that makes calls fail.
type Overlap struct {
	// With names an earlier fault of the drill (required).
	With string `json:"with"`
	// After is how long after With took effect this fault is injected
	// (default 0: at once); it must be shorter than With's duration.
	After Duration `json:"after,omitzero"`
}

// Episode is faults held together: Faults[0] leads and names it, the
// others overlap it (directly or through each other). Offsets are when
// each is injected after the first took effect, as planned.
type Episode struct {
	Faults  []*Fault
	Offsets []time.Duration
}

// Name is the episode's name: its first fault's.
func (e Episode) Name() string { return e.Faults[0].Name }

// End is when, after the first fault took effect, the last fault of the
// episode is planned to be cleared.
func (e Episode) End() time.Duration {
	var end time.Duration
	for i, f := range e.Faults {
		end = max(end, e.Offsets[i]+f.Duration.Duration)
	}
	return end
}

// A confirmation cycle (see Verify.Cycles) holds an episode
// ConfirmStretch times as long as the first cycle, and at most
// MaxStretchExtra longer: what a healthy service moves by in a cycle
// (redialled connections, pooled buffers, retry state) does not grow with
// the hold, where a leak grows with every request the fault fails, so
// the longer hold tells the two apart by more (docs/slow-leaks.md).
const (
	ConfirmStretch  = 3
	MaxStretchExtra = 30 * time.Second
)

// Stretched is the episode as a confirmation cycle holds it: its faults'
// durations, overlap offsets and offsets scaled by ConfirmStretch,
// bounded by MaxStretchExtra. The faults are copies.
func (e Episode) Stretched() Episode {
	end := e.End()
	if end <= 0 {
		return e
	}
	k := min(float64(ConfirmStretch), float64(end+MaxStretchExtra)/float64(end))
	scale := func(d time.Duration) time.Duration { return time.Duration(float64(d) * k) }
	out := Episode{Offsets: make([]time.Duration, len(e.Offsets))}
	for i, f := range e.Faults {
		g := *f
		g.Duration.Duration = scale(f.Duration.Duration)
		if f.Overlap != nil {
			o := *f.Overlap
			o.After.Duration = scale(o.After.Duration)
			g.Overlap = &o
		}
		out.Faults = append(out.Faults, &g)
		out.Offsets[i] = scale(e.Offsets[i])
	}
	return out
}

// Episodes groups the drill's faults into episodes, in the order of their
// first faults: a fault without overlap starts one, a fault with one joins
// its With fault's. The drill must be valid (every With names an earlier
// fault).
func (d *Drill) Episodes() []Episode {
	var eps []Episode
	where := map[string][2]int{} // fault → episode, index in it
	for i := range d.Spec.Faults {
		f := &d.Spec.Faults[i]
		if f.Overlap == nil {
			where[f.Name] = [2]int{len(eps), 0}
			eps = append(eps, Episode{Faults: []*Fault{f}, Offsets: []time.Duration{0}})
			continue
		}
		w, ok := where[f.Overlap.With]
		if !ok {
			continue // invalid; validation reports it
		}
		e := &eps[w[0]]
		where[f.Name] = [2]int{w[0], len(e.Faults)}
		e.Faults = append(e.Faults, f)
		e.Offsets = append(e.Offsets, e.Offsets[w[1]]+f.Overlap.After.Duration)
	}
	return eps
}

// Episode returns the episode that fault name is in, and whether there is
// such a fault.
func (d *Drill) Episode(name string) (Episode, bool) {
	for _, e := range d.Episodes() {
		for _, f := range e.Faults {
			if f.Name == name {
				return e, true
			}
		}
	}
	return Episode{}, false
}

// GRPCChaos is a fault on gRPC calls, applied per call (per HTTP/2
// stream) by the proxy of an upstream of protocol grpc: the other calls on
// a connection are left alone. Chaos Mesh has no such fault (its HTTPChaos
// speaks HTTP/1 only, chaos-mesh#2611), so this block is aftershock's own,
// spelled as Chaos Mesh spells its blocks, and runs on engine proxy only.
type GRPCChaos struct {
	// Methods selects calls by full method name,
	// "/package.Service/Method" ("*" matches any run of characters);
	// none selects every call.
	Methods []string `json:"methods,omitempty"`
	// ExcludedMethods are never selected.
	ExcludedMethods []string `json:"excludedMethods,omitempty"`
	// Percent is the share of the selected calls acted on (default 100%);
	// the share is exact, not a coin toss per call.
	Percent *Percent `json:"percent,omitempty"`
	// Abort ends each call with a status, as a trailers-only response.
	Abort *GRPCAbort `json:"abort,omitempty"`
	// Delay holds each call before it goes on (or is aborted).
	Delay *GRPCDelay `json:"delay,omitempty"`
	// Reset resets each call's stream (RST_STREAM).
	Reset bool `json:"reset,omitempty"`
}

// GRPCAbort is the status an aborted call gets.
type GRPCAbort struct {
	// Code is a gRPC status code by name: Unavailable, DeadlineExceeded,
	// ResourceExhausted, … (UNAVAILABLE is read too).
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

// GRPCDelay holds a call for Latency, ± up to Jitter.
type GRPCDelay struct {
	Latency Duration `json:"latency"`
	Jitter  Duration `json:"jitter,omitzero"`
}

// StallMode is how a stalled client misbehaves; the values are
// injectors/stall's modes.
type StallMode = stall.Mode

// Stall modes.
const (
	// StallSlowloris trickles request headers, never finishing them.
	StallSlowloris = stall.Slowloris
	// StallSlowRead sends a whole request and reads the response a
	// trickle at a time through a tiny receive window.
	StallSlowRead = stall.SlowRead
	// StallIdle opens connections and sends nothing.
	StallIdle = stall.Idle
	// StallAbandon sends whole requests and hangs up before the answer,
	// at a bounded rate: handlers that ignore cancellation leak.
	StallAbandon = stall.Abandon
)

// MaxStalledClients bounds StalledClients.Count (injectors/stall's bound).
const MaxStalledClients = stall.MaxCount

// StalledClients is a crowd of misbehaving clients of the target. The
// fields are injectors/stall's Config as a Drill file spells it, and are
// checked by its Validate: a field the mode does not use is an error.
// Zero fields take stall's defaults.
type StalledClients struct {
	// Mode is slowloris, slow-read, idle or abandon (required).
	Mode StallMode `json:"mode"`
	// Count is how many clients stall at once, 1..MaxStalledClients; for
	// abandon, the requests in flight at once.
	Count int `json:"count"`
	// Path is the request path, query allowed (default /).
	Path string `json:"path,omitempty"`
	// Method is the request method (default GET).
	Method  string            `json:"method,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Interval paces the trickle (slowloris: between header chunks;
	// slow-read: between reads; reconnect: before reconnecting).
	Interval Duration `json:"interval,omitzero"`
	// ChunkSize is the bytes sent (slowloris) or read (slow-read) per
	// Interval.
	ChunkSize int `json:"chunkSize,omitempty"`
	// RecvBuffer is slow-read's socket receive buffer ("1KiB").
	RecvBuffer Size `json:"recvBuffer,omitzero"`
	// KeepAliveRequest makes idle clients finish one keep-alive exchange
	// before holding the connection.
	KeepAliveRequest bool `json:"keepAliveRequest,omitempty"`
	// Rate is abandon's requests per second over all clients.
	Rate float64 `json:"rate,omitempty"`
	// AbandonAfter is how long abandon leaves a request in flight.
	AbandonAfter Duration `json:"abandonAfter,omitzero"`
	// Reconnect makes slowloris, slow-read and idle clients come back
	// when the server closes them.
	Reconnect   bool     `json:"reconnect,omitempty"`
	DialTimeout Duration `json:"dialTimeout,omitzero"`
	// DialConcurrency bounds the connects in progress while clients open.
	DialConcurrency int `json:"dialConcurrency,omitempty"`
}

// Config returns the stalled clients as injectors/stall's configuration.
func (s *StalledClients) Config() stall.Config {
	var h http.Header
	if len(s.Headers) > 0 {
		h = http.Header{}
		for k, v := range s.Headers {
			h.Set(k, v)
		}
	}
	return stall.Config{
		Mode:             s.Mode,
		Count:            s.Count,
		Path:             s.Path,
		Method:           s.Method,
		Headers:          h,
		Interval:         s.Interval.Duration,
		ChunkSize:        s.ChunkSize,
		RecvBuffer:       int(min(s.RecvBuffer.Bytes, math.MaxInt32)),
		KeepAliveRequest: s.KeepAliveRequest,
		Rate:             s.Rate,
		AbandonAfter:     s.AbandonAfter.Duration,
		Reconnect:        s.Reconnect,
		DialTimeout:      s.DialTimeout.Duration,
		DialConcurrency:  s.DialConcurrency,
	}
}

// DefaultSettle is the settle deadline when verify.settle is not given.
const DefaultSettle = 30 * time.Second

// MaxCycles bounds verify.cycles (and --cycles): each cycle holds the
// fault again, with its lead, recovery and settle.
const MaxCycles = 10

// DefaultQuiesce is how long the goroutine count must hold still before
// the baseline, unless the drill says otherwise (verify.quiesce).
const DefaultQuiesce = 3 * time.Second

// DefaultVerify is the verify block of a drill that writes none: settle
// deadline DefaultSettle, +0 goroutines per group and connections per
// class, the idle allowance measured, heap +max(1 MiB, 10 %).
func DefaultVerify() Verify {
	return Verify{Settle: D(DefaultSettle), Heap: HeapTolerance{MaxGrowth: DefaultHeapGrowth()}}
}

// Verify says what must hold after the faults are cleared, and during them.
type Verify struct {
	// Settle is the deadline for returning to baseline (default 30s);
	// the verdict passes as soon as everything is within tolerance.
	Settle Duration `json:"settle,omitzero"`
	// Quiesce is how long the target's goroutine count must hold still
	// before the baseline is taken (default DefaultQuiesce). Make it longer
	// than the service's longest idle timer (worker pools, connection
	// pools), or a baseline taken mid-wind-down hides leaks of that kind.
	Quiesce     Duration            `json:"quiesce,omitzero"`
	Goroutines  GoroutineTolerance  `json:"goroutines,omitzero"`
	Connections ConnectionTolerance `json:"connections,omitzero"`
	// Heap is always written out: a zero growth, written, allows none.
	Heap HeapTolerance `json:"heap"`
	// Cycles is how many times each fault is held, one cycle after the
	// other, each judged against where the last left the heap; every
	// cycle after the first is held three times as long (at most 30 s
	// longer). 0: once, and, when the heap grew above its noise floor
	// but within tolerance, once more to confirm it, and a third time
	// when that cycle grew again; 1: once, never confirmed. A slow leak
	// grows in every cycle in proportion to the requests the fault
	// failed; a cache that fills once grows in the first only. At most
	// MaxCycles.
	Cycles int `json:"cycles,omitempty"`
	// Ignore lists goroutine functions never counted as leaks, gleak
	// style: "pkg.Func", "pkg.Func..." (prefix), "pkg.Func [chan receive]".
	Ignore []string `json:"ignore,omitempty"`
	SLO    *SLO     `json:"slo,omitempty"`
}

// GoroutineTolerance bounds goroutine growth over the baseline.
type GoroutineTolerance struct {
	// MaxExtra is the growth allowed per goroutine group (default 0).
	MaxExtra int `json:"maxExtra"`
}

// ConnectionTolerance bounds connection growth over the baseline.
type ConnectionTolerance struct {
	// MaxExtra is the growth allowed per connection class (default 0),
	// for every class except idle pooled client connections.
	MaxExtra int `json:"maxExtra"`
	// MaxIdleExtra is the growth allowed in HTTP/1 client connections
	// parked idle in a transport pool — healthy, they close at the pool's
	// idle timeout. Unset, it is what the target pools: the most HTTP/1
	// client connections it held under the steady load before the first
	// fault, less those of its baseline, and at least net/http's default
	// of 2 idle connections per host.
	MaxIdleExtra *int `json:"maxIdleExtra,omitempty"`
}

// HeapTolerance bounds heap growth over the baseline.
type HeapTolerance struct {
	// MaxGrowth is the allowed post-GC HeapAlloc growth; default
	// max(1MiB, 10%).
	MaxGrowth Growth `json:"maxGrowth"`
}

// SLO is what the service declares it delivers while faults are held and
// after they clear. Nothing is asserted that is not declared: a service
// with timeouts and no circuit breaker declares no breaker.
type SLO struct {
	// DuringFault bounds the steady load's latency and errors while any
	// fault is in effect (fail fast: the service's own deadlines answer
	// before the fault would).
	DuringFault *FaultSLO `json:"duringFault,omitempty"`
	// Isolation bounds the same while clients misbehave (stalledClients
	// faults): the other clients do not pay for them.
	Isolation *FaultSLO `json:"isolation,omitempty"`
	// Breaker says that a failing upstream is cut off (faults on an
	// upstream).
	Breaker *BreakerSLO `json:"breaker,omitempty"`
	// Recovery says how soon after the clear the service serves again.
	Recovery *RecoverySLO `json:"recovery,omitempty"`
}

// FaultSLO bounds latency and errors of the steady load over a fault's
// window, from the moment the fault is in effect to the moment it is
// cleared; zero latency bounds and a nil ErrorRate are not checked.
type FaultSLO struct {
	P50 Duration `json:"p50,omitzero"`
	P95 Duration `json:"p95,omitzero"`
	P99 Duration `json:"p99,omitzero"`
	Max Duration `json:"max,omitzero"`
	// ErrorRate is the highest share of failed requests allowed.
	ErrorRate *Percent `json:"errorRate,omitempty"`
}

// BreakerSLO is a circuit breaker's promise for the faults that make the
// calls to an upstream fail: within OpensWithin of such a fault taking
// effect the breaker is open, and from then until the clear the service
// stops waiting on the upstream (every slice of the load's timeline has
// its p50 under P50) and stops calling it (at most MaxCallShare of the
// load's requests reach the upstream, counted at its fault proxy).
//
// Which faults make calls fail: partitions; a loss of 100 %; HTTP aborts
// and replies replaced by a 5xx code; and delays of at least CallTimeout,
// the service's own deadline on its calls (without CallTimeout, no delay
// counts: a late answer within the deadline is a success, and a breaker
// has nothing to open for). Other faults are not judged against it. A
// fault whose httpChaos selects only some calls (a method, a path) still
// counts: declare the breaker of a service whose calls the fault selects.
type BreakerSLO struct {
	OpensWithin Duration `json:"opensWithin"`
	P50         Duration `json:"p50,omitzero"`
	// MaxCallShare needs the calls counted: an upstream of protocol http
	// on the proxy engine.
	MaxCallShare *Percent `json:"maxCallShare,omitempty"`
	CallTimeout  Duration `json:"callTimeout,omitzero"`
}

// FailsCalls tells whether fault f makes the calls to its upstream fail,
// so that breaker b must open for it (see BreakerSLO).
func (b *BreakerSLO) FailsCalls(f *Fault) bool {
	if f.Upstream == "" {
		return false
	}
	switch f.Kind() {
	case KindNetwork:
		np, err := f.Network()
		if err != nil {
			return false
		}
		switch np.Action {
		case v1alpha1.PartitionAction:
			return true
		case v1alpha1.LossAction:
			return np.Loss >= 100
		case v1alpha1.DelayAction:
			return b.CallTimeout.Duration > 0 && np.Latency >= b.CallTimeout.Duration
		}
	case KindHTTP:
		hp, err := f.HTTP()
		if err != nil {
			return false
		}
		switch {
		case hp.Abort:
			return true
		case hp.Replace != nil && hp.Replace.Code != nil && *hp.Replace.Code >= 500:
			return true
		case hp.Delay > 0:
			return b.CallTimeout.Duration > 0 && hp.Delay >= b.CallTimeout.Duration
		}
	}
	return false
}

// RecoverySLO says how soon after a fault is cleared the success rate must
// be back.
type RecoverySLO struct {
	SuccessRate Percent  `json:"successRate"`
	Within      Duration `json:"within"`
}
