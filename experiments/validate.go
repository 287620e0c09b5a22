package experiments

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aftershock/aftershock/injectors/chaosmesh"
	"github.com/aftershock/aftershock/injectors/httpfault"

	"golang.org/x/net/http/httpguts"
	"k8s.io/apimachinery/pkg/util/validation"
)

// MaxRate bounds spec.load.rate: steady load is a heartbeat for the drill,
// not a load test, and the machine that runs it is shared with the target.
const MaxRate = 10000

// setDefaults fills what the file may leave out, so the runner reads plain
// values. Defaults that depend on whether a field was written at all (a
// written 0 is not an absent field) look at the positions.
func setDefaults(d *Drill, o *options) {
	s := &d.Spec
	if s.Target.Pprof == "" && s.Target.URL != "" && !s.Target.IsGRPC() && s.Target.Pods == nil && len(s.Target.Replicas) == 0 {
		s.Target.Pprof = strings.TrimRight(s.Target.URL, "/") + "/debug/pprof"
	}
	for i := range s.Upstreams {
		u := &s.Upstreams[i]
		u.Protocol = cmp.Or(u.Protocol, ProtocolTCP)
		u.Engine = cmp.Or(u.Engine, EngineProxy)
	}
	if s.Load != nil {
		for i := range s.Load.Requests {
			s.Load.Requests[i].Method = cmp.Or(s.Load.Requests[i].Method, "GET")
		}
	}
	for i := range s.Faults {
		f := &s.Faults[i]
		if f.StalledClients != nil {
			continue // stall.Config has its own defaults, mode by mode
		}
		// Resolve the engine once, so the runner never has to: the
		// override given to the loader, the fault's own, its upstream's.
		up := EngineProxy
		if u := d.Upstream(f.Upstream); u != nil {
			up = u.Engine
		}
		override := o.engine
		if o.render && f.GRPCChaos != nil {
			override = "" // not rendered; see ForRendering
		}
		f.Engine = cmp.Or(override, f.Engine, up)
	}
	v := &s.Verify
	if !d.pos.has("spec.verify.settle") {
		v.Settle = D(DefaultSettle)
	}
	if !d.pos.has("spec.verify.heap.maxGrowth") {
		v.Heap.MaxGrowth = DefaultHeapGrowth()
	}
}

// validate checks everything a well-formed file can still get wrong.
func validate(d *Drill, r *reporter, o *options) {
	if o.engine != "" && !slices.Contains(engines, o.engine) {
		r.addAt(Pos{}, "", engineNames(), "unknown engine %q requested by the caller", o.engine)
	}
	switch {
	case !d.pos.has("apiVersion"):
		r.add("apiVersion", []string{APIVersion}, "apiVersion is required")
	case d.APIVersion != APIVersion:
		r.add("apiVersion", []string{APIVersion}, "unknown apiVersion %q", d.APIVersion)
	}
	switch {
	case !d.pos.has("kind"):
		r.add("kind", []string{Kind, KindTarget}, "kind is required")
	case d.Kind == KindTarget && !o.noFaults && !o.placeholders:
		r.add("kind", []string{Kind}, "a Target describes a service for the suites (AFTERSHOCK_TARGET=FILE go tool ginkgo ./suites/...); to run faults, write kind: Drill with spec.faults")
	case d.Kind == KindTarget && len(d.Spec.Faults) > 0:
		r.add("spec.faults", nil, "a Target holds no faults (the suites bring their own); write kind: Drill to run these")
	case d.Kind != Kind && d.Kind != KindTarget:
		r.add("kind", []string{Kind, KindTarget}, "unknown kind %q", d.Kind)
	}
	dnsLabel(r, "metadata.name", d.Metadata.Name, true)
	dnsLabel(r, "metadata.namespace", d.Metadata.Namespace, false)
	for _, k := range slices.Sorted(maps.Keys(d.Metadata.Labels)) {
		if strings.HasPrefix(k, chaosmesh.LabelPrefix) {
			r.add(key("metadata.labels", k), nil, "label %q is aftershock's own (it finds and cleans up its objects by %s* labels); a drill may not set it", k, chaosmesh.LabelPrefix)
			continue
		}
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			r.add(key("metadata.labels", k), nil, "%q is not a label key: %s", k, strings.Join(msgs, "; "))
		}
		if msgs := validation.IsValidLabelValue(d.Metadata.Labels[k]); len(msgs) > 0 {
			r.add(key("metadata.labels", k), nil, "%q is not a label value: %s", d.Metadata.Labels[k], strings.Join(msgs, "; "))
		}
	}
	if c := d.Spec.Cluster; c != nil {
		if c.Context == "" && c.Server == "" && !r.seen["spec.cluster"] {
			r.add("spec.cluster", []string{"context", "server"}, "cluster names no context")
		}
		if c.Server != "" {
			if u, err := url.Parse(c.Server); err != nil || u.Scheme != "https" || u.Host == "" {
				r.add("spec.cluster.server", nil, "%q is not an https URL of an API server", c.Server)
			}
		}
	}
	if !d.pos.has("spec") {
		r.add("spec", nil, "spec is required")
		return
	}
	validateTarget(d, r)
	validateUpstreams(d, r, o)
	validateLoad(d, r)
	validateFaults(d, r, o)
	validateVerify(d, r)
	for i, h := range d.Spec.AllowHosts {
		if _, err := parseAllowed(h); err != nil {
			r.add(index("spec.allowHosts", i), nil, "%s", err)
		}
	}
}

