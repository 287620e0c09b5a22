package proxy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Active is a fault that is set.
type Active struct {
	Name  string
	Fault Fault
	// Added is when the fault was set.
	Added time.Time
	// Expires is when its lease runs out; zero when it has none.
	Expires time.Time
}

// ErrNotFound is returned by Remove for a name that is not set.
var ErrNotFound = errors.New("no such fault")

// ErrDuplicate is returned by Add for a name that is already set.
var ErrDuplicate = errors.New("fault name already in use")

type active struct {
	Active
	seq   uint64
	lease *time.Timer
}

func (a *active) stopLease() {
	if a.lease != nil {
		a.lease.Stop()
	}
}

// Add sets fault f under name. It acts at once on every connection, open or
// new. A positive lease makes the fault remove itself when it runs out, so
// that a runner that dies cannot leave it behind; zero or less means no
// lease.
func (p *Proxy) Add(name string, f Fault, lease time.Duration) error {
	if name == "" {
		return errors.New("add fault: empty name")
	}
	if f == nil {
		return fmt.Errorf("add fault %q: nil fault", name)
	}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("add fault %q: %w", name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("add fault %q: %w", name, ErrClosed)
	}
	if _, ok := p.faults[name]; ok {
		return fmt.Errorf("add fault %q: %w", name, ErrDuplicate)
	}
	p.seq++
	now := time.Now()
	a := &active{Active: Active{Name: name, Fault: f, Added: now}, seq: p.seq}
	if lease > 0 {
		a.Expires = now.Add(lease)
		seq := a.seq
		a.lease = time.AfterFunc(lease, func() { p.expire(name, seq) })
	}
	p.faults[name] = a
	woken := p.replanLocked()
	p.mu.Unlock()
	woken.wait()
	p.mu.Lock()
	return nil
}

// expire removes the fault name if it is still the one whose lease ran out.
func (p *Proxy) expire(name string, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.faults[name]; ok && a.seq == seq && !p.closed {
		delete(p.faults, name)
		p.replanLocked()
	}
}

// Remove clears the fault name. Bytes a fault was holding are delivered at
// once (a delay's queue, a partition's held data).
func (p *Proxy) Remove(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.faults[name]
	if !ok {
		return fmt.Errorf("remove fault %q: %w", name, ErrNotFound)
	}
	a.stopLease()
	delete(p.faults, name)
	woken := p.replanLocked()
	p.mu.Unlock()
	woken.wait()
	p.mu.Lock()
	return nil
}

// RemoveAll clears every fault.
func (p *Proxy) RemoveAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, a := range p.faults {
		a.stopLease()
		delete(p.faults, name)
	}
	woken := p.replanLocked()
	p.mu.Unlock()
	woken.wait()
	p.mu.Lock()
}

// Faults lists the faults that are set, oldest first.
func (p *Proxy) Faults() []Active {
	p.mu.Lock()
	defer p.mu.Unlock()
	as := p.sortedLocked()
	out := make([]Active, len(as))
	for i, a := range as {
		out[i] = a.Active
	}
	return out
}

func (p *Proxy) sortedLocked() []*active {
	as := make([]*active, 0, len(p.faults))
	for _, a := range p.faults {
		as = append(as, a)
	}
	slices.SortFunc(as, func(x, y *active) int { return cmp.Compare(x.seq, y.seq) })
	return as
}

// replanLocked recomputes each direction's plan from the faults that are set
// and wakes the pumps of the directions whose plan changed, and only those.
func (p *Proxy) replanLocked() wakes {
	as := p.sortedLocked()
	var w wakes
	for _, d := range []Direction{To, From} {
		np := newPlan()
		for _, a := range as {
			a.Fault.shape(np, d, a.Added, a.seq)
		}
		old := p.plans[d].Load()
		if old.same(np) {
			continue
		}
		p.gen++
		np.gen = p.gen
		p.plans[d].Store(np)
		close(old.changed)
		for c := range p.conns {
			c.wake(d)
			w = append(w, wake{c, d, np.gen})
		}
	}
	return w
}

// wakes are the pumps a plan change woke.
type wakes []wake

type wake struct {
	c   *Conn
	d   Direction
	gen uint64
}

// ackWait bounds how long Add and Remove wait for the pumps: a pump stuck
// writing to a peer that does not read takes the change on only after the
// write completes.
const ackWait = 250 * time.Millisecond

// wait returns once every woken pump has loaded its new plan (or its
// connection ended), or after ackWait. A splice that was already readied
// by arriving bytes when the wake came may pass those bytes on; after Add
// returns, every byte the proxy reads is subject to the fault.
func (w wakes) wait() {
	deadline := time.Now().Add(ackWait)
	pause := 20 * time.Microsecond
	for len(w) > 0 && time.Now().Before(deadline) {
		w = slices.DeleteFunc(w, func(k wake) bool {
			if k.c.seen[k.d].Load() >= k.gen {
				return true
			}
			select {
			case <-k.c.done:
				return true
			default:
				return false
			}
		})
		if len(w) > 0 {
			time.Sleep(pause)
			pause = min(2*pause, time.Millisecond)
		}
	}
}
