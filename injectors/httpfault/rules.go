package httpfault

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// ruleSet holds one kind of fault by name, each with its lease, and
// publishes them, oldest first, as rules compiled once for the hot path:
// every message reads the current list with one atomic load. The proxy has
// one for HTTP faults and one for gRPC faults.
type ruleSet[F interface{ Validate() error }, R any] struct {
	kind    string                     // "http fault", for errors
	compile func(injectors.Lease[F]) R // a lease as the hot path reads it
	rules   atomic.Pointer[[]R]        // oldest first
	mu      sync.Mutex
	// compiled is each lease's rule, by Seq, as last published: a rule
	// outlives changes to the other faults, and with it what it counts
	// (the calls a share has selected so far).
	compiled map[uint64]R
	closed   bool
	leases   injectors.Leases[F]
}

func newRuleSet[F interface{ Validate() error }, R any](kind string, compile func(injectors.Lease[F]) R) *ruleSet[F, R] {
	s := &ruleSet[F, R]{kind: kind, compile: compile}
	s.rules.Store(&[]R{})
	return s
}

// load is the current rules, oldest first.
func (s *ruleSet[F, R]) load() []R { return *s.rules.Load() }

// Add sets fault f under name; a positive lease removes it when it runs out.
func (s *ruleSet[F, R]) Add(name string, f F, lease time.Duration) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("add %s %q: %w", s.kind, name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("add %s %q: %w", s.kind, name, proxy.ErrClosed)
	}
	if _, err := s.leases.Add(name, f, lease, s.expire); err != nil {
		return fmt.Errorf("add %s %q: %w", s.kind, name, err)
	}
	s.publishLocked()
	return nil
}

func (s *ruleSet[F, R]) expire(name string, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.leases.Expire(name, seq); ok {
		s.publishLocked()
	}
}

// Remove clears the fault name.
func (s *ruleSet[F, R]) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.leases.Remove(name); err != nil {
		return fmt.Errorf("remove %s %q: %w", s.kind, name, err)
	}
	s.publishLocked()
	return nil
}

// RemoveAll clears every fault of the set.
func (s *ruleSet[F, R]) RemoveAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leases.RemoveAll()
	s.publishLocked()
}

// close refuses further faults and cancels every lease.
func (s *ruleSet[F, R]) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.leases.StopAll()
}

func (s *ruleSet[F, R]) publishLocked() {
	ls := s.leases.Sorted()
	rs := make([]R, len(ls))
	next := make(map[uint64]R, len(ls))
	for i, l := range ls {
		r, ok := s.compiled[l.Seq]
		if !ok {
			r = s.compile(*l)
		}
		rs[i], next[l.Seq] = r, r
	}
	s.compiled = next
	s.rules.Store(&rs)
}
