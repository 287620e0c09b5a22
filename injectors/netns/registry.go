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
var ErrNotFound = injectors.ErrNotFound

// ErrDuplicate is returned by Add for a name that is already set.
var ErrDuplicate = injectors.ErrDuplicate

// ErrClosed is returned by the methods of a closed Host.
var ErrClosed = errors.New("netns host closed")

// applied is a fault as the kernel holds it: the fault and how to remove it.
type applied struct {
	Fault
	undo func() error
}

// Add applies f under name. A positive lease makes the fault remove itself
// when it runs out.
func (h *Host) Add(name string, f Fault, lease time.Duration) error {
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
	if _, ok := h.faults.Get(name); ok {
		return fmt.Errorf("add fault %q: %w", name, ErrDuplicate)
	}
	h.ids++
	undo, err := f.apply(h, fmt.Sprintf("f%d", h.ids))
	if err != nil {
		return fmt.Errorf("add fault %q (%s): %w", name, f, err)
	}
	if _, err := h.faults.Add(name, applied{f, undo}, lease, h.expire); err != nil {
		return errors.Join(fmt.Errorf("add fault %q: %w", name, err), undo())
	}
	return nil
}

func (h *Host) expire(name string, seq uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if l, ok := h.faults.Expire(name, seq); ok {
		if l.Fault.undo() != nil {
			// Still in the kernel: keep it set, so that Clear or Close
			// tries again and reports what fails.
			h.faults.Add(name, l.Fault, 0, h.expire)
		}
	}
}

// Remove clears the fault name.
func (h *Host) Remove(name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.faults.Get(name)
	if !ok {
		return fmt.Errorf("remove fault %q: %w", name, ErrNotFound)
	}
	// Forgotten only once the kernel no longer holds it: a failed undo
	// leaves it set, and a second Remove tries again.
	if err := l.Fault.undo(); err != nil {
		return fmt.Errorf("remove fault %q (%s): %w", name, l.Fault.Fault, err)
	}
	h.faults.Remove(name)
	return nil
}

// Faults lists the faults that are set, by name.
func (h *Host) Faults() map[string]Fault {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]Fault, h.faults.Len())
	for _, l := range h.faults.Sorted() {
		out[l.Name] = l.Fault.Fault
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
