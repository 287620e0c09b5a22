package injectors

import (
	"cmp"
	"errors"
	"slices"
	"time"
)

// Errors of a fault registry, shared by every engine so that callers test
// for them once.
var (
	// ErrNotFound is returned for a fault name that is not set.
	ErrNotFound = errors.New("no such fault")
	// ErrDuplicate is returned for a fault name that is already set.
	ErrDuplicate = errors.New("fault name already in use")
)

// Leases is the bookkeeping every fault registry shares: the faults that
// are set, by name, in the order they were set, each with its optional
// lease timer. It does no locking of its own: the registry holds its lock
// around every call, and the expire callback it hands to Add takes that
// same lock and calls Expire, which acts only if the fault is still the
// one whose lease ran out.
type Leases[F any] struct {
	seq uint64
	m   map[string]*Lease[F]
}

// Lease is one fault that is set.
type Lease[F any] struct {
	Name  string
	Fault F
	// Added is when the fault was set; Expires is when its lease runs out
	// (zero when it has none).
	Added, Expires time.Time
	// Seq orders the faults by when they were set.
	Seq   uint64
	timer *time.Timer
}

// Add sets f under name. A positive lease starts a timer that calls
// expire(name, seq) when it runs out; expire must lock the registry and
// call Expire.
func (l *Leases[F]) Add(name string, f F, lease time.Duration, expire func(name string, seq uint64)) (*Lease[F], error) {
	if name == "" {
		return nil, errors.New("empty name")
	}
	if _, ok := l.m[name]; ok {
		return nil, ErrDuplicate
	}
	if l.m == nil {
		l.m = map[string]*Lease[F]{}
	}
	l.seq++
	e := &Lease[F]{Name: name, Fault: f, Added: time.Now(), Seq: l.seq}
	if lease > 0 {
		e.Expires = e.Added.Add(lease)
		seq := e.Seq
		e.timer = time.AfterFunc(lease, func() { expire(name, seq) })
	}
	l.m[name] = e
	return e, nil
}

// Remove unsets name and stops its lease.
func (l *Leases[F]) Remove(name string) (*Lease[F], error) {
	e, ok := l.m[name]
	if !ok {
		return nil, ErrNotFound
	}
	e.stop()
	delete(l.m, name)
	return e, nil
}

// Expire unsets name if it is still the fault set as seq, and reports it.
func (l *Leases[F]) Expire(name string, seq uint64) (*Lease[F], bool) {
	e, ok := l.m[name]
	if !ok || e.Seq != seq {
		return nil, false
	}
	delete(l.m, name)
	return e, true
}

// RemoveAll unsets every fault, stops their leases and returns them,
// oldest first.
func (l *Leases[F]) RemoveAll() []*Lease[F] {
	all := l.Sorted()
	for _, e := range all {
		e.stop()
	}
	clear(l.m)
	return all
}

// StopAll stops every lease and keeps the faults set (for a registry that
// is closing and removes them its own way).
func (l *Leases[F]) StopAll() {
	for _, e := range l.m {
		e.stop()
	}
}

// Get returns the fault set under name.
func (l *Leases[F]) Get(name string) (*Lease[F], bool) {
	e, ok := l.m[name]
	return e, ok
}

// Len is how many faults are set.
func (l *Leases[F]) Len() int { return len(l.m) }

// Sorted returns the faults that are set, oldest first.
func (l *Leases[F]) Sorted() []*Lease[F] {
	out := make([]*Lease[F], 0, len(l.m))
	for _, e := range l.m {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *Lease[F]) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

func (e *Lease[F]) stop() {
	if e.timer != nil {
		e.timer.Stop()
	}
}
