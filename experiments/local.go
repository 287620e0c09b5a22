package experiments

import (
	"context"
	"errors"
	"fmt"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"

	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/injectors/httpfault"
	"github.com/aftershock/aftershock/injectors/netns"
	"github.com/aftershock/aftershock/injectors/proxy"
	"github.com/aftershock/aftershock/injectors/stall"
)

// localEngine runs a drill's faults on this machine: a fault proxy per
// upstream (an HTTP-aware one for protocol: http), a namespace with a
// relay per netns upstream, and stalled clients against the target.
type localEngine struct {
	d        *Drill
	tcp      map[string]*proxy.Proxy     // every upstream's network proxy (a netns upstream's relay)
	http     map[string]*httpfault.Proxy // upstreams declared protocol: http
	hosts    map[string]*netns.Host      // upstreams on engine netns
	stallers map[string]*stall.Stall
}

func newLocalEngine(d *Drill) *localEngine {
	return &localEngine{
		d:        d,
		tcp:      map[string]*proxy.Proxy{},
		http:     map[string]*httpfault.Proxy{},
		hosts:    map[string]*netns.Host{},
		stallers: map[string]*stall.Stall{},
	}
}

// start opens the proxies' listeners: a busy port fails here, before
// anything is injected.
func (e *localEngine) start() error {
	for _, u := range e.d.Spec.Upstreams {
		switch u.Engine {
		case EngineNetns:
			h, err := netns.New(u.Listen, u.Forward)
			if err != nil {
				return fmt.Errorf("upstream %s: netns host %s → %s: %w", u.Name, u.Listen, u.Forward, err)
			}
			e.hosts[u.Name], e.tcp[u.Name] = h, h.Relay()
			continue
		case "", EngineProxy:
		default:
			continue
		}
		switch u.Protocol {
		case ProtocolHTTP:
			p, err := httpfault.New(u.Listen, u.Forward)
			if err != nil {
				return fmt.Errorf("upstream %s: http fault proxy %s → %s: %w", u.Name, u.Listen, u.Forward, err)
			}
			e.http[u.Name], e.tcp[u.Name] = p, p.Network()
		default:
			p, err := proxy.New(u.Listen, u.Forward)
			if err != nil {
				return fmt.Errorf("upstream %s: fault proxy %s → %s: %w", u.Name, u.Listen, u.Forward, err)
			}
			e.tcp[u.Name] = p
		}
	}
	return nil
}

// close closes every proxy, which also removes their faults and closes
// every connection through them.
func (e *localEngine) close(context.Context) error {
	var errs []error
	for name, h := range e.hosts {
		errs = append(errs, h.Close()) // its relay too
		delete(e.tcp, name)
	}
	for name, p := range e.http {
		errs = append(errs, p.Close())
		delete(e.tcp, name)
	}
	for _, p := range e.tcp {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// injector builds the injector of one fault; network and HTTP faults need
// start to have opened their upstream's proxy.
func (e *localEngine) injector(f *Fault) (injectors.Injector, error) {
	switch f.Kind() {
	case KindNetwork:
		np, err := f.Network()
		if err != nil {
			return nil, err
		}
		if f.Engine == EngineNetns {
			h := e.hosts[f.Upstream]
			if h == nil {
				return nil, fmt.Errorf("fault %s: upstream %q is not on engine netns", f.Name, f.Upstream)
			}
			kf, err := NetnsFault(np)
			if err != nil {
				return nil, fmt.Errorf("%s: fault %s: %w", e.d.Where("spec.faults"), f.Name, err)
			}
			return h.Injector(f.Name, kf), nil
		}
		pf, err := ProxyFault(np)
		if err != nil {
			return nil, fmt.Errorf("%s: fault %s: %w", e.d.Where("spec.faults"), f.Name, err)
		}
		p := e.tcp[f.Upstream]
		if p == nil {
			return nil, fmt.Errorf("fault %s: upstream %q has no fault proxy", f.Name, f.Upstream)
		}
		return p.Injector(f.Name, pf), nil
	case KindHTTP:
		hp, err := f.HTTP()
		if err != nil {
			return nil, err
		}
		hf := HTTPFault(hp)
		if err := hf.Validate(); err != nil {
			return nil, fmt.Errorf("fault %s: %w", f.Name, err)
		}
		p := e.http[f.Upstream]
		if p == nil {
			return nil, fmt.Errorf("fault %s: upstream %q is not an http upstream", f.Name, f.Upstream)
		}
		return p.Injector(f.Name, hf), nil
	case KindStall:
		if s := e.stallers[f.Name]; s != nil {
			return s, nil
		}
		s, err := stall.New(e.d.Spec.Target.URL, f.StalledClients.Config())
		if err != nil {
			return nil, fmt.Errorf("fault %s: %w", f.Name, err)
		}
		e.stallers[f.Name] = s
		return s, nil
	}
	return nil, fmt.Errorf("fault %s holds no fault block", f.Name)
}

// ProxyFault maps a networkChaos block onto the proxy's faults.
//
// A partition keeps its direction: to (the default) cuts what the upstream
// sends, so requests arrive and their answers do not — the partition that
// leaves callers without deadlines waiting forever. partition with behavior
// reject maps to Reset: the peers see connections reset instead of
// hanging.
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
			f = proxy.Reset{}
		} else {
			f = proxy.Partition{Direction: dir}
		}
	case v1alpha1.BandwidthAction:
		f = proxy.Bandwidth{Direction: dir, Rate: np.BandwidthBytesPerSecond}
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
