package httpfault

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// Proxy is a TCP fault proxy that parses HTTP/1.1 and applies HTTP faults
// per request, besides the network faults of its Network proxy.
type Proxy struct {
	net *proxy.Proxy

	mu     sync.Mutex
	closed bool
	faults injectors.Leases[Fault]
	rules  atomic.Pointer[[]*rule] // oldest first; read once per message
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

// New starts a proxy from listen to forward (see proxy.New; opts are passed
// on) that parses HTTP/1.1 on every connection.
func New(listen, forward string, opts ...proxy.Option) (*Proxy, error) {
	p := &Proxy{}
	p.rules.Store(&[]*rule{})
	np, err := proxy.New(listen, forward, append(opts, proxy.WithHandler(p.handle))...)
	if err != nil {
		return nil, fmt.Errorf("http fault proxy: %w", err)
	}
	p.net = np
	return p, nil
}

// Requests is how many HTTP/1.1 requests the proxy has read from its
// clients so far: the calls the service made to its upstream, counted
// before any fault acts on them (a circuit breaker that opens stops them).
func (p *Proxy) Requests() int64 { return p.requests.Load() }

// Network is the underlying TCP proxy, for network faults (delay,
// partition, ...) on the same connections.
func (p *Proxy) Network() *proxy.Proxy { return p.net }

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() net.Addr { return p.net.Addr() }

// Close closes the proxy and every connection, cancels the leases and waits
// for every goroutine.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.faults.StopAll()
	p.mu.Unlock()
	return p.net.Close()
}

// Add sets fault f under name; from then on it acts on every message read,
// on open keep-alive connections too. A positive lease makes the fault
// remove itself when it runs out.
func (p *Proxy) Add(name string, f Fault, lease time.Duration) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("add http fault %q: %w", name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("add http fault %q: %w", name, proxy.ErrClosed)
	}
	if _, err := p.faults.Add(name, f, lease, p.expire); err != nil {
		return fmt.Errorf("add http fault %q: %w", name, err)
	}
	p.publishLocked()
	return nil
}

func (p *Proxy) expire(name string, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.faults.Expire(name, seq); ok {
		p.publishLocked()
	}
}

// Remove clears the HTTP fault name.
func (p *Proxy) Remove(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.faults.Remove(name); err != nil {
		return fmt.Errorf("remove http fault %q: %w", name, err)
	}
	p.publishLocked()
	return nil
}

// RemoveAll clears every HTTP fault (not the network faults).
func (p *Proxy) RemoveAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults.RemoveAll()
	p.publishLocked()
}

// Faults lists the HTTP faults that are set, oldest first.
func (p *Proxy) Faults() []Active {
	rs := *p.rules.Load()
	out := make([]Active, len(rs))
	for i, r := range rs {
		out[i] = r.Active
	}
	return out
}

func (p *Proxy) publishLocked() {
	ls := p.faults.Sorted()
	rs := make([]*rule, len(ls))
	for i, l := range ls {
		rs[i] = &rule{Active: Active{Name: l.Name, Fault: l.Fault, Added: l.Added, Expires: l.Expires}, match: newMatcher(l.Fault.Selector)}
	}
	p.rules.Store(&rs)
}
