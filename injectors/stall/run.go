package stall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// run is one injection: its clients, their connections and counters. A
// Stall makes a fresh run per Inject, so a Clear that races a new Inject can
// only ever stop the run it saw.
type run struct {
	s      *Stall
	ctx    context.Context // cancelled by stop: ends dials, pauses and waits
	cancel context.CancelFunc
	dialer net.Dialer
	tick   *time.Ticker // abandon only: one tick, one request

	mu       sync.Mutex
	stopped  atomic.Bool // set under mu, read without it
	expired  atomic.Bool // the lease, not Clear, stopped the run
	conns    map[net.Conn]struct{}
	lease    *time.Timer
	firstErr error
	lastErr  error

	wg       sync.WaitGroup // every goroutine of the run, plus the launch hold
	finished chan struct{}  // closed once wg is done

	next    atomic.Int64  // clients handed to dial workers so far
	pending atomic.Int64  // clients not yet connected (or failed)
	ready   chan struct{} // closed when pending reaches zero
	failed  atomic.Int64  // clients whose first connect failed

	counters
}

// counters are the live figures behind Stats.
type counters struct {
	goroutines   atomic.Int64
	connected    atomic.Int64
	dialed       atomic.Int64
	serverClosed atomic.Int64
	requests     atomic.Int64
	abandoned    atomic.Int64
	answered     atomic.Int64
	bytesSent    atomic.Int64
	bytesRead    atomic.Int64
	errors       atomic.Int64
}

func newRun(s *Stall) *run {
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{
		s:        s,
		ctx:      ctx,
		cancel:   cancel,
		dialer:   net.Dialer{Timeout: s.cfg.DialTimeout},
		conns:    make(map[net.Conn]struct{}, s.cfg.Count),
		finished: make(chan struct{}),
		ready:    make(chan struct{}),
	}
	if s.cfg.Mode == SlowRead {
		r.dialer.Control = recvBufferControl(s.cfg.RecvBuffer)
	}
	if s.cfg.Mode == Abandon {
		r.tick = time.NewTicker(time.Duration(float64(time.Second) / s.cfg.Rate))
		r.pending.Store(1) // ready once the clients are started
	} else {
		r.pending.Store(int64(s.cfg.Count))
	}
	r.wg.Add(1) // the launch hold: released by launch or abort
	go func() {
		r.wg.Wait()
		close(r.finished)
	}()
	return r
}

// setLease makes the run stop on its own after d.
func (r *run) setLease(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.stopped.Load() {
		r.lease = time.AfterFunc(d, func() {
			r.expired.Store(true)
			r.stop()
		})
	}
}

