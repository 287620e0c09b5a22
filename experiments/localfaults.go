package experiments

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"

	"github.com/aftershock/aftershock/injectors/httpfault"
	"github.com/aftershock/aftershock/injectors/netns"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// What the local engines make of a fault block: the userspace proxy's
// faults, the kernel's, and the proxy's HTTP layer's. The runner and
// `aftershock proxy`'s API both build their faults here.

// ProxyFault maps a networkChaos block onto the proxy's faults.
//
// A partition keeps its direction: to (the default) cuts what the upstream
// sends, so requests arrive and their answers do not — the partition that
// leaves callers without deadlines waiting forever. partition with behavior
// reject maps to Reset in the same direction: new connections are reset,
// and an open one at the first byte of the rejected direction (both: at
// once). bandwidth keeps its buffer (the bucket) and limit (the bytes read
// ahead of the pace; a stream proxy slows the sender rather than dropping).
func ProxyFault(np NetworkParams) (proxy.Fault, error) {
	dir, err := proxyDirection(np.Direction)
	if err != nil {
		return nil, err
	}
	var f proxy.Fault
	switch np.Action {
	case v1alpha1.DelayAction:
		f = proxy.Delay{Direction: dir, Latency: np.Latency, Jitter: np.Jitter}
	case v1alpha1.PartitionAction:
		if np.PartitionBehavior == v1alpha1.RejectPartitionBehavior {
			f = proxy.Reset{Direction: dir}
		} else {
			f = proxy.Partition{Direction: dir}
		}
	case v1alpha1.BandwidthAction:
		f = proxy.Bandwidth{Direction: dir, Rate: np.BandwidthBytesPerSecond, Burst: np.BurstBytes, Queue: np.QueueBytes}
	default:
		return nil, fmt.Errorf("action %q is not available on the proxy engine; allowed: delay, partition, bandwidth", np.Action)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// NetnsFault maps a networkChaos block onto the kernel's faults. A
// partition with behavior reject is not one of them: the kernel would have
// to forge resets, which the proxy engine does.
func NetnsFault(np NetworkParams) (netns.Fault, error) {
	dir, err := proxyDirection(np.Direction)
	if err != nil {
		return nil, err
	}
	var f netns.Fault
	switch np.Action {
	case v1alpha1.PartitionAction:
		if np.PartitionBehavior == v1alpha1.RejectPartitionBehavior {
			return nil, fmt.Errorf("partitionBehavior reject is not available on the netns engine (allowed: drop); the proxy engine resets connections")
		}
		f = netns.Partition{Direction: dir}
	case v1alpha1.LossAction:
		f = netns.Loss{Direction: dir, Percent: np.Loss}
	case v1alpha1.BandwidthAction:
		f = netns.Bandwidth{Direction: dir, Rate: np.BandwidthBytesPerSecond, Burst: np.BurstBytes, Queue: np.QueueBytes}
	case v1alpha1.DelayAction:
		f = netns.Delay{Direction: dir, Latency: np.Latency, Jitter: np.Jitter}
	default:
		return nil, fmt.Errorf("action %q is not available on the netns engine; allowed: delay (with netem), loss, partition, bandwidth", np.Action)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

func proxyDirection(d v1alpha1.Direction) (proxy.Direction, error) {
	if d == "" {
		return proxy.To, nil
	}
	return proxy.ParseDirection(string(d))
}

// HTTPFault maps an httpChaos block onto the HTTP layer's faults.
func HTTPFault(hp HTTPParams) httpfault.Fault {
	f := httpfault.Fault{
		Target: httpfault.Target(hp.Target),
		Selector: httpfault.Selector{
			Method:          hp.Match.Method,
			Path:            hp.Match.Path,
			Code:            hp.Match.Code,
			RequestHeaders:  hp.Match.RequestHeaders,
			ResponseHeaders: hp.Match.ResponseHeaders,
		},
		Abort: hp.Abort,
		Delay: hp.Delay,
	}
	if r := hp.Replace; r != nil {
		rep := &httpfault.Replace{Body: r.Body, Queries: r.Queries, Headers: r.Headers}
		if r.Path != nil {
			rep.Path = *r.Path
		}
		if r.Method != nil {
			rep.Method = *r.Method
		}
		if r.Code != nil {
			rep.Code = int(*r.Code)
		}
		f.Replace = rep
	}
	if p := hp.Patch; p != nil {
		pat := &httpfault.Patch{Queries: p.Queries, Headers: p.Headers}
		if p.Body != nil {
			pat.Body = &httpfault.PatchBody{Type: p.Body.Type, Value: p.Body.Value}
		}
		f.Patch = pat
	}
	return f
}

// GRPCFault maps a grpcChaos block onto the HTTP/2 proxy's gRPC fault.
func GRPCFault(g *GRPCChaos) (httpfault.GRPCFault, error) {
	f := httpfault.GRPCFault{Methods: g.Methods, ExcludeMethods: g.ExcludedMethods, Reset: g.Reset}
	if g.Percent != nil {
		f.Percent = g.Percent.Value
	}
	if d := g.Delay; d != nil {
		f.Delay, f.Jitter = d.Latency.Duration, d.Jitter.Duration
	}
	if a := g.Abort; a != nil {
		code, err := GRPCCode(a.Code)
		if err != nil {
			return httpfault.GRPCFault{}, err
		}
		f.Abort = &httpfault.Status{Code: code, Message: a.Message}
	}
	return f, f.Validate()
}

// GRPCCode reads a gRPC status code by its name, as gRPC's documentation
// (Unavailable) or its protocol (UNAVAILABLE) writes it; OK is no fault.
func GRPCCode(name string) (codes.Code, error) {
	if strings.EqualFold(name, "cancelled") {
		return codes.Canceled, nil // the protocol's spelling of Go's Canceled
	}
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		n := c.String()
		if strings.EqualFold(name, n) || strings.EqualFold(strings.ReplaceAll(name, "_", ""), n) {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown gRPC status code %q; allowed: %s", name, strings.Join(GRPCCodeNames(), ", "))
}

// GRPCCodeNames lists the gRPC error codes by name.
func GRPCCodeNames() []string {
	var out []string
	for c := codes.Canceled; c <= codes.Unauthenticated; c++ {
		out = append(out, c.String())
	}
	return out
}

// StartProxy starts the userspace fault proxy an upstream of this protocol
// runs on, from listen to forward: the TCP proxy (tcp), the HTTP/1.1
// fault proxy (http) or the HTTP/2 one (h2c, grpc). hp is nil for tcp;
// network faults go to net, which for HTTP/2 is the proxy's upstream leg.
// Closing hp (or net, for tcp) closes it all.
func StartProxy(protocol Protocol, listen, forward string) (net *proxy.Proxy, hp *httpfault.Proxy, err error) {
	switch {
	case protocol == ProtocolHTTP:
		hp, err = httpfault.New(listen, forward)
	case protocol.HTTP2():
		hp, err = httpfault.NewH2(listen, forward)
	default:
		net, err = proxy.New(listen, forward)
		return net, nil, err
	}
	if err != nil {
		return nil, nil, err
	}
	return hp.Network(), hp, nil
}