// dnsLabel checks a DNS-1123 label (lower-case letters, digits, '-').
func dnsLabel(r *reporter, path, s string, required bool) {
	if s == "" {
		if required {
			r.add(path, nil, "%s is required (a DNS-1123 label, e.g. \"payments-slow\")", path[strings.LastIndex(path, ".")+1:])
		}
		return
	}
	if msgs := validation.IsDNS1123Label(s); len(msgs) > 0 {
		r.add(path, nil, "%q is not a DNS-1123 label: %s", s, strings.Join(msgs, "; "))
	}
}

func validateTarget(d *Drill, r *reporter) {
	t := d.Spec.Target
	validatePods(d, r)
	if t.URL == "" {
		if !r.seen["spec.target.url"] {
			r.add("spec.target.url", nil, "target url is required (the base URL of the service under test, e.g. http://127.0.0.1:8080)")
		}
		return
	}
	if t.IsGRPC() {
		grpcURL(r, "spec.target.url", t.URL)
		if !d.pos.has("spec.target.pprof") && t.Pods == nil && len(t.Replicas) == 0 {
			r.add("spec.target.pprof", nil, "a gRPC target needs its pprof base URL (an HTTP port of the service, e.g. http://127.0.0.1:6060/debug/pprof)")
		}
		for i, f := range d.Spec.Faults {
			if f.StalledClients != nil {
				r.add(index("spec.faults", i)+".stalledClients", nil, "stalled clients speak HTTP/1.1 to the target, and the target %s is gRPC", t.URL)
			}
		}
		if l := d.Spec.Load; l != nil && len(l.GRPC) == 0 && len(l.Requests) > 0 {
			r.add("spec.load.requests", nil, "the target is gRPC: its load is spec.load.grpc, the gRPC methods to call")
		}
	} else {
		httpURL(r, "spec.target.url", t.URL)
		if l := d.Spec.Load; l != nil && len(l.GRPC) > 0 {
			r.add("spec.load.grpc", nil, "a gRPC load needs a gRPC target: write spec.target.url as grpc://host:port")
		}
	}
	if d.pos.has("spec.target.pprof") {
		// A default pprof URL is derived from url: it is as good as url.
		httpURL(r, "spec.target.pprof", t.Pprof)
	}
	headers(r, "spec.target.headers", t.Headers)
	replicas(r, d)
}

