package httpfault

import (
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// Proxy is a fault proxy that speaks HTTP and applies HTTP faults per
// request, besides the network faults of its Network proxy. New makes one
// for HTTP/1.1 (it parses the messages on the TCP proxy's connections);
// NewH2 one for HTTP/2 without TLS (h2c, and gRPC on a plaintext port),
// which also applies gRPC faults per call.
type Proxy struct {
	net *proxy.Proxy
	h2  *h2front // nil for HTTP/1.1

	faults *ruleSet[Fault, *rule]
	calls  *ruleSet[GRPCFault, *grpcRule]
	// requests counts the requests read from clients: the calls the
	// service made to the upstream, whether or not a fault answered them.
	requests atomic.Int64
}

// Active is an HTTP fault that is set.
type Active struct {
	Name  string
	Fault Fault
	// Added is when the fault was set.
	Added time.Time
	// Expires is when its lease runs out; zero when it has none.
	Expires time.Time
}

// rule is a fault as the connections read it: published anew, oldest
// first, on every change.
type rule struct {
	Active
	match matcher
}

func newRules() *ruleSet[Fault, *rule] {
	return newRuleSet("http fault", func(l injectors.Lease[Fault]) *rule {
		return &rule{Active: Active{Name: l.Name, Fault: l.Fault, Added: l.Added, Expires: l.Expires}, match: newMatcher(l.Fault.Selector)}
	})
}

// New starts a proxy from listen to forward (see proxy.New; opts are passed
// on) that parses HTTP/1.1 on every connection.
func New(listen, forward string, opts ...proxy.Option) (*Proxy, error) {
	p := &Proxy{faults: newRules(), calls: newCallRules()}
	np, err := proxy.New(listen, forward, append(opts, proxy.WithHandler(p.handle))...)
	if err != nil {
		return nil, fmt.Errorf("http fault proxy: %w", err)
	}
	p.net = np
	return p, nil
}

// Requests is how many requests the proxy has read from its clients so
// far: the calls the service made to its upstream, counted before any
// fault acts on them (a circuit breaker that opens stops them).
func (p *Proxy) Requests() int64 { return p.requests.Load() }

// Network is the proxy for network faults (delay, partition, ...): for
// HTTP/1.1 on the same connections, for HTTP/2 on the connections to the
// upstream.
func (p *Proxy) Network() *proxy.Proxy { return p.net }

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() net.Addr {
	if p.h2 != nil {
		return p.h2.ln.Addr()
	}
	return p.net.Addr()
}

// Close closes the proxy and every connection, cancels the leases and waits
// for every goroutine.
func (p *Proxy) Close() error {
	p.faults.close()
	p.calls.close()
	if p.h2 != nil {
		p.h2.close()
	}
	return p.net.Close()
}

// Add sets fault f under name; from then on it acts on every message read,
// on open keep-alive connections too. A positive lease makes the fault
// remove itself when it runs out.
func (p *Proxy) Add(name string, f Fault, lease time.Duration) error {
	return p.faults.Add(name, f, lease)
}

// Remove clears the HTTP fault name.
func (p *Proxy) Remove(name string) error { return p.faults.Remove(name) }

// RemoveAll clears every HTTP and gRPC fault (not the network faults).
func (p *Proxy) RemoveAll() {
	p.faults.RemoveAll()
	p.calls.RemoveAll()
}

// Faults lists the HTTP faults that are set, oldest first.
func (p *Proxy) Faults() []Active {
	rs := p.faults.load()
	out := make([]Active, len(rs))
	for i, r := range rs {
		out[i] = r.Active
	}
	return out
}
