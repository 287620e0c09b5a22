package experiments

import (
	"cmp"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
)

// Accessors: a fault block as Go values, so the runner maps it onto an
// injector's configuration without parsing strings again. They read a
// loaded (validated) drill; on one built by hand they return an error for
// a value that does not parse.

// FaultKind names the block a fault holds.
type FaultKind string

// Fault kinds.
const (
	KindNetwork FaultKind = "network"
	KindHTTP    FaultKind = "http"
	KindGRPC    FaultKind = "grpc"
	KindStall   FaultKind = "stall"
)

// Kind returns which block the fault holds, or "" for none.
func (f *Fault) Kind() FaultKind {
	switch {
	case f.NetworkChaos != nil:
		return KindNetwork
	case f.HTTPChaos != nil:
		return KindHTTP
	case f.GRPCChaos != nil:
		return KindGRPC
	case f.StalledClients != nil:
		return KindStall
	}
	return ""
}

// Family names what a fault does to the service, as suites label it and
// people speak of it: Kind says which block a fault holds, and a
// networkChaos block is either a partition or a slow (lossy, narrow)
// upstream.
type Family string

// Fault families.
const (
	FamilyPartition    Family = "partition"
	FamilySlowUpstream Family = "slow-upstream"
	FamilyHTTP         Family = "http-faults"
	FamilyGRPC         Family = "grpc"
	FamilyStall        Family = "stalled-clients"
)

// Family returns the fault's family, or "" when it holds no fault block.
func (f *Fault) Family() Family {
	switch f.Kind() {
	case KindNetwork:
		if f.NetworkChaos.Action == v1alpha1.PartitionAction {
			return FamilyPartition
		}
		return FamilySlowUpstream
	case KindHTTP:
		return FamilyHTTP
	case KindGRPC:
		return FamilyGRPC
	case KindStall:
		return FamilyStall
	}
	return ""
}

// Upstream returns the upstream called name, or nil.
func (d *Drill) Upstream(name string) *Upstream {
	for i := range d.Spec.Upstreams {
		if d.Spec.Upstreams[i].Name == name {
			return &d.Spec.Upstreams[i]
		}
	}
	return nil
}

// Written reports whether the file wrote the field at path
// (spec.verify.settle), rather than leaving it to its default.
func (d *Drill) Written(path string) bool { return d.pos.has(path) }

// Where returns "file:line:col" of a field path (or of its nearest
// written parent), for messages about the drill made after loading.
func (d *Drill) Where(path string) string {
	p := &Problem{File: d.File, Pos: d.pos.at(path)}
	s := p.Error()
	return strings.TrimSuffix(s, ": ")
}

// NetworkParams is a networkChaos block as Go values.
type NetworkParams struct {
	Action v1alpha1.NetworkChaosAction
	// Direction is to (upstream → target, the default), from (target →
	// upstream) or both.
	Direction v1alpha1.Direction
	// Latency and Jitter are set for delay (and netem with delay).
	Latency, Jitter time.Duration
	// Correlations and probabilities are percentages, 0..100.
	DelayCorrelation float64
	Loss             float64
	LossCorrelation  float64
	Duplicate        float64
	Corrupt          float64
	// PartitionBehavior is drop (the default: packets vanish, callers
	// hang) or reject (connections are refused or reset).
	PartitionBehavior v1alpha1.NetworkChaosPartitionBehavior
	// BandwidthBytesPerSecond is set for bandwidth; BurstBytes is the
	// token bucket's buffer and QueueBytes its limit.
	BandwidthBytesPerSecond int64
	BurstBytes              int64
	QueueBytes              int64
}

