//go:build linux

package netns

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

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
