package netns

import (
	"errors"
	"fmt"
	"time"

	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// Fault is a kernel fault a Host can apply.
type Fault interface {
	// Validate reports a fault that cannot be applied as written.
	Validate() error
	// String describes the fault, like "partition to".
	String() string
	// apply installs the fault under a name unique to this Host and
	// returns how to remove it.
	apply(h *Host, id string) (undo func() error, err error)
}

// ErrNotFound is returned by Remove for a name that is not set.
var ErrNotFound = errors.New("no such fault")

// ErrDuplicate is returned by Add for a name that is already set.
var ErrDuplicate = errors.New("fault name already in use")

// ErrClosed is returned by the methods of a closed Host.
var ErrClosed = errors.New("netns host closed")

type active struct {
	fault Fault
	seq   uint64
	undo  func() error
	lease *time.Timer
}

// Add applies f under name. A positive lease makes the fault remove itself
// when it runs out.
func (h *Host) Add(name string, f Fault, lease time.Duration) error {
	if name == "" {
		return errors.New("add fault: empty name")
	}
	if f == nil {
		return fmt.Errorf("add fault %q: nil fault", name)
	}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("add fault %q: %w", name, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("add fault %q: %w", name, ErrClosed)
	}
	if _, ok := h.faults[name]; ok {
		return fmt.Errorf("add fault %q: %w", name, ErrDuplicate)
	}
	h.seq++
	undo, err := f.apply(h, fmt.Sprintf("f%d", h.seq))
	if err != nil {
		return fmt.Errorf("add fault %q (%s): %w", name, f, err)
	}
	a := &active{fault: f, seq: h.seq, undo: undo}
	if lease > 0 {
		seq := a.seq
		a.lease = time.AfterFunc(lease, func() { h.expire(name, seq) })
	}
	h.faults[name] = a
	return nil
}

func (h *Host) expire(name string, seq uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if a, ok := h.faults[name]; ok && a.seq == seq && !h.closed {
		h.removeLocked(name)
	}
}

// Remove clears the fault name.
func (h *Host) Remove(name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.faults[name]; !ok {
		return fmt.Errorf("remove fault %q: %w", name, ErrNotFound)
	}
	return h.removeLocked(name)
}

func (h *Host) removeLocked(name string) error {
	a := h.faults[name]
	delete(h.faults, name)
	if a.lease != nil {
		a.lease.Stop()
	}
	if err := a.undo(); err != nil {
		return fmt.Errorf("remove fault %q (%s): %w", name, a.fault, err)
	}
	return nil
}

// Faults lists the names of the faults that are set.
func (h *Host) Faults() map[string]Fault {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]Fault, len(h.faults))
	for name, a := range h.faults {
		out[name] = a.fault
	}
	return out
}

// Injector adapts one fault of h to the injectors.Injector contract.
func (h *Host) Injector(name string, f Fault) injectors.Injector {
	return injectors.Named[Fault](h, name, f, ErrNotFound,
		fmt.Sprintf("%s (kernel %s on %s → %s)", name, f, h.addr, h.forward))
}

// Direction is the proxy's: to is what the upstream side sends, from what
// the service sends it.
type Direction = proxy.Direction

// Directions, re-exported so a caller needs one import.
const (
	To   = proxy.To
	From = proxy.From
	Both = proxy.Both
)

func validDirection(d Direction) error {
	if d < To || d > Both {
		return fmt.Errorf("invalid direction %d (allowed: to, from, both)", int(d))
	}
	return nil
}

// covers reports whether d includes the single direction x.
func covers(d, x Direction) bool { return d == Both || d == x }