// preflight connects once, so that an unreachable target fails Inject with
// one clear error instead of Count identical ones.
func (r *run) preflight(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("connecting to %s: %w", r.s.target.raw, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(r.ctx, cancel)()
	conn, err := r.dialer.DialContext(ctx, "tcp", r.s.target.addr)
	switch {
	case r.stopped.Load():
		return fmt.Errorf("%s: %s while connecting", r.s, r.stopReason())
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("connecting to %s: %w", r.s.target.raw, err)
	case err != nil:
		return fmt.Errorf("target %s is unreachable: %w", r.s.target.raw, err)
	}
	return conn.Close()
}

// launch starts the clients and releases the launch hold. Connection-holding
// modes connect through a few dial workers, which also send each client's
// opening bytes, so that the deep stacks of dialing stay in the workers and
// each client goroutine parks with a minimal stack.
func (r *run) launch() {
	defer r.wg.Done()
	c := r.s.cfg
	if c.Mode == Abandon {
		for range c.Count {
			r.spawn(r.abandonLoop)
		}
		r.markReady()
		return
	}
	for range min(c.DialConcurrency, c.Count) {
		r.spawn(r.dialWorker)
	}
}

// abort releases the launch hold of a run that never launched and waits
// for it to finish.
func (r *run) abort() {
	r.stop()
	r.wg.Done()
	<-r.finished
}

func (r *run) dialWorker() {
	for int(r.next.Add(1)) <= r.s.cfg.Count {
		conn, err := r.dial()
		if err != nil {
			r.connectFailed(err)
			r.markReady()
			continue
		}
		err = r.open(conn)
		r.markReady()
		r.spawn(func() { r.client(conn, err) })
	}
}

// client holds one connection until it ends, and with Reconnect opens the
// next one after Interval. openErr is the outcome of the opening bytes.
func (r *run) client(conn net.Conn, openErr error) {
	err := openErr
	for {
		if err == nil {
			err = r.hold(conn)
		}
		if !r.ended(conn, err) || !r.s.cfg.Reconnect {
			return
		}
		if conn, err = r.redial(); conn == nil {
			return
		}
	}
}

// redial waits Interval and connects again, until it succeeds or the run
// stops (then it returns a nil conn).
func (r *run) redial() (net.Conn, error) {
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for r.pause(t, r.s.cfg.Interval) {
		conn, err := r.dial()
		if err == nil {
			return conn, r.open(conn)
		}
		if r.stopped.Load() {
			return nil, nil
		}
		r.recordError(err)
	}
	return nil, nil
}

// open sends what a client sends before it stalls.
func (r *run) open(conn net.Conn) error {
	switch r.s.cfg.Mode {
	case Slowloris:
		return r.write(conn, r.s.head)
	case SlowRead:
		r.requests.Add(1)
		return r.write(conn, r.s.request)
	case Idle:
		if r.s.cfg.KeepAliveRequest {
			return r.keepAliveExchange(conn)
		}
	}
	return nil
}

// hold stalls on conn until the connection ends, and returns why.
func (r *run) hold(conn net.Conn) error {
	switch r.s.cfg.Mode {
	case Slowloris:
		return r.trickleHeaders(conn)
	case SlowRead:
		return r.readSlowly(conn)
	default:
		return r.holdIdle(conn)
	}
}

// dial connects one client and registers its connection for stop.
func (r *run) dial() (net.Conn, error) {
	conn, err := r.dialer.DialContext(r.ctx, "tcp", r.s.target.addr)
	if err != nil {
		if r.stopped.Load() {
			return nil, errStopped
		}
		return nil, err
	}
	r.mu.Lock()
	if r.stopped.Load() {
		r.mu.Unlock()
		_ = conn.Close()
		return nil, errStopped
	}
	r.conns[conn] = struct{}{}
	r.mu.Unlock()
	r.dialed.Add(1)
	r.connected.Add(1)
	return conn, nil
}

// release closes conn and forgets it, unless stop already did.
func (r *run) release(conn net.Conn) {
	r.mu.Lock()
	_, ok := r.conns[conn]
	delete(r.conns, conn)
	r.mu.Unlock()
	if ok {
		_ = conn.Close()
		r.connected.Add(-1)
	}
}

// ended releases a connection whose hold returned err and counts why it
// ended. It reports false when the run was stopped (we closed it).
func (r *run) ended(conn net.Conn, err error) bool {
	r.release(conn)
	if r.stopped.Load() {
		return false
	}
	if closedByPeer(err) {
		r.serverClosed.Add(1)
	} else {
		r.recordError(err)
	}
	return true
}

func (r *run) write(conn net.Conn, b []byte) error {
	n, err := conn.Write(b)
	r.bytesSent.Add(int64(n))
	return err
}

// pause waits d on t, reporting false if the run stopped first.
func (r *run) pause(t *time.Timer, d time.Duration) bool {
	t.Reset(d)
	select {
	case <-t.C:
		return true
	case <-r.ctx.Done():
		return false
	}
}

func (r *run) spawn(f func()) {
	r.wg.Add(1)
	r.goroutines.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.goroutines.Add(-1)
		f()
	}()
}

func (r *run) markReady() {
	if r.pending.Add(-1) == 0 {
		close(r.ready)
	}
}

func (r *run) connectFailed(err error) {
	if errors.Is(err, errStopped) {
		return
	}
	r.failed.Add(1)
	r.mu.Lock()
	if r.firstErr == nil {
		r.firstErr = err
	}
	r.mu.Unlock()
	r.recordError(err)
}

func (r *run) recordError(err error) {
	r.errors.Add(1)
	r.mu.Lock()
	r.lastErr = err
	r.mu.Unlock()
}

// connectError describes the clients that could not connect, if any.
func (r *run) connectError() error {
	n := r.failed.Load()
	if n == 0 {
		if r.stopped.Load() {
			return fmt.Errorf("%s: %s while connecting", r.s, r.stopReason())
		}
		return nil
	}
	r.mu.Lock()
	first := r.firstErr
	r.mu.Unlock()
	return fmt.Errorf("%d of %d %s clients could not connect to %s: %w", n, r.s.cfg.Count, r.s.cfg.Mode, r.s.target.raw, first)
}

func (r *run) stopReason() string {
	if r.expired.Load() {
		return "lease expired"
	}
	return "cleared"
}

// stop closes every connection at once and cancels every wait. Goroutines
// then return by themselves; wait tells when.
func (r *run) stop() {
	r.mu.Lock()
	if r.stopped.Load() {
		r.mu.Unlock()
		return
	}
	r.stopped.Store(true)
	conns := r.conns
	r.conns = nil
	if r.lease != nil {
		r.lease.Stop()
	}
	r.mu.Unlock()
	r.cancel()
	if r.tick != nil {
		r.tick.Stop()
	}
	for conn := range conns {
		_ = conn.Close()
	}
	r.connected.Add(-int64(len(conns)))
}

// wait blocks until every goroutine of the run has returned, or ctx is done.
func (r *run) wait(ctx context.Context) error {
	select {
	case <-r.finished:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closedByPeer tells a connection the server ended (EOF, reset, broken pipe)
// from other failures.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
