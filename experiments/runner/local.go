package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/injectors/httpfault"
	"github.com/aftershock/aftershock/injectors/netns"
	"github.com/aftershock/aftershock/injectors/proxy"
	"github.com/aftershock/aftershock/injectors/stall"
)

// localEngine runs a drill's faults on this machine: a fault proxy per
// upstream (experiments.StartProxy: HTTP/1.1-aware for protocol http,
// HTTP/2 for h2c and grpc), a namespace with a relay per netns upstream,
// and stalled clients against the target.
type localEngine struct {
	d        *experiments.Drill
	tcp      map[string]*proxy.Proxy     // every upstream's network proxy (a netns upstream's relay)
	http     map[string]*httpfault.Proxy // upstreams of protocol http, h2c or grpc
	hosts    map[string]*netns.Host      // upstreams on engine netns
	stallers map[string]*stall.Stall
}

func newLocalEngine(d *experiments.Drill) *localEngine {
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
		case experiments.EngineNetns:
			h, err := netns.New(u.Listen, u.Forward)
			if err != nil {
				return fmt.Errorf("upstream %s: netns host %s → %s: %w", u.Name, u.Listen, u.Forward, err)
			}
			e.hosts[u.Name], e.tcp[u.Name] = h, h.Relay()
			continue
		case "", experiments.EngineProxy:
		default:
			continue
		}
		np, hp, err := experiments.StartProxy(u.Protocol, u.Listen, u.Forward)
		if err != nil {
			return fmt.Errorf("upstream %s: %s fault proxy %s → %s: %w", u.Name, u.Protocol, u.Listen, u.Forward, err)
		}
		e.tcp[u.Name] = np
		if hp != nil {
			e.http[u.Name] = hp
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

// calls returns a counter of the calls the service has made to upstream,
// read at its fault proxy's HTTP layer; nil when that upstream has none.
func (e *localEngine) calls(upstream string) func() int64 {
	if p := e.http[upstream]; p != nil {
		return p.Requests
	}
	return nil
}

// injector builds the injector of one fault; network and HTTP faults need
// start to have opened their upstream's proxy.
func (e *localEngine) injector(f *experiments.Fault) (injectors.Injector, error) {
	switch f.Kind() {
	case experiments.KindNetwork:
		np, err := f.Network()
		if err != nil {
			return nil, err
		}
		if f.Engine == experiments.EngineNetns {
			h := e.hosts[f.Upstream]
			if h == nil {
				return nil, fmt.Errorf("fault %s: upstream %q is not on engine netns", f.Name, f.Upstream)
			}
			kf, err := experiments.NetnsFault(np)
			if err != nil {
				return nil, fmt.Errorf("%s: fault %s: %w", e.d.Where("spec.faults"), f.Name, err)
			}
			return h.Injector(f.Name, kf), nil
		}
		pf, err := experiments.ProxyFault(np)
		if err != nil {
			return nil, fmt.Errorf("%s: fault %s: %w", e.d.Where("spec.faults"), f.Name, err)
		}
		p := e.tcp[f.Upstream]
		if p == nil {
			return nil, fmt.Errorf("fault %s: upstream %q has no fault proxy", f.Name, f.Upstream)
		}
		return p.Injector(f.Name, pf), nil
	case experiments.KindHTTP:
		hp, err := f.HTTP()
		if err != nil {
			return nil, err
		}
		hf := experiments.HTTPFault(hp)
		if err := hf.Validate(); err != nil {
			return nil, fmt.Errorf("fault %s: %w", f.Name, err)
		}
		p := e.http[f.Upstream]
		if p == nil {
			return nil, fmt.Errorf("fault %s: upstream %q is not an http upstream", f.Name, f.Upstream)
		}
		return p.Injector(f.Name, hf), nil
	case experiments.KindGRPC:
		gf, err := experiments.GRPCFault(f.GRPCChaos)
		if err != nil {
			return nil, fmt.Errorf("%s: fault %s: %w", e.d.Where("spec.faults"), f.Name, err)
		}
		p := e.http[f.Upstream]
		if p == nil {
			return nil, fmt.Errorf("fault %s: upstream %q is not a grpc upstream", f.Name, f.Upstream)
		}
		return p.GRPCInjector(f.Name, gf), nil
	case experiments.KindStall:
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
