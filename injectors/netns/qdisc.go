package netns

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Bandwidth limits its direction to Rate bytes per second with a token
// bucket filter (tbf) on the sending end of the veth: the namespace's end
// for to, this machine's end for from.
type Bandwidth struct {
	Direction Direction
	// Rate is in bytes per second.
	Rate int64
	// Burst is the bucket's size in bytes (tc's buffer); 0 takes
	// max(Rate/10, 16 KiB), enough for a full TSO segment.
	Burst int64
	// Queue is how many bytes may wait for tokens (tc's limit); 0 takes
	// one second of Rate, at least Burst.
	Queue int64
}

// Validate checks the direction and the sizes.
func (b Bandwidth) Validate() error {
	if err := validDirection(b.Direction); err != nil {
		return err
	}
	switch {
	case b.Rate <= 0:
		return fmt.Errorf("bandwidth rate %d B/s: want more than 0", b.Rate)
	case b.Burst < 0 || b.Burst >= 1<<31:
		return fmt.Errorf("bandwidth burst %d bytes: want 0 (default) to 2 GiB", b.Burst)
	case b.Queue < 0 || b.Queue >= 1<<31:
		return fmt.Errorf("bandwidth queue %d bytes: want 0 (default) to 2 GiB", b.Queue)
	}
	return nil
}

func (b Bandwidth) String() string { return fmt.Sprintf("bandwidth %d B/s %s", b.Rate, b.Direction) }

func (b Bandwidth) sizes() (burst, queue uint32) {
	bu, qu := b.Burst, b.Queue
	if bu == 0 {
		bu = max(b.Rate/10, 16<<10)
	}
	if qu == 0 {
		qu = max(b.Rate, bu)
	}
	return uint32(bu), uint32(qu)
}

func (b Bandwidth) apply(h *Host, id string) (func() error, error) {
	burst, queue := b.sizes()
	rate := uint64(b.Rate)
	return h.rootQdiscs(id, b.Direction, func(attrs netlink.QdiscAttrs) netlink.Qdisc {
		return &netlink.Tbf{
			QdiscAttrs: attrs,
			Rate:       rate,
			Buffer:     netlink.Xmittime(rate, burst), // the kernel wants the bucket in ticks
			Limit:      queue,
		}
	})
}

// Delay holds every packet of its direction for Latency (± Jitter) with the
// netem qdisc. Kernels without netem (see [NetemSupport]) refuse it.
type Delay struct {
	Direction       Direction
	Latency, Jitter time.Duration
}

// Validate checks the direction and the durations.
func (d Delay) Validate() error {
	if err := validDirection(d.Direction); err != nil {
		return err
	}
	if d.Latency <= 0 || d.Jitter < 0 || d.Jitter > d.Latency {
		return fmt.Errorf("delay %s ± %s: want a positive latency and 0 ≤ jitter ≤ latency", d.Latency, d.Jitter)
	}
	return nil
}

func (d Delay) String() string {
	if d.Jitter > 0 {
		return fmt.Sprintf("delay %s±%s %s", d.Latency, d.Jitter, d.Direction)
	}
	return fmt.Sprintf("delay %s %s", d.Latency, d.Direction)
}

func (d Delay) apply(h *Host, id string) (func() error, error) {
	if err := NetemSupport(); err != nil {
		return nil, err
	}
	return h.rootQdiscs(id, d.Direction, func(attrs netlink.QdiscAttrs) netlink.Qdisc {
		return netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{
			Latency: uint32(d.Latency.Microseconds()),
			Jitter:  uint32(d.Jitter.Microseconds()),
		})
	})
}

// rootQdiscs installs the qdisc that build makes as the root of the sending
// end of each direction d covers, and returns how to remove them. A device
// has one root: a second tbf or netem fault on it is refused, naming the
// first.
func (h *Host) rootQdiscs(id string, d Direction, build func(netlink.QdiscAttrs) netlink.Qdisc) (func() error, error) {
	type end struct {
		nl   *netlink.Handle
		link netlink.Link
	}
	here, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	var ends []end
	if covers(d, To) {
		ends = append(ends, end{h.nl, h.nsLink}) // the namespace sends to the service
	}
	if covers(d, From) {
		ends = append(ends, end{here, h.hostLink}) // the service sends to the namespace
	}
	for _, e := range ends {
		if holder, busy := h.roots[e.link.Attrs().Name]; busy {
			here.Close()
			return nil, fmt.Errorf("device %s already has a queueing fault (%s); remove it first", e.link.Attrs().Name, holder)
		}
	}
	var added []netlink.Qdisc
	undo := func() error { // may be called again after it failed
		var errs []error
		for i, q := range added {
			if q == nil {
				continue
			}
			if err := ends[i].nl.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
				errs = append(errs, fmt.Errorf("remove %s qdisc on %s: %w", q.Type(), ends[i].link.Attrs().Name, err))
				continue
			}
			added[i] = nil
			delete(h.roots, ends[i].link.Attrs().Name)
		}
		if len(errs) == 0 {
			here.Close()
		}
		return errors.Join(errs...)
	}
	for _, e := range ends {
		q := build(netlink.QdiscAttrs{LinkIndex: e.link.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT})
		if err := e.nl.QdiscReplace(q); err != nil {
			return nil, errors.Join(fmt.Errorf("%s qdisc on %s: %w", q.Type(), e.link.Attrs().Name, err), undo())
		}
		added = append(added, q)
		h.roots[e.link.Attrs().Name] = id
	}
	return undo, nil
}

// NetemSupport reports whether this kernel has the netem qdisc, which
// Delay needs, by adding one to the loopback device of a throwaway
// namespace. The answer is kept: kernels do not gain qdiscs while running.
func NetemSupport() error { return netemSupport() }

var netemSupport = sync.OnceValue(func() error {
	ns, err := newNamespace()
	if ns.IsOpen() {
		defer ns.Close()
	}
	if err != nil {
		return fmt.Errorf("netem: cannot tell: %w", err)
	}
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netem: cannot tell: netlink: %w", err)
	}
	defer nl.Close()
	lo, err := nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("netem: cannot tell: %w", err)
	}
	if err := nl.LinkSetUp(lo); err != nil {
		return fmt.Errorf("netem: cannot tell: lo up: %w", err)
	}
	q := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: lo.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		netlink.NetemQdiscAttrs{Latency: 1000})
	if err := nl.QdiscAdd(q); err != nil {
		return fmt.Errorf("this kernel has no netem qdisc (adding one failed: %w), so kernel-level delay is not available; use the proxy engine for delay", err)
	}
	return nil
})
