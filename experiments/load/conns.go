package load

import (
	"context"
	"errors"
	"net"
	"sync"
)

// connSet remembers the load's open connections so that Pause can close
// every one of them. CloseIdleConnections alone is not enough: net/http
// puts a connection back in its idle pool from the connection's own
// goroutine, after the caller has read the body, so a connection whose
// last response was read just before Pause can reach the pool after
// CloseIdleConnections ran. It then sits in the service as an idle
// server connection for the whole settle and looks like a leak (seen in
// CI: one extra http1-server connection and its conn.serve goroutine).
// For the same reason a dial that completes after the pause is refused: the
// transport dials in the background and pools what a request it dialled for
// no longer needs.
type connSet struct {
	mu     sync.Mutex
	open   map[*trackedConn]struct{}
	paused bool // dials are refused until resume
}

// dialer wraps d so that every connection it makes is tracked.
func (s *connSet) dialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, set: s}
		s.mu.Lock()
		if s.paused {
			s.mu.Unlock()
			_ = c.Close()
			return nil, errPaused
		}
		if s.open == nil {
			s.open = map[*trackedConn]struct{}{}
		}
		s.open[tc] = struct{}{}
		s.mu.Unlock()
		return tc, nil
	}
}

var errPaused = errors.New("the load is paused")

// pause closes every connection still open and refuses new ones until
// resume. Call it only when no request is in flight.
func (s *connSet) pause() {
	s.mu.Lock()
	open := s.open
	s.open, s.paused = nil, true
	s.mu.Unlock()
	for c := range open {
		_ = c.Conn.Close()
	}
}

// resume lets dials through again.
func (s *connSet) resume() {
	s.mu.Lock()
	s.paused = false
	s.mu.Unlock()
}

func (s *connSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}

type trackedConn struct {
	net.Conn
	set *connSet
}

func (c *trackedConn) Close() error {
	c.set.mu.Lock()
	delete(c.set.open, c)
	c.set.mu.Unlock()
	return c.Conn.Close()
}
