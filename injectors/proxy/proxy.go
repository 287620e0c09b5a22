package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aftershock/aftershock/injectors"
)

// Proxy forwards every connection accepted on its listen address to the
// forward address, applying the faults that are set.
type Proxy struct {
	addr    net.Addr // where the proxy listens, also while Down
	forward string
	// relisten opens the listener again when a Down is cleared; nil for a
	// proxy made by Serve, which cannot.
	relisten func() (*net.TCPListener, error)
	opts     options
	ctx      context.Context // cancelled by Close
	cancel   context.CancelFunc

	mu     sync.Mutex
	ln     *net.TCPListener // nil while Down
	closed bool
	seq    uint64 // fault order
	gen    uint64 // plan generations
	faults injectors.Leases[Fault]
	conns  map[*Conn]struct{}

	plans [2]atomic.Pointer[plan] // per direction, indexed by To and From
	wg    sync.WaitGroup          // every goroutine the proxy started
}

// ErrClosed is returned by the methods of a closed Proxy.
var ErrClosed = errors.New("proxy closed")

// New listens on listen (127.0.0.1:0 picks a free port; see Addr) and starts
// forwarding every accepted connection to forward.
func New(listen, forward string, opts ...Option) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("proxy listen %s: %w", listen, err)
	}
	addr := ln.Addr().String() // the port picked, so that Down comes back on it
	relisten := func() (*net.TCPListener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		return ln.(*net.TCPListener), nil
	}
	return serve(ln.(*net.TCPListener), forward, relisten, opts), nil
}

// Serve starts forwarding every connection accepted on ln to forward; the
// proxy owns ln from then on. It is New for a listener opened elsewhere
// (package netns opens one inside a network namespace).
func Serve(ln *net.TCPListener, forward string, opts ...Option) *Proxy {
	return serve(ln, forward, nil, opts)
}

func serve(ln *net.TCPListener, forward string, relisten func() (*net.TCPListener, error), opts []Option) *Proxy {
	o := defaultOptions()
	for _, opt := range opts {
		opt.apply(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		ln: ln, addr: ln.Addr(), relisten: relisten, forward: forward, opts: o, ctx: ctx, cancel: cancel,
		conns: map[*Conn]struct{}{},
	}
	p.plans[To].Store(newPlan())
	p.plans[From].Store(newPlan())
	p.wg.Go(func() { p.acceptLoop(ln) })
	return p
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() net.Addr { return p.addr }

// Forward is the address the proxy forwards to.
func (p *Proxy) Forward() string { return p.forward }

// Close stops listening, closes every connection, cancels every lease and
// waits until every goroutine of the proxy has returned. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	p.faults.StopAll()
	conns := make([]*Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	ln := p.ln
	p.mu.Unlock()
	p.cancel()
	var err error
	if ln != nil {
		err = ln.Close()
	}
	for _, c := range conns {
		c.close()
	}
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("proxy close: %w", err)
	}
	return nil
}

// acceptLoop accepts on ln until it is closed: by Close, or by a Down,
// whose clearing starts a loop on the new listener.
func (p *Proxy) acceptLoop(ln *net.TCPListener) {
	var backoff time.Duration
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if p.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-p.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		p.wg.Go(func() { p.serve(c) })
	}
}

// serve holds a new connection while a partition is set, resets it while a
// reset is set, dials the upstream and then pumps the To direction itself;
// a second goroutine pumps From.
func (p *Proxy) serve(client *net.TCPConn) {
	dr := &draws{}
	for {
		pl := dr.plan(p.plans[To].Load(), To)
		if pl.down {
			client.Close() // accepted just before the listener closed
			return
		}
		if pl.resetNew {
			resetTCP(client)
			return
		}
		if !pl.holdNew {
			break
		}
		select {
		case <-pl.changed:
		case <-p.ctx.Done():
			client.Close()
			return
		}
	}
	d := net.Dialer{Timeout: p.opts.dialTimeout}
	uc, err := d.DialContext(p.ctx, "tcp", p.forward)
	if err != nil {
		client.Close()
		return
	}
	c := newConn(p, client, uc.(*net.TCPConn), dr)
	// The handler's streams replace the sockets as what the pumps read
	// before the connection is tracked: a fault set meanwhile wakes a pump
	// by a read deadline in the past on what it reads, and must never land
	// on a socket the handler reads instead (its read would fail).
	if h := p.opts.handler; h != nil {
		from, to := h(c)
		c.mu.Lock()
		c.src[From], c.src[To] = from, to
		c.mu.Unlock()
	}
	if !p.track(c) {
		c.close()
		return
	}
	up := &pump{c: c, d: From, src: c.src[From], dst: c.upstream}
	p.wg.Go(up.run)
	(&pump{c: c, d: To, src: c.src[To], dst: c.client}).run()
}

// listenLocked stops listening while a Down is set and listens again once
// it is cleared. p.mu is held.
func (p *Proxy) listenLocked() error {
	down := p.plans[To].Load().down
	switch {
	case p.closed:
	case down && p.ln != nil:
		p.ln.Close() // its accept loop returns
		p.ln = nil
	case !down && p.ln == nil:
		ln, err := p.relisten()
		if err != nil {
			// The next change of the faults tries again.
			return fmt.Errorf("listening again on %s after down: %w", p.addr, err)
		}
		p.ln = ln
		p.wg.Go(func() { p.acceptLoop(ln) })
	}
	return nil
}

// track registers c so that faults wake it and Close closes it; it reports
// false once the proxy is closed.
func (p *Proxy) track(c *Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c *Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Conns is the number of connections currently forwarded (held ones, not
// yet dialed during a partition, are not counted).
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}