// replicas checks spec.target.replicas: each named (a unique DNS-1123
// label), each with its own pprof base URL, and no spec.target.pprof
// beside them (whose process would it be?).
func replicas(r *reporter, d *Drill) {
	t := d.Spec.Target
	if len(t.Replicas) == 0 {
		if d.pos.has("spec.target.replicas") {
			r.add("spec.target.replicas", nil, "lists no replica; list each process's name and pprof base URL, or leave replicas out")
		}
		return
	}
	if t.Pods != nil {
		r.add("spec.target.replicas", nil, "replicas and pods exclude each other: list the processes (replicas), or select the pods of a cluster (pods)")
	}
	if d.pos.has("spec.target.pprof") {
		r.add("spec.target.pprof", nil, "is not allowed with spec.target.replicas: each replica is read through its own pprof; remove pprof, or the replicas")
	}
	seen := map[string]int{}
	for i, x := range t.Replicas {
		p := index("spec.target.replicas", i)
		switch {
		case x.Name == "":
			r.add(p+".name", nil, "a replica needs a name, as its findings will say it (e.g. the pod's name)")
		case len(validation.IsDNS1123Label(x.Name)) > 0:
			r.add(p+".name", nil, "replica name %q is not a DNS-1123 label (lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit)", x.Name)
		default:
			if j, dup := seen[x.Name]; dup {
				r.add(p+".name", nil, "replica name %q is already the name of %s", x.Name, index("spec.target.replicas", j))
			} else {
				seen[x.Name] = i
			}
		}
		if x.Pprof == "" {
			if !r.seen[p+".pprof"] {
				r.add(p+".pprof", []string{"http://host:port/debug/pprof"}, "a replica needs its pprof base URL")
			}
		} else {
			httpURL(r, p+".pprof", x.Pprof)
		}
		headers(r, p+".headers", x.Headers)
	}
}

// grpcURL checks a grpc://host:port URL.
func grpcURL(r *reporter, path, s string) {
	if r.seen[path] {
		return
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		r.add(path, nil, "bad URL %q: %v", s, err)
	case u.Hostname() == "" || u.Port() == "" || !validPort(u.Port()):
		r.add(path, []string{"grpc://host:port"}, "URL %q needs a host and a port", s)
	case u.Path != "" && u.Path != "/":
		r.add(path, []string{"grpc://host:port"}, "URL %q has a path; a gRPC target is a host and a port", s)
	}
}

