// Package stall holds stalled clients against the service under test: the
// misbehaving callers a production service meets on the open internet.
//
// Four modes (see Mode): slowloris trickles request headers, slow-read
// reads a response through a tiny window, idle holds connections open and
// silent, abandon hangs up on requests mid-flight. Each client is one
// goroutine blocked in the kernel's poller with a small stack and no
// buffers beyond a few bytes, so one process holds 10,000 of them in a few
// kilobytes each (see the package benchmark).
//
// A Stall is an injectors.Injector: Inject connects the clients and returns,
// the clients stay stalled until Clear or the lease, and Clear closes every
// connection at once and waits for every goroutine. Stats tells what the
// server did to them: a server with good timeouts closes slowloris and idle
// clients, which is what a drill wants to see.
package stall

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aftershock/aftershock/injectors"
)

var _ injectors.Injector = (*Stall)(nil)

// Stall is a set of stalled clients against one target. Its methods are
// safe for concurrent use.
type Stall struct {
	target  target
	cfg     Config
	head    []byte // request line and headers, no final blank line
	request []byte // head + "\r\n"
	trickle []byte // slowloris trickle source

	mu  sync.Mutex
	cur *run // the latest injection, running or stopped; nil before Inject
}

// New validates cfg and returns a Stall against the base URL target (such
// as http://127.0.0.1:8080). Nothing connects before Inject.
func New(target string, cfg Config) (*Stall, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("stall: %w", err)
	}
	t, err := parseTarget(target)
	if err != nil {
		return nil, fmt.Errorf("stall: %w", err)
	}
	cfg = cfg.withDefaults()
	head := requestHead(t, cfg)
	return &Stall{
		target:  t,
		cfg:     cfg,
		head:    head,
		request: append(head[:len(head):len(head)], "\r\n"...),
		trickle: trickleSource(cfg.ChunkSize),
	}, nil
}

// Config returns the configuration with every default filled in.
func (s *Stall) Config() Config { return s.cfg }

// String describes the fault, as progress lines and reports print it.
func (s *Stall) String() string {
	c := s.cfg
	desc := fmt.Sprintf("stalled clients: %d %s", c.Count, c.Mode)
	switch c.Mode {
	case Slowloris:
		desc += fmt.Sprintf(" %s %s (%d B every %v)", c.Method, s.url(), c.ChunkSize, c.Interval)
	case SlowRead:
		desc += fmt.Sprintf(" %s %s (read %d B every %v)", c.Method, s.url(), c.ChunkSize, c.Interval)
	case Idle:
		if c.KeepAliveRequest {
			desc += fmt.Sprintf(" after %s %s", c.Method, s.url())
		} else {
			desc += " " + s.target.raw
		}
	case Abandon:
		desc += fmt.Sprintf(" %s %s (%g/s, hang up after %v)", c.Method, s.url(), c.Rate, c.AbandonAfter)
	}
	if c.Reconnect {
		desc += ", reconnecting"
	}
	return desc
}

func (s *Stall) url() string {
	return "http://" + s.target.host + s.target.path + s.cfg.Path
}

// Inject connects the clients and returns once every one of them is
// connected and stalling (abandon: once the target accepted a connection
// and the clients are started). ctx bounds only the connecting; the clients
// then stay until Clear or, if lease is positive, until lease has passed
// since Inject was called.
//
// Inject fails, leaving nothing behind, if the target is unreachable, if
// any client cannot connect, if there are not enough file descriptors, or
// if the Stall is already injected.
func (s *Stall) Inject(ctx context.Context, lease time.Duration) error {
	if err := checkFileLimit(s.cfg.Count); err != nil {
		return fmt.Errorf("stall: %w", err)
	}
	s.mu.Lock()
	prev := s.cur
	if prev != nil && !prev.stopped.Load() {
		s.mu.Unlock()
		return fmt.Errorf("stall: %s: already injected; clear it first", s)
	}
	r := newRun(s)
	s.cur = r
	s.mu.Unlock()

	if prev != nil { // a lease expired or a Clear gave up waiting: let it finish
		if err := prev.wait(ctx); err != nil {
			r.abort()
			return fmt.Errorf("stall: %s: previous injection still closing: %w", s, err)
		}
	}
	if lease > 0 {
		r.setLease(lease)
	}
	if err := r.preflight(ctx); err != nil {
		r.abort()
		return fmt.Errorf("stall: %w", err)
	}
	r.launch()
	select {
	case <-r.ready:
	case <-ctx.Done():
		r.stop()
		_ = r.wait(context.Background()) // bounded: every connection is closed
		return fmt.Errorf("stall: connecting %d %s clients to %s: %w", s.cfg.Count, s.cfg.Mode, s.target.raw, ctx.Err())
	case <-r.ctx.Done():
	}
	if err := r.connectError(); err != nil {
		r.stop()
		_ = r.wait(context.Background())
		return fmt.Errorf("stall: %w", err)
	}
	return nil
}

// Clear closes every client connection at once and waits until every
// goroutine of the injection has returned, or ctx is done. It is a no-op
// before Inject and after an earlier Clear, and safe to call concurrently.
func (s *Stall) Clear(ctx context.Context) error {
	s.mu.Lock()
	r := s.cur
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	r.stop()
	if err := r.wait(ctx); err != nil {
		return fmt.Errorf("stall: clearing %s: %d goroutines still running: %w", s, r.goroutines.Load(), err)
	}
	return nil
}

// Report returns Stats, as injectors.Reporter.
func (s *Stall) Report() any { return s.Stats() }

// Stats returns the counters of the latest injection (zero before Inject).
// They stay readable after Clear and after the lease expired.
func (s *Stall) Stats() Stats {
	s.mu.Lock()
	r := s.cur
	s.mu.Unlock()
	if r == nil {
		return Stats{Mode: s.cfg.Mode, Clients: s.cfg.Count}
	}
	return r.snapshot()
}

// errStopped ends a client whose injection was cleared or whose lease ran
// out while it was connecting.
var errStopped = errors.New("stalled clients were cleared")
