package experiments

import (
	"context"
	"errors"
	"fmt"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"

	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/injectors/httpfault"
	"github.com/aftershock/aftershock/injectors/proxy"
	"github.com/aftershock/aftershock/injectors/stall"
)

// localEngine runs a drill's faults on this machine: a fault proxy per
// upstream (an HTTP-aware one for protocol: http) and stalled clients
// against the target.
type localEngine struct {
	d        *Drill
	tcp      map[string]*proxy.Proxy     // every upstream's network proxy
	http     map[string]*httpfault.Proxy // upstreams declared protocol: http
	stallers map[string]*stall.Stall
}

func newLocalEngine(d *Drill) *localEngine {
	return &localEngine{
		d:        d,
		tcp:      map[string]*proxy.Proxy{},
		http:     map[string]*httpfault.Proxy{},
		stallers: map[string]*stall.Stall{},
	}
}

// start opens the proxies' listeners: a busy port fails here, before
// anything is injected.
func (e *localEngine) start() error {
	for _, u := range e.d.Spec.Upstreams {
		if u.Engine != "" && u.Engine != EngineProxy {
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
