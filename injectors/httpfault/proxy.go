package httpfault

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aftershock/aftershock/injectors/proxy"
)

// Proxy is a TCP fault proxy that parses HTTP/1.1 and applies HTTP faults
// per request, besides the network faults of its Network proxy.
type Proxy struct {
	net *proxy.Proxy

	mu     sync.Mutex
	closed bool
	seq    uint64
	faults map[string]*rule
	rules  atomic.Pointer[[]*rule] // oldest first; read once per message
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

type rule struct {
	Active
	seq   uint64
	match matcher
	lease *time.Timer
}

// New starts a proxy from listen to forward (see proxy.New; opts are passed
// on) that parses HTTP/1.1 on every connection.
func New(listen, forward string, opts ...proxy.Option) (*Proxy, error) {
	p := &Proxy{faults: map[string]*rule{}}
	p.rules.Store(&[]*rule{})
	np, err := proxy.New(listen, forward, append(opts, proxy.WithHandler(p.handle))...)
	if err != nil {
		return nil, fmt.Errorf("http fault proxy: %w", err)
	}
	p.net = np
	return p, nil
}

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
	for _, r := range p.faults {
		if r.lease != nil {
			r.lease.Stop()
		}
	}
	p.mu.Unlock()
	return p.net.Close()
}

// Add sets fault f under name; from then on it acts on every message read,
// on open keep-alive connections too. A positive lease makes the fault
// remove itself when it runs out.
func (p *Proxy) Add(name string, f Fault, lease time.Duration) error {
	if name == "" {
		return errors.New("add http fault: empty name")
	}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("add http fault %q: %w", name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("add http fault %q: %w", name, proxy.ErrClosed)
	}
	if _, ok := p.faults[name]; ok {
		return fmt.Errorf("add http fault %q: %w", name, proxy.ErrDuplicate)
	}
	p.seq++
	now := time.Now()
	r := &rule{Active: Active{Name: name, Fault: f, Added: now}, seq: p.seq, match: newMatcher(f.Selector)}
	if lease > 0 {
		r.Expires = now.Add(lease)
		seq := r.seq
		r.lease = time.AfterFunc(lease, func() { p.expire(name, seq) })
	}
	p.faults[name] = r
	p.publishLocked()
	return nil
}

func (p *Proxy) expire(name string, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.faults[name]; ok && r.seq == seq {
		delete(p.faults, name)
		p.publishLocked()
	}
}

// Remove clears the HTTP fault name.
func (p *Proxy) Remove(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.faults[name]
	if !ok {
		return fmt.Errorf("remove http fault %q: %w", name, proxy.ErrNotFound)
	}
	if r.lease != nil {
		r.lease.Stop()
	}
	delete(p.faults, name)
	p.publishLocked()
	return nil
}

// RemoveAll clears every HTTP fault (not the network faults).
func (p *Proxy) RemoveAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, r := range p.faults {
		if r.lease != nil {
			r.lease.Stop()
		}
		delete(p.faults, name)
	}
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
	rs := make([]*rule, 0, len(p.faults))
	for _, r := range p.faults {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b *rule) int { return cmp.Compare(a.seq, b.seq) })
	p.rules.Store(&rs)
}