// Network returns the networkChaos block as Go values.
func (f *Fault) Network() (NetworkParams, error) {
	n := f.NetworkChaos
	if n == nil {
		return NetworkParams{}, fmt.Errorf("fault %q holds no networkChaos", f.Name)
	}
	p := NetworkParams{
		Action:            n.Action,
		Direction:         cmp.Or(n.Direction, v1alpha1.To),
		PartitionBehavior: cmp.Or(n.PartitionBehavior, v1alpha1.DropPartitionBehavior),
	}
	var errs []error
	dur := func(s string) time.Duration {
		if s == "" {
			return 0
		}
		d, err := ParseDuration(s)
		errs = append(errs, err)
		return d.Duration
	}
	pct := func(s string) float64 {
		if s == "" {
			return 0
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		errs = append(errs, err)
		return v
	}
	if d := n.Delay; d != nil {
		p.Latency, p.Jitter, p.DelayCorrelation = dur(d.Latency), dur(d.Jitter), pct(d.Correlation)
	}
	if l := n.Loss; l != nil {
		p.Loss, p.LossCorrelation = pct(l.Loss), pct(l.Correlation)
	}
	if d := n.Duplicate; d != nil {
		p.Duplicate = pct(d.Duplicate)
	}
	if c := n.Corrupt; c != nil {
		p.Corrupt = pct(c.Corrupt)
	}
	if b := n.Bandwidth; b != nil {
		rate, err := ParseRate(b.Rate)
		errs = append(errs, err)
		p.BandwidthBytesPerSecond, p.BurstBytes, p.QueueBytes = rate, int64(b.Buffer), int64(b.Limit)
	}
	for _, err := range errs {
		if err != nil {
			return NetworkParams{}, fmt.Errorf("fault %q: %w", f.Name, err)
		}
	}
	return p, nil
}

// HTTPParams is an httpChaos block as Go values.
type HTTPParams struct {
	// Target is Request (target → upstream) or Response.
	Target v1alpha1.PodHttpChaosTarget
	// Match selects the exchanges to act on; zero fields match all.
	Match HTTPMatch
	Abort bool
	Delay time.Duration
	// Replace and Patch are Chaos Mesh's own action types; their fields
	// are plain Go values already (Replace.Body is the decoded bytes).
	Replace *v1alpha1.PodHttpChaosReplaceActions
	Patch   *v1alpha1.PodHttpChaosPatchActions
}

// HTTPMatch selects requests or responses, as Chaos Mesh selects them.
type HTTPMatch struct {
	// Path matches the request path; * is a wildcard.
	Path   string
	Method string
	// Code matches the response status; 0 matches all.
	Code            int
	RequestHeaders  map[string]string
	ResponseHeaders map[string]string
}

// HTTP returns the httpChaos block as Go values.
func (f *Fault) HTTP() (HTTPParams, error) {
	h := f.HTTPChaos
	if h == nil {
		return HTTPParams{}, fmt.Errorf("fault %q holds no httpChaos", f.Name)
	}
	p := HTTPParams{
		Target:  h.Target,
		Abort:   h.Abort != nil && *h.Abort,
		Replace: h.Replace,
		Patch:   h.Patch,
		Match: HTTPMatch{
			RequestHeaders:  h.RequestHeaders,
			ResponseHeaders: h.ResponseHeaders,
		},
	}
	if h.Path != nil {
		p.Match.Path = *h.Path
	}
	if h.Method != nil {
		p.Match.Method = *h.Method
	}
	if h.Code != nil {
		p.Match.Code = int(*h.Code)
	}
	if h.Delay != nil {
		d, err := ParseDuration(*h.Delay)
		if err != nil {
			return HTTPParams{}, fmt.Errorf("fault %q: %w", f.Name, err)
		}
		p.Delay = d.Duration
	}
	return p, nil
}

// rateUnits are Chaos Mesh's (and tc's) bandwidth units in bytes per
// second: "bit" units are bits, "bps" units are bytes; k, m, g, t are
// powers of 1000. Longest first, so "kbit" is not read as "bit".
var rateUnits = []struct {
	suffix string
	factor float64
}{
	{"kbit", 1e3 / 8}, {"mbit", 1e6 / 8}, {"gbit", 1e9 / 8}, {"tbit", 1e12 / 8},
	{"kbps", 1e3}, {"mbps", 1e6}, {"gbps", 1e9}, {"tbps", 1e12},
	{"bps", 1}, {"bit", 1.0 / 8},
}

// ParseRate reads a Chaos Mesh bandwidth rate ("1mbps", "8mbit") into
// bytes per second, accepting what Chaos Mesh accepts: an integer and a
// unit, case-insensitive.
func ParseRate(s string) (int64, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	for _, u := range rateUnits {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(num), 10, 64)
			if err != nil {
				break
			}
			bps := float64(n) * u.factor
			if bps > math.MaxInt64/2 {
				return 0, fmt.Errorf("rate %q is too large", s)
			}
			return int64(bps), nil
		}
	}
	return 0, fmt.Errorf("bad rate %q; write an integer and a unit: bit, kbit, mbit, gbit, tbit (bits/s) or bps, kbps, mbps, gbps, tbps (bytes/s), e.g. \"1mbps\"", s)
}

// splitPort splits host:port, with the port as a number.
func splitPort(hostport string) (string, int32, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port in %q", hostport)
	}
	return host, int32(n), nil
}

// Misfit says why the fault cannot act on upstream u through aftershock's
// own proxies, or "" when it can: httpChaos needs an upstream whose proxy
// parses HTTP (protocol http, h2c or grpc), grpcChaos one of protocol grpc.
// The loader, the suites (which swap in their target's upstreams) and the
// runner all ask it.
func (f *Fault) Misfit(u *Upstream) string {
	switch {
	case u == nil:
		return ""
	case f.Kind() == KindHTTP && !u.Protocol.SpeaksHTTP():
		return fmt.Sprintf("httpChaos needs an http upstream, and upstream %q is protocol %s; set protocol: http on it (or h2c, grpc; each also takes networkChaos)", u.Name, u.Protocol)
	case f.Kind() == KindGRPC && u.Protocol != ProtocolGRPC:
		return fmt.Sprintf("grpcChaos needs a grpc upstream, and upstream %q is protocol %s; set protocol: grpc on it (it also takes httpChaos and networkChaos)", u.Name, u.Protocol)
	}
	return ""
}
