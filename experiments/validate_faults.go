package experiments

import (
	"cmp"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/aftershock/aftershock/injectors/httpfault"
	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// faultKinds are the blocks of which a fault holds exactly one.
var faultKinds = []string{"networkChaos", "httpChaos", "grpcChaos", "stalledClients"}

func validateFaults(d *Drill, r *reporter, o *options) {
	if len(d.Spec.Faults) == 0 {
		if !r.seen["spec.faults"] && !o.noFaults && d.Kind != KindTarget {
			r.add("spec.faults", faultKinds, "at least one fault is required")
		}
		return
	}
	names := map[string]int{}
	for i := range d.Spec.Faults {
		f := &d.Spec.Faults[i]
		p := index("spec.faults", i)
		if r.seen[p] {
			continue // not even a mapping; already reported
		}
		dnsLabel(r, p+".name", f.Name, true)
		if j, dup := names[f.Name]; dup && f.Name != "" {
			r.add(p+".name", nil, "fault name %q is already used by spec.faults[%d]", f.Name, j)
		} else {
			names[f.Name] = i
		}
		if !d.pos.has(p + ".duration") {
			r.add(p+".duration", nil, "duration is required (how long the fault is held, e.g. 10s)")
		} else if f.Duration.Duration <= 0 && !r.seen[p+".duration"] {
			r.add(p+".duration", nil, "duration must be > 0")
		}
		validateOverlap(d, r, p, i, names)
		var kinds []string
		for _, k := range faultKinds {
			if d.pos.has(p + "." + k) {
				kinds = append(kinds, k)
			}
		}
		// Report the kind written second, where the reader's eye is.
		slices.SortStableFunc(kinds, func(a, b string) int {
			pa, pb := d.pos.at(p+"."+a), d.pos.at(p+"."+b)
			return cmp.Or(cmp.Compare(pa.Line, pb.Line), cmp.Compare(pa.Column, pb.Column))
		})
		switch {
		case len(kinds) == 0:
			r.add(p, faultKinds, "fault %q has no kind; give exactly one of networkChaos, httpChaos, grpcChaos, stalledClients", f.Name)
			continue
		case len(kinds) > 1:
			r.add(p+"."+kinds[1], faultKinds, "fault %q has both %s and %s; a fault holds exactly one kind (write two faults to run them one after another)", f.Name, kinds[0], kinds[1])
			continue
		}
		switch {
		case f.StalledClients != nil:
			validateStall(r, p, f)
		case f.GRPCChaos != nil:
			u := faultUpstream(d, r, p, f)
			enum(r, p+".engine", string(f.Engine), engineNames())
			if !slices.Contains(engines, f.Engine) {
				continue
			}
			validateGRPC(r, p, f, u)
		case f.NetworkChaos != nil || f.HTTPChaos != nil:
			u := faultUpstream(d, r, p, f)
			enum(r, p+".engine", string(f.Engine), engineNames())
			if !slices.Contains(engines, f.Engine) {
				continue
			}
			if !engineFitsUpstream(r, p, f, u) {
				continue
			}
			if f.NetworkChaos != nil {
				validateNetwork(d, r, p, f, u)
			} else {
				validateHTTP(d, r, p, f, u)
			}
		}
	}
}

// faultUpstream resolves the fault's upstream, reporting a missing or
// dangling reference.
func faultUpstream(d *Drill, r *reporter, p string, f *Fault) *Upstream {
	names := make([]string, 0, len(d.Spec.Upstreams))
	for _, u := range d.Spec.Upstreams {
		names = append(names, u.Name)
	}
	if f.Upstream == "" {
		if len(names) == 0 {
			r.add(p+".upstream", nil, "fault %q needs an upstream, and spec.upstreams is empty; declare the upstream the target calls through the fault proxy", f.Name)
		} else {
			r.add(p+".upstream", names, "fault %q needs an upstream to act on", f.Name)
		}
		return nil
	}
	u := d.Upstream(f.Upstream)
	if u == nil {
		r.add(p+".upstream", names, "unknown upstream %q%s", f.Upstream, suggest(f.Upstream, names))
	}
	return u
}

// blockDuration checks a Chaos Mesh duration inside a fault block: the
// fault's own duration governs, so one written here must agree with it.
func blockDuration(r *reporter, path string, s *string, f *Fault) {
	if s == nil || r.seen[path] {
		return
	}
	d, err := ParseDuration(*s)
	switch {
	case err != nil:
		r.add(path, nil, "%s", err)
	case d != f.Duration:
		r.add(path, nil, "duration %s disagrees with the fault's duration %s; leave it out (the fault's duration is used for Chaos Mesh too)", *s, f.Duration)
	}
}

// durationString checks a Chaos Mesh duration string such as a latency.
func durationString(r *reporter, path, s string, required bool) {
	if r.seen[path] {
		return
	}
	if s == "" {
		if required {
			r.add(path, nil, "%s is required (a duration such as 500ms)", path[strings.LastIndex(path, ".")+1:])
		}
		return
	}
	if _, err := ParseDuration(s); err != nil {
		r.add(path, nil, "%s", err)
	}
}

// floatPercent checks a Chaos Mesh FloatStr percentage ("25" = 25%).
func floatPercent(r *reporter, path, s string, required bool) float64 {
	if s == "" {
		if required {
			r.add(path, nil, "%s is required (a percentage written as a number, e.g. \"25\" for 25%%)", path[strings.LastIndex(path, ".")+1:])
		}
		return 0
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || f > 100 {
		r.add(path, nil, "%q is not a percentage between 0 and 100, written as Chaos Mesh writes it (\"25\", no %% sign)", s)
		return 0
	}
	return f
}

// cantHonour reports a field set that engine e cannot honour.
func cantHonour(r *reporter, path string, e Engine, what string) {
	r.add(path, nil, "the %s engine cannot honour %s; remove it or run this fault with engine: %s", e, what, EngineChaosMesh)
}

func validateNetwork(d *Drill, r *reporter, p string, f *Fault, u *Upstream) {
	n := f.NetworkChaos
	np := p + ".networkChaos"
	e := f.Engine
	switch {
	case n.Action == "":
		r.add(np+".action", strs(networkActions[e]), "action is required")
	case !slices.Contains(allNetworkActions, n.Action):
		r.add(np+".action", strs(networkActions[e]), "unknown action %q%s", n.Action, suggest(string(n.Action), strs(allNetworkActions)))
	case !slices.Contains(networkActions[e], n.Action):
		r.add(np+".action", strs(networkActions[e]), "the %s engine cannot inject action %q locally (engines that can: %s)",
			e, n.Action, strings.Join(enginesForNetwork(n.Action), ", "))
	}
	enum(r, np+".direction", string(n.Direction), directions)
	enum(r, np+".partitionBehavior", string(n.PartitionBehavior), partitionBehaviors)
	if n.PartitionBehavior != "" && n.Action != v1alpha1.PartitionAction {
		r.add(np+".partitionBehavior", nil, "partitionBehavior applies to action partition only")
	}
	blockDuration(r, np+".duration", n.Duration, f)

	// Which tc blocks the action reads: its own, or any of the netem
	// ones for netem. A block the action would ignore is an error.
	blocks := map[string]bool{
		"delay": n.Delay != nil, "loss": n.Loss != nil, "duplicate": n.Duplicate != nil,
		"corrupt": n.Corrupt != nil, "bandwidth": n.Bandwidth != nil, "rate": n.Rate != nil,
	}
	netem := []string{"delay", "loss", "duplicate", "corrupt", "rate"}
	for _, name := range []string{"delay", "loss", "duplicate", "corrupt", "bandwidth", "rate"} {
		own := string(n.Action) == name || (n.Action == v1alpha1.NetemAction && slices.Contains(netem, name))
		switch {
		case blocks[name] && !own && n.Action != "" && slices.Contains(allNetworkActions, n.Action):
			r.add(np+"."+name, nil, "%s has no effect with action %q; only action netem combines delay, loss, duplicate, corrupt and rate", name, n.Action)
		case !blocks[name] && string(n.Action) == name:
			r.add(np+"."+name, nil, "action %s needs a %s block", name, name)
		}
	}
	if n.Action == v1alpha1.NetemAction && !blocks["delay"] && !blocks["loss"] && !blocks["duplicate"] && !blocks["corrupt"] && !blocks["rate"] {
		r.add(np, netem, "action netem needs at least one of delay, loss, duplicate, corrupt, rate")
	}
	if dl := n.Delay; dl != nil {
		durationString(r, np+".delay.latency", dl.Latency, true)
		durationString(r, np+".delay.jitter", dl.Jitter, false)
		if floatPercent(r, np+".delay.correlation", dl.Correlation, false) != 0 && e.Local() {
			cantHonour(r, np+".delay.correlation", e, "a delay correlation")
		}
		if dl.Reorder != nil {
			floatPercent(r, np+".delay.reorder.reorder", dl.Reorder.Reorder, true)
			if e.Local() {
				cantHonour(r, np+".delay.reorder", e, "reordering")
			}
		}
	}
	for name, pair := range map[string][2]*string{
		"loss":      {ptrField(n.Loss, func(l *v1alpha1.LossSpec) *string { return &l.Loss }), ptrField(n.Loss, func(l *v1alpha1.LossSpec) *string { return &l.Correlation })},
		"duplicate": {ptrField(n.Duplicate, func(l *v1alpha1.DuplicateSpec) *string { return &l.Duplicate }), ptrField(n.Duplicate, func(l *v1alpha1.DuplicateSpec) *string { return &l.Correlation })},
		"corrupt":   {ptrField(n.Corrupt, func(l *v1alpha1.CorruptSpec) *string { return &l.Corrupt }), ptrField(n.Corrupt, func(l *v1alpha1.CorruptSpec) *string { return &l.Correlation })},
	} {
		if pair[0] == nil {
			continue
		}
		floatPercent(r, np+"."+name+"."+name, *pair[0], true)
		if floatPercent(r, np+"."+name+".correlation", *pair[1], false) != 0 && e.Local() {
			cantHonour(r, np+"."+name+".correlation", e, "a "+name+" correlation")
		}
	}
	if b := n.Bandwidth; b != nil {
		bp := np + ".bandwidth"
		if b.Rate == "" {
			r.add(bp+".rate", nil, "rate is required, as Chaos Mesh writes it (e.g. \"1mbps\" = 1 MB/s, \"8mbit\" = 1 MB/s)")
		} else if bps, err := ParseRate(b.Rate); err != nil {
			r.add(bp+".rate", nil, "%s", err)
		} else if bps == 0 {
			r.add(bp+".rate", nil, "rate must be > 0")
		}
		// tc's token bucket (netns, Chaos Mesh) needs both; the proxy
		// uses buffer as its burst and limit as its queue bound.
		if b.Limit == 0 {
			r.add(bp+".limit", nil, "limit is required: the bytes that may queue waiting for tokens (e.g. 20971520)")
		}
		if b.Buffer == 0 {
			r.add(bp+".buffer", nil, "buffer is required: the burst size in bytes (e.g. 10000)")
		}
		if e.Local() {
			if b.Peakrate != nil {
				cantHonour(r, bp+".peakrate", e, "peakrate")
			}
			if b.Minburst != nil {
				cantHonour(r, bp+".minburst", e, "minburst")
			}
		}
	}
	if n.Rate != nil {
		if _, err := ParseRate(n.Rate.Rate); err != nil {
			r.add(np+".rate.rate", nil, "%s", err)
		}
	}
	selector(r, np, &n.PodSelector, e)
	reportChaosMesh(r, reflect.TypeFor[v1alpha1.NetworkChaos](), np, chaosMeshNetworkErrors(d.Metadata, n),
		func(path string, err *field.Error) bool {
			// Chaos Mesh asks for a target pod selector with direction
			// from/both; locally the upstream is that target.
			return e.Local() && path == np+".direction"
		})
}

// ptrField returns a pointer to a field of a possibly nil block.
func ptrField[T any](block *T, f func(*T) *string) *string {
	if block == nil {
		return nil
	}
	return f(block)
}

// selector checks the Chaos Mesh pod selector: optional and unused
// locally, required by the cluster engine.
func selector(r *reporter, path string, s *v1alpha1.PodSelector, e Engine) {
	enum(r, path+".mode", string(s.Mode), selectorModes)
	if e.Local() {
		return
	}
	if s.Mode == "" {
		r.add(path+".mode", selectorModes, "the %s engine needs mode: which of the selected pods to inject", e)
	}
	if reflect.ValueOf(s.Selector).IsZero() {
		r.add(path+".selector", []string{"namespaces", "labelSelectors", "fieldSelectors", "annotationSelectors", "expressionSelectors", "pods", "nodes"},
			"the %s engine needs a selector: the pods of the target", e)
	}
}

func validateHTTP(d *Drill, r *reporter, p string, f *Fault, u *Upstream) {
	h := f.HTTPChaos
	hp := p + ".httpChaos"
	e := f.Engine
	switch {
	case f.Misfit(u) != "":
		r.add(hp, nil, "%s", f.Misfit(u))
	case u != nil && u.Protocol.HTTP2() && e == EngineChaosMesh:
		r.add(hp, []string{string(EngineProxy)}, "Chaos Mesh's HTTPChaos speaks HTTP/1 only (chaos-mesh#2611), and upstream %q is protocol %s: httpChaos on HTTP/2 runs on engine proxy", u.Name, u.Protocol)
	}
	if _, ok := httpActions[e]; !ok {
		var can []string
		for _, x := range engines {
			if _, ok := httpActions[x]; ok {
				can = append(can, string(x))
			}
		}
		r.add(hp, nil, "the %s engine cannot inject httpChaos (engines that can: %s)", e, strings.Join(can, ", "))
		return
	}
	response := h.Target == v1alpha1.PodHttpResponse
	request := h.Target == v1alpha1.PodHttpRequest
	switch {
	case h.Target == "":
		r.add(hp+".target", httpTargets, "target is required: which side of the exchange the fault acts on")
	default:
		enum(r, hp+".target", string(h.Target), httpTargets)
	}
	a := h.PodHttpChaosActions
	if (a.Abort == nil || !*a.Abort) && a.Delay == nil && a.Replace == nil && a.Patch == nil {
		r.add(hp, httpActions[e], "httpChaos needs an action (abort: true, delay, replace or patch)")
	}
	if a.Delay != nil {
		durationString(r, hp+".delay", *a.Delay, true)
	}
	if rp := a.Replace; rp != nil {
		rpp := hp + ".replace"
		if rp.Code != nil {
			statusCode(r, rpp+".code", *rp.Code)
			if request {
				r.add(rpp+".code", nil, "replace.code applies to target Response only")
			}
		}
		if response {
			for name, set := range map[string]bool{"path": rp.Path != nil, "method": rp.Method != nil, "queries": rp.Queries != nil} {
				if set {
					r.add(rpp+"."+name, nil, "replace.%s applies to target Request only", name)
				}
			}
		}
		if rp.Path != nil {
			requestPath(r, rpp+".path", *rp.Path, true)
		}
		if rp.Method != nil {
			enum(r, rpp+".method", *rp.Method, httpMethods)
		}
		headers(r, rpp+".headers", rp.Headers)
	}
	if pt := a.Patch; pt != nil {
		ptp := hp + ".patch"
		if b := pt.Body; b != nil {
			if b.Type != "JSON" {
				r.add(ptp+".body.type", []string{"JSON"}, "unknown patch type %q (Chaos Mesh patches bodies as JSON merge patches)", b.Type)
			} else if !json.Valid([]byte(b.Value)) {
				r.add(ptp+".body.value", nil, "value is not valid JSON")
			}
		}
		if response && pt.Queries != nil {
			r.add(ptp+".queries", nil, "patch.queries applies to target Request only")
		}
		for name, pairs := range map[string][][]string{"queries": pt.Queries, "headers": pt.Headers} {
			for i, kv := range pairs {
				if len(kv) != 2 {
					r.add(index(ptp+"."+name, i), nil, "want a [name, value] pair, got %d items", len(kv))
				}
			}
		}
	}
	if h.Path != nil && !strings.HasPrefix(*h.Path, "/") && !strings.HasPrefix(*h.Path, "*") {
		r.add(hp+".path", nil, "path %q must start with / (wildcards * allowed)", *h.Path)
	}
	if h.Method != nil {
		enum(r, hp+".method", *h.Method, httpMethods)
	}
	if h.Code != nil {
		statusCode(r, hp+".code", *h.Code)
		if request {
			r.add(hp+".code", nil, "code selects responses; it applies to target Response only")
		}
	}
	blockDuration(r, hp+".duration", h.Duration, f)
	if e.Local() {
		if h.TLS != nil {
			cantHonour(r, hp+".tls", e, "tls (the proxy does not terminate TLS)")
		}
		if h.Port != 0 && u != nil && !r.seen[p+".upstream"] {
			if _, port, err := splitPort(u.Forward); err == nil && port != h.Port {
				r.add(hp+".port", nil, "port %d is not upstream %q's forward port %d; locally the upstream decides the port, so leave port out", h.Port, u.Name, port)
			}
		}
	} else if h.Port == 0 {
		r.add(hp+".port", nil, "the %s engine needs port: the port of the target pods to proxy", e)
	}
	selector(r, hp, &h.PodSelector, e)
	reportChaosMesh(r, reflect.TypeFor[v1alpha1.HTTPChaos](), hp, chaosMeshHTTPErrors(d.Metadata, h),
		func(path string, err *field.Error) bool {
			// Chaos Mesh requires a port (its webhook rejects 0); locally
			// the upstream's forward address gives it.
			return e.Local() && path == hp+".port" && h.Port == 0
		})
}

func statusCode(r *reporter, path string, c int32) {
	if c < 100 || c > 599 {
		r.add(path, nil, "%d is not an HTTP status code (100..599)", c)
	}
}

func validateStall(r *reporter, p string, f *Fault) {
	s := f.StalledClients
	sp := p + ".stalledClients"
	if f.Upstream != "" {
		r.add(p+".upstream", nil, "stalledClients act on spec.target, not on an upstream; remove upstream")
	}
	if f.Engine != "" {
		r.add(p+".engine", nil, "stalledClients are run by aftershock itself against spec.target; engine does not apply")
	}
	switch {
	case s.Mode == "":
		r.add(sp+".mode", stallModes, "mode is required")
	case !enum(r, sp+".mode", string(s.Mode), stallModes):
		return // the injector's checks depend on the mode
	}
	switch {
	case s.Count <= 0 && !r.seen[sp+".count"]:
		r.add(sp+".count", nil, "count must be > 0 (how many clients stall at once)")
	case s.Count > MaxStalledClients:
		r.add(sp+".count", nil, "count %d is above %d; each stalled client holds a file descriptor here and one in the target", s.Count, MaxStalledClients)
	}
	requestPath(r, sp+".path", s.Path, false)
	enum(r, sp+".method", s.Method, httpMethods)
	headers(r, sp+".headers", s.Headers)
	// The rest is the injector's own rule book (ranges, and fields the
	// mode does not use); its problems name fields as the file does.
	if err := s.Config().Validate(); err != nil {
		for _, e := range leaves(err) {
			name, detail, ok := strings.Cut(e.Error(), ": ")
			path := sp
			if ok && !strings.ContainsAny(name, " ") {
				path = child(sp, name)
			} else {
				detail = e.Error()
			}
			if !r.seen[path] {
				r.add(path, nil, "%s", detail)
			}
		}
	}
}

// leaves flattens wrapped and joined errors into the errors that wrap
// nothing further.
func leaves(err error) []error {
	switch x := err.(type) {
	case interface{ Unwrap() []error }:
		var out []error
		for _, e := range x.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	case interface{ Unwrap() error }:
		if inner := x.Unwrap(); inner != nil {
			return leaves(inner)
		}
	}
	return []error{err}
}

// engineFitsUpstream checks a local fault against its upstream's engine.
// Kernel faults act on the veth of a netns upstream, so they need one; a
// netns upstream's relay is a fault proxy, so proxy network faults work on
// it too (delay where the kernel has no netem), but its relay speaks TCP
// only, so httpChaos does not.
func engineFitsUpstream(r *reporter, p string, f *Fault, u *Upstream) bool {
	if u == nil || !f.Engine.Local() {
		return true
	}
	switch {
	case f.Engine == EngineNetns && u.Engine != EngineNetns:
		r.add(p+".engine", nil, "engine netns needs its upstream on engine netns, and upstream %q is on %s: kernel faults act on the veth of the namespace a netns upstream lives in", u.Name, u.Engine)
		return false
	case f.HTTPChaos != nil && u.Engine == EngineNetns:
		r.add(p+".httpChaos", nil, "httpChaos needs an upstream on the proxy engine, and upstream %q is on netns, whose relay forwards TCP as it is", u.Name)
		return false
	}
	return true
}

// validateGRPC checks a grpcChaos block: aftershock's own, on an upstream
// of protocol grpc on engine proxy (Chaos Mesh has no gRPC fault).
func validateGRPC(r *reporter, p string, f *Fault, u *Upstream) {
	g, gp := f.GRPCChaos, p+".grpcChaos"
	switch {
	case f.Engine == EngineChaosMesh || (u != nil && u.Engine == EngineChaosMesh):
		r.add(gp, []string{string(EngineProxy)}, "Chaos Mesh cannot fault gRPC calls (its HTTPChaos speaks HTTP/1 only; chaos-mesh#2611): grpcChaos runs on engine proxy")
	case f.Engine == EngineNetns || (u != nil && u.Engine == EngineNetns):
		r.add(gp, []string{string(EngineProxy)}, "grpcChaos needs the proxy engine's HTTP/2 proxy; a netns upstream's relay forwards TCP as it is")
	}
	if m := f.Misfit(u); m != "" {
		r.add(gp, nil, "%s", m)
	}
	if g.Abort == nil && g.Delay == nil && !g.Reset {
		r.add(gp, []string{"abort", "delay", "reset"}, "grpcChaos needs an action")
	}
	if g.Abort != nil && g.Reset {
		r.add(gp+".reset", nil, "abort and reset: a call ends one way; choose one")
	}
	if a := g.Abort; a != nil {
		if a.Code == "" {
			r.add(gp+".abort.code", GRPCCodeNames(), "abort needs a code")
		} else if _, err := GRPCCode(a.Code); err != nil {
			r.add(gp+".abort.code", GRPCCodeNames(), "unknown gRPC status code %q%s", a.Code, suggest(a.Code, GRPCCodeNames()))
		}
	}
	if d := g.Delay; d != nil {
		if d.Latency.Duration <= 0 && !r.seen[gp+".delay.latency"] {
			r.add(gp+".delay.latency", nil, "latency must be > 0")
		}
		if d.Jitter.Duration > d.Latency.Duration {
			r.add(gp+".delay.jitter", nil, "jitter %s is more than the latency %s", d.Jitter, d.Latency)
		}
	}
	if pc := g.Percent; pc != nil && (pc.Value <= 0 || pc.Value > 100) && !r.seen[gp+".percent"] {
		r.add(gp+".percent", nil, "percent %s is not in (0%%, 100%%]", pc)
	}
	for _, list := range []struct {
		name string
		ms   []string
	}{{"methods", g.Methods}, {"excludedMethods", g.ExcludedMethods}} {
		for i, m := range list.ms {
			if _, _, err := httpfault.ParseMethod(m); err != nil {
				r.add(index(gp+"."+list.name, i), nil, "%v (* matches any run of characters)", err)
			}
		}
	}
}

// validateOverlap checks that a fault overlaps an earlier fault, starting
// while it is held. names holds the faults before this one.
func validateOverlap(d *Drill, r *reporter, p string, i int, names map[string]int) {
	f := &d.Spec.Faults[i]
	o := f.Overlap
	if o == nil {
		return
	}
	p += ".overlap"
	if r.seen[p] {
		return
	}
	if o.After.Duration < 0 && !r.seen[p+".after"] {
		r.add(p+".after", nil, "after must be ≥ 0 (how long after %q took effect this fault is injected)", o.With)
	}
	j, ok := names[o.With]
	switch {
	case o.With == "":
		r.add(p+".with", nil, "with is required: the earlier fault this one is held together with")
		return
	case o.With == f.Name:
		r.add(p+".with", nil, "fault %q cannot overlap itself", f.Name)
		return
	case !ok || j >= i:
		var earlier []string
		for _, g := range d.Spec.Faults[:i] {
			earlier = append(earlier, g.Name)
		}
		r.add(p+".with", earlier, "%q is not a fault written before %q: a fault overlaps one that is already held", o.With, f.Name)
		return
	}
	// The faults of an episode are written one after another: a fault
	// overlaps a fault of the episode that the fault written just before
	// it is in, so that the file reads in the order the drill runs.
	if lead, prev := leadOf(d, j), leadOf(d, i-1); lead != prev {
		r.add(p+".with", nil, "%q is in the episode %q leads, which ended before %q (written just before %q) started another: write %q right after the faults it is held with",
			o.With, d.Spec.Faults[lead].Name, d.Spec.Faults[prev].Name, f.Name, f.Name)
		return
	}
	if f.Engine == EngineNetns {
		// A device has one root qdisc: two kernel delay or bandwidth
		// faults on one upstream cannot be held at once.
		for k := leadOf(d, j); k < i; k++ {
			if h := &d.Spec.Faults[k]; leadOf(d, k) == leadOf(d, j) && h.Upstream == f.Upstream && h.Engine == EngineNetns && queueing(h) && queueing(f) {
				r.add(p+".with", nil, "faults %q and %q both queue packets on upstream %s (engine netns: delay and bandwidth are qdiscs, one per device): they cannot be held together", h.Name, f.Name, f.Upstream)
				return
			}
		}
	}
	if w := d.Spec.Faults[j].Duration.Duration; w > 0 && o.After.Duration >= w && !r.seen[p+".after"] {
		r.add(p+".after", nil, "after %s is not inside %q's hold of %s: the faults would not overlap (drop overlap to run %q after it)",
			o.After, o.With, d.Spec.Faults[j].Duration, f.Name)
	}
}

// leadOf is the index of the first fault of fault i's episode (i itself
// when it overlaps nothing, or what it names is not written before it).
func leadOf(d *Drill, i int) int {
	for i > 0 {
		o := d.Spec.Faults[i].Overlap
		if o == nil {
			return i
		}
		j := slices.IndexFunc(d.Spec.Faults[:i], func(g Fault) bool { return g.Name == o.With })
		if j < 0 {
			return i
		}
		i = j
	}
	return i
}

// queueing tells a network fault that the netns engine makes a qdisc of.
func queueing(f *Fault) bool {
	return f.NetworkChaos != nil && (f.NetworkChaos.Action == v1alpha1.DelayAction || f.NetworkChaos.Action == v1alpha1.BandwidthAction)
}
