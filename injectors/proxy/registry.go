package proxy

import (
	"fmt"
	"slices"
	"time"

	"github.com/aftershock/aftershock/injectors"
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
var ErrNotFound = injectors.ErrNotFound

// ErrDuplicate is returned by Add for a name that is already set.
var ErrDuplicate = injectors.ErrDuplicate

// Add sets fault f under name. It acts at once on every connection, open or
// new. A positive lease makes the fault remove itself when it runs out, so
// that a runner that dies cannot leave it behind; zero or less means no
// lease.
func (p *Proxy) Add(name string, f Fault, lease time.Duration) error {
	if f == nil {
		return fmt.Errorf("add fault %q: nil fault", name)
	}
	if err := p.check(f); err != nil {
		return fmt.Errorf("add fault %q: %w", name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("add fault %q: %w", name, ErrClosed)
	}
	if _, err := p.faults.Add(name, f, lease, p.expire); err != nil {
		return fmt.Errorf("add fault %q: %w", name, err)
	}
	return p.changedLocked()
}

// check validates f for this proxy.
func (p *Proxy) check(f Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	switch f.(type) {
	case Down, *Down:
		if p.relisten == nil {
			return fmt.Errorf("down: this proxy serves a listener opened elsewhere and could not listen again")
		}
	}
	return nil
}

// Replace sets fault f under name in place of the fault set there, in one
// change: no byte passes between the two. A Sometimes fault draws again.
// The lease starts again from now.
func (p *Proxy) Replace(name string, f Fault, lease time.Duration) error {
	if f == nil {
		return fmt.Errorf("replace fault %q: nil fault", name)
	}
	if err := p.check(f); err != nil {
		return fmt.Errorf("replace fault %q: %w", name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("replace fault %q: %w", name, ErrClosed)
	}
	if _, err := p.faults.Remove(name); err != nil {
		return fmt.Errorf("replace fault %q: %w", name, err)
	}
	if _, err := p.faults.Add(name, f, lease, p.expire); err != nil {
		return fmt.Errorf("replace fault %q: %w", name, err)
	}
	return p.changedLocked()
}

// changedLocked publishes the plans of the faults now set, follows a Down
// with the listener, and waits (p.mu released meanwhile) until the pumps
// have taken the change on. p.mu is held.
func (p *Proxy) changedLocked() error {
	woken := p.replanLocked()
	err := p.listenLocked()
	p.mu.Unlock()
	woken.wait()
	p.mu.Lock()
	return err
}

// expire removes the fault name if it is still the one whose lease ran out.
func (p *Proxy) expire(name string, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if _, ok := p.faults.Expire(name, seq); ok {
		p.replanLocked()
		p.listenLocked() // a failure is tried again at the next change
	}
}

// Remove clears the fault name. Bytes a fault was holding are delivered at
// once (a delay's queue, a partition's held data).
func (p *Proxy) Remove(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.faults.Remove(name); err != nil {
		return fmt.Errorf("remove fault %q: %w", name, err)
	}
	if err := p.changedLocked(); err != nil {
		return fmt.Errorf("remove fault %q: %w", name, err)
	}
	return nil
}

// RemoveAll clears every fault. Its only error is a Down cleared whose
// address could not be listened on again (another process took the port).
func (p *Proxy) RemoveAll() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults.RemoveAll()
	return p.changedLocked()
}

// Faults lists the faults that are set, oldest first.
func (p *Proxy) Faults() []Active {
	p.mu.Lock()
	defer p.mu.Unlock()
	as := p.faults.Sorted()
	out := make([]Active, len(as))
	for i, a := range as {
		out[i] = Active{Name: a.Name, Fault: a.Fault, Added: a.Added, Expires: a.Expires}
	}
	return out
}

// replanLocked recomputes each direction's plan from the faults that are set
// and wakes the pumps of the directions whose plan changed, and only those.
func (p *Proxy) replanLocked() wakes {
	as := p.faults.Sorted()
	var w wakes
	for _, d := range []Direction{To, From} {
		np := newPlan()
		for _, a := range as {
			a.Fault.shape(np, d, a.Added, a.Seq)
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