// httpURL checks an absolute http(s) URL with a host.
func httpURL(r *reporter, path, s string) {
	if r.seen[path] {
		return // ${VAR} expansion already failed here
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		r.add(path, nil, "bad URL %q: %v", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		r.add(path, []string{"http://host:port", "https://host:port"}, "URL %q must be absolute, with scheme http or https", s)
	case u.Host == "" || u.Hostname() == "":
		r.add(path, nil, "URL %q has no host", s)
	case u.Port() != "" && !validPort(u.Port()):
		r.add(path, nil, "URL %q has a bad port", s)
	}
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n <= 65535
}

// headers checks header names and values.
func headers(r *reporter, path string, h map[string]string) {
	for k, v := range h {
		switch {
		case !httpguts.ValidHeaderFieldName(k):
			r.add(key(path, k), nil, "%q is not a valid header name", k)
		case !httpguts.ValidHeaderFieldValue(v):
			r.add(key(path, k), nil, "header value has characters HTTP does not allow (control characters or newlines)")
		}
	}
}

func validateUpstreams(d *Drill, r *reporter, o *options) {
	names := map[string]int{}
	listens := map[string]int{}
	for i, u := range d.Spec.Upstreams {
		p := index("spec.upstreams", i)
		if r.seen[p] {
			continue
		}
		dnsLabel(r, p+".name", u.Name, true)
		if j, dup := names[u.Name]; dup && u.Name != "" {
			r.add(p+".name", nil, "upstream name %q is already used by spec.upstreams[%d]", u.Name, j)
		} else {
			names[u.Name] = i
		}
		enum(r, p+".protocol", string(u.Protocol), protocols)
		enum(r, p+".engine", string(u.Engine), engineNames())
		// A cluster reaches its upstreams through Chaos Mesh selectors;
		// only local engines need the proxy's addresses.
		local := cmp.Or(o.engine, u.Engine).Local()
		hostPort(r, p+".listen", u.Listen, local, true)
		hostPort(r, p+".forward", u.Forward, local, false)
		if u.Listen != "" {
			if j, dup := listens[u.Listen]; dup {
				r.add(p+".listen", nil, "listen address %s is already used by spec.upstreams[%d]", u.Listen, j)
			} else {
				listens[u.Listen] = i
			}
			if u.Listen == u.Forward {
				r.add(p+".forward", nil, "forward %s is the listen address itself; the proxy would call itself", u.Forward)
			}
		}
	}
}

// hostPort checks a host:port address. An empty host in a listen address
// means every interface, which the blast-radius guard refuses unless allowed.
func hostPort(r *reporter, path, s string, required, listen bool) {
	if r.seen[path] {
		return
	}
	if s == "" {
		if required {
			r.add(path, nil, "%s address is required (host:port, e.g. 127.0.0.1:9100; ${VAR} is expanded)", path[strings.LastIndex(path, ".")+1:])
		}
		return
	}
	host, port, err := net.SplitHostPort(s)
	switch {
	case err != nil:
		r.add(path, nil, "bad address %q: want host:port, e.g. 127.0.0.1:9100", s)
	case host == "" && !listen:
		r.add(path, nil, "address %q has no host", s)
	case port == "0" && listen:
		r.add(path, nil, "listen port 0 cannot work: the target must be configured with the proxy's address before the drill; pick a free port and pass it as ${VAR}")
	case !validPort(port):
		r.add(path, nil, "address %q has a bad port (want 1..65535)", s)
	}
}

func validateLoad(d *Drill, r *reporter) {
	l := d.Spec.Load
	if l == nil {
		if d.pos.has("spec.load") && !r.seen["spec.load"] {
			r.add("spec.load", nil, "load is empty; give rate and requests, or leave load out")
		}
		return
	}
	switch {
	case !d.pos.has("spec.load.rate"):
		r.add("spec.load.rate", nil, "rate is required (requests per second, e.g. 50)")
	case l.Rate <= 0:
		r.add("spec.load.rate", nil, "rate %d must be > 0 requests per second", l.Rate)
	case l.Rate > MaxRate:
		r.add("spec.load.rate", nil, "rate %d is above %d requests per second; steady load is a heartbeat, not a load test", l.Rate, MaxRate)
	}
	if len(l.GRPC) > 0 {
		if len(l.Requests) > 0 {
			r.add("spec.load.grpc", nil, "a load sends HTTP requests or makes gRPC calls, not both")
		}
		for i, g := range l.GRPC {
			p := index("spec.load.grpc", i)
			if _, _, err := httpfault.ParseMethod(g.Method); err != nil {
				r.add(p+".method", nil, "%v", err)
			} else if strings.Contains(g.Method, "*") {
				r.add(p+".method", nil, "%q: a load calls one method; * matches methods in faults only", g.Method)
			}
			if g.Message != "" && !json.Valid([]byte(g.Message)) {
				r.add(p+".message", nil, "message is not JSON (protobuf's JSON form of the request)")
			}
			headers(r, p+".metadata", g.Metadata)
		}
	} else if len(l.Requests) == 0 && !r.seen["spec.load.requests"] {
		r.add("spec.load.requests", nil, "at least one request is required, e.g. [{method: GET, path: /checkout}]")
	}
	for i, q := range l.Requests {
		p := index("spec.load.requests", i)
		if r.seen[p] {
			continue
		}
		enum(r, p+".method", q.Method, httpMethods)
		requestPath(r, p+".path", q.Path, true)
		headers(r, p+".headers", q.Headers)
	}
}

// requestPath checks an absolute request path, query allowed.
func requestPath(r *reporter, path, s string, required bool) {
	if s == "" {
		if required && !r.seen[path] {
			r.add(path, nil, "path is required (absolute, e.g. /checkout)")
		}
		return
	}
	if !strings.HasPrefix(s, "/") {
		r.add(path, nil, "path %q must start with /", s)
		return
	}
	if _, err := url.ParseRequestURI(s); err != nil {
		r.add(path, nil, "bad path %q: %v", s, err)
	}
}

// enum checks that s is one of allowed; empty passes (defaults or
// required-checks deal with it).
func enum(r *reporter, path, s string, allowed []string) bool {
	if s == "" || slices.Contains(allowed, s) {
		return true
	}
	if r.seen[path] {
		return false
	}
	r.add(path, allowed, "unknown value %q%s", s, suggest(s, allowed))
	return false
}

func validateVerify(d *Drill, r *reporter) {
	v := d.Spec.Verify
	if d.pos.has("spec.verify.settle") && v.Settle.Duration <= 0 && !r.seen["spec.verify.settle"] {
		r.add("spec.verify.settle", nil, "settle must be > 0 (how long the service may take to return to baseline)")
	}
	if v.Cycles < 0 || v.Cycles > MaxCycles {
		r.add("spec.verify.cycles", nil, "%d cycles: want 1 to %d (how many times each fault is held to see whether the heap grows again)", v.Cycles, MaxCycles)
	}
	idle := 0
	if v.Connections.MaxIdleExtra != nil {
		idle = *v.Connections.MaxIdleExtra
	}
	for path, n := range map[string]int{
		"spec.verify.goroutines.maxExtra":      v.Goroutines.MaxExtra,
		"spec.verify.connections.maxExtra":     v.Connections.MaxExtra,
		"spec.verify.connections.maxIdleExtra": idle,
	} {
		if n < 0 {
			r.add(path, nil, "%d must be >= 0", n)
		}
	}
	for i, pat := range v.Ignore {
		p := index("spec.verify.ignore", i)
		fn, state, hasState := strings.Cut(pat, " [")
		switch {
		case strings.TrimSpace(fn) == "":
			r.add(p, nil, "empty ignore pattern; write a function name, e.g. \"net/http.(*persistConn).readLoop\"")
		case strings.ContainsAny(fn, " \t"):
			r.add(p, nil, "bad ignore pattern %q; write \"pkg.Func\", \"pkg.Func...\" or \"pkg.Func [state]\"", pat)
		case hasState && (!strings.HasSuffix(state, "]") || len(state) < 2):
			r.add(p, nil, "bad ignore pattern %q: the goroutine state must be written as \" [state]\"", pat)
		}
	}
	if v.SLO == nil {
		return
	}
	if d.Spec.Load == nil {
		r.add("spec.verify.slo", nil, "slo needs spec.load: latency and success rates are measured on the load")
	}
	for name, f := range map[string]*FaultSLO{"duringFault": v.SLO.DuringFault, "isolation": v.SLO.Isolation} {
		validateFaultSLO(d, r, "spec.verify.slo."+name, f)
	}
	if b := v.SLO.Breaker; b != nil {
		validateBreaker(d, r, b)
	}
	if rec := v.SLO.Recovery; rec != nil {
		if !d.pos.has("spec.verify.slo.recovery.successRate") {
			r.add("spec.verify.slo.recovery.successRate", nil, "successRate is required, e.g. 99%%")
		} else if rec.SuccessRate.Value == 0 && !r.seen["spec.verify.slo.recovery.successRate"] {
			r.add("spec.verify.slo.recovery.successRate", nil, "a success rate of 0%% always holds; give e.g. 99%%")
		}
		if rec.Within.Duration <= 0 && !r.seen["spec.verify.slo.recovery.within"] {
			r.add("spec.verify.slo.recovery.within", nil, "within must be > 0 (how soon after the fault the success rate must be back, e.g. 5s)")
		}
	}
}

// validateFaultSLO checks a latency and error bound block.
func validateFaultSLO(d *Drill, r *reporter, path string, f *FaultSLO) {
	if f == nil {
		return
	}
	if f.P50.Duration == 0 && f.P95.Duration == 0 && f.P99.Duration == 0 && f.Max.Duration == 0 && f.ErrorRate == nil && !r.seen[path] {
		r.add(path, []string{"p50", "p95", "p99", "max", "errorRate"}, "%s sets no bound", path[strings.LastIndexByte(path, '.')+1:])
	}
	for name, b := range map[string]Duration{"p50": f.P50, "p95": f.P95, "p99": f.P99, "max": f.Max} {
		p := path + "." + name
		if d.pos.has(p) && !r.seen[p] && b.Duration == 0 {
			r.add(p, nil, "a latency bound of 0 can never hold; give a duration such as 300ms")
		}
	}
}

// breakerMinOpen is the least time the open breaker is judged over: two
// slices of the load's timeline, so that at least one lies wholly in it.
const breakerMinOpen = 500 * time.Millisecond

// validateBreaker checks the breaker SLO against the faults it applies to:
// faults that make an upstream's calls fail, held longer than the breaker needs to open, and
// (for maxCallShare) on an upstream whose calls the proxy can count.
func validateBreaker(d *Drill, r *reporter, b *BreakerSLO) {
	const path = "spec.verify.slo.breaker"
	if !d.pos.has(path+".opensWithin") && !r.seen[path] {
		r.add(path+".opensWithin", nil, "opensWithin is required: how soon after the fault takes effect the breaker must be open, e.g. 2s")
	} else if b.OpensWithin.Duration <= 0 && !r.seen[path+".opensWithin"] {
		r.add(path+".opensWithin", nil, "opensWithin must be > 0")
	}
	if b.P50.Duration == 0 && b.MaxCallShare == nil && !r.seen[path] {
		r.add(path, []string{"p50", "maxCallShare"}, "breaker sets no bound: say how fast the service answers once it is open (p50), or how few calls still reach the upstream (maxCallShare)")
	}
	for i := range d.Spec.Faults {
		f := &d.Spec.Faults[i]
		if !b.FailsCalls(f) {
			continue
		}
		if need := d.MinHold(f); b.OpensWithin.Duration > 0 && f.Duration.Duration > 0 && f.Duration.Duration < need {
			r.add(index("spec.faults", i)+".duration", nil,
				"fault %s is held %s; verify.slo.breaker judges the open breaker from opensWithin (%s) to the clear, on whole 250ms slices of the load: hold it at least %s",
				f.Name, f.Duration, b.OpensWithin, D(need))
		}
		if b.MaxCallShare == nil {
			continue
		}
		u := d.Upstream(f.Upstream)
		switch {
		case u == nil:
		case !u.Protocol.SpeaksHTTP():
			r.add(path+".maxCallShare", nil, "fault %s acts on upstream %s of protocol %s: calls are counted at the proxy's HTTP layer, so maxCallShare needs protocol http, h2c or grpc", f.Name, u.Name, u.Protocol)
		case f.Engine != "" && f.Engine != EngineProxy:
			r.add(path+".maxCallShare", nil, "fault %s runs on engine %s: calls are counted by the proxy engine only", f.Name, f.Engine)
		}
	}
}

// parseAllowed reads an allowHosts entry: a CIDR range, an IP address or
// a host name.
func parseAllowed(s string) (func(host string) bool, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("empty host; write a host name, an IP address or a CIDR range")
	}
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("bad CIDR range %q: %v", s, err)
		}
		return func(host string) bool {
			a, err := netip.ParseAddr(host)
			return err == nil && pfx.Contains(a.Unmap())
		}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return func(host string) bool {
			b, err := netip.ParseAddr(host)
			return err == nil && a.Unmap() == b.Unmap()
		}, nil
	}
	if msgs := validation.IsDNS1123Subdomain(strings.ToLower(s)); len(msgs) > 0 {
		return nil, fmt.Errorf("%q is neither an IP address, a CIDR range nor a host name", s)
	}
	return func(host string) bool { return strings.EqualFold(host, s) }, nil
}

// MinHold is the shortest hold fault f may have in this drill: a fault
// that a declared breaker must open for is held long enough for the
// breaker to be judged (opensWithin, then whole slices of the load); any
// other, no minimum (0). A schedule search draws and shrinks holds above
// it.
func (d *Drill) MinHold(f *Fault) time.Duration {
	if slo := d.Spec.Verify.SLO; slo != nil && slo.Breaker != nil && slo.Breaker.OpensWithin.Duration > 0 && slo.Breaker.FailsCalls(f) {
		return slo.Breaker.OpensWithin.Duration + breakerMinOpen
	}
	return 0
}
