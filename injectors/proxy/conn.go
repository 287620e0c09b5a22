package proxy

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is one forwarded connection: the accepted client socket, the dialed
// upstream socket and the two pumps between them. Handlers see it; its
// methods are safe for concurrent use.
type Conn struct {
	p                *Proxy
	client, upstream *net.TCPConn
	start            time.Time

	// mu orders a wake (deadline in the past after a new plan is published)
	// against a pump loading its plan and resetting its deadline, so that a
	// pump never misses a plan change.
	mu  sync.Mutex
	src [2]net.Conn // what each direction's pump reads: the socket, or a handler's stream

	done      chan struct{} // closed when the connection is torn down
	closeOnce sync.Once
	pumps     atomic.Int32 // pumps still running
	// peerGone[d] is set when the sender of direction d closed or reset
	// during a partition and the proxy swallowed it: the next bytes the
	// other side sends get a RST.
	peerGone [2]atomic.Bool
	// seen[d] is the generation of the last plan direction d's pump
	// loaded, so that Add can wait until every pump has taken a fault on.
	seen [2]atomic.Uint64
	// draws are the connection's draws of the faults set on a share of
	// the connections (Sometimes).
	draws *draws
	// resetOnce starts a ResetPeer's clock once; resetTimer is its clock.
	resetOnce  sync.Once
	resetTimer *time.Timer
}

func newConn(p *Proxy, client, upstream *net.TCPConn, dr *draws) *Conn {
	c := &Conn{p: p, client: client, upstream: upstream, start: time.Now(), done: make(chan struct{}), draws: dr}
	c.src[To], c.src[From] = upstream, client
	c.pumps.Store(2)
	return c
}

// Client is the accepted socket of the service that connected.
func (c *Conn) Client() net.Conn { return c.client }

// Upstream is the socket dialed to the forward address.
func (c *Conn) Upstream() net.Conn { return c.upstream }

// Done is closed when the connection is torn down.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Go runs f in a goroutine that the proxy's Close waits for. f must return
// once Done is closed.
func (c *Conn) Go(f func()) { c.goTracked(f) }

// Close tears the connection down: both sockets and the handler's streams.
func (c *Conn) Close() { c.close() }

// Reset tears the connection down with a RST to both sides.
func (c *Conn) Reset() { c.reset() }

func (c *Conn) goTracked(f func()) { c.p.wg.Go(f) }

// wake makes direction d's pump look at its plan again: a read deadline in
// the past interrupts a blocked read or splice at once.
func (c *Conn) wake(d Direction) {
	c.mu.Lock()
	c.src[d].SetReadDeadline(aLongTimeAgo)
	c.mu.Unlock()
}

// aLongTimeAgo is a deadline in the past, for waking a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// load returns direction d's current plan and sets the read deadline it
// implies (a timeout's close time, or none), clearing any wake.
func (c *Conn) load(d Direction) *plan {
	c.mu.Lock()
	defer c.mu.Unlock()
	pl := c.plan(d)
	c.src[d].SetReadDeadline(pl.closeAt(c.start))
	c.seen[d].Store(pl.gen)
	return pl
}

// plan is direction d's current plan for this connection.
func (c *Conn) plan(d Direction) *plan { return c.draws.plan(c.p.plans[d].Load(), d) }

// resetAfter resets the connection after d (a ResetPeer), once: later calls
// do nothing. It reports whether the connection was reset already.
func (c *Conn) resetAfter(d time.Duration) bool {
	now := false
	c.resetOnce.Do(func() {
		if d <= 0 {
			now = true
			return
		}
		c.mu.Lock()
		c.resetTimer = time.AfterFunc(d, c.reset)
		c.mu.Unlock()
	})
	if now {
		c.reset()
	}
	return now
}

// sender is the socket the bytes of direction d come from.
func (c *Conn) sender(d Direction) *net.TCPConn {
	if d == To {
		return c.upstream
	}
	return c.client
}

func (c *Conn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		c.client.Close()
		c.upstream.Close()
		c.mu.Lock()
		if c.resetTimer != nil {
			c.resetTimer.Stop()
		}
		for d, s := range c.src {
			if s != c.sender(Direction(d)) {
				s.Close()
			}
		}
		c.mu.Unlock()
		c.p.untrack(c)
	})
}

// reset tears the connection down with a RST both ways.
func (c *Conn) reset() {
	c.client.SetLinger(0)
	c.upstream.SetLinger(0)
	c.close()
}

// pumpDone is called by each pump as it returns; the last one closes.
func (c *Conn) pumpDone() {
	if c.pumps.Add(-1) == 0 {
		c.close()
	}
}

// resetTCP closes s with a RST.
func resetTCP(s *net.TCPConn) {
	s.SetLinger(0)
	s.Close()
}
