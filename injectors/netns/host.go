package netns

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// Range is where a Host's addresses must lie: 198.18.0.0/15, the range set
// aside for benchmarking (RFC 2544), which no real network routes.
var Range = netip.MustParsePrefix("198.18.0.0/15")

// Host is a test host in a network namespace of its own whose relay
// forwards to an upstream on this machine. Its methods are safe for
// concurrent use.
type Host struct {
	addr     netip.AddrPort // what the service dials, inside the namespace
	peer     netip.Addr     // this machine's end of the veth
	forward  string
	ns       netns.NsHandle
	nl       *netlink.Handle // netlink inside the namespace
	hostLink netlink.Link    // the veth's end on this machine
	nsLink   netlink.Link    // the veth's end in the namespace
	relay    *proxy.Proxy

	mu     sync.Mutex
	closed bool
	ids    uint64 // names the kernel objects of each fault
	faults injectors.Leases[applied]
	// roots holds, per device, the fault whose qdisc is its root: tbf and
	// netem both need the root, so two of them on one device conflict.
	roots map[string]string
}

// New makes a Host listening on listen, an address in [Range] whose /30
// holds nothing on this machine yet, forwarding to forward. It needs
// CAP_NET_ADMIN. On error nothing is left behind.
func New(listen, forward string) (_ *Host, err error) {
	addr, peer, err := plan(listen)
	if err != nil {
		return nil, err
	}
	if err := free(addr, peer); err != nil {
		return nil, err
	}
	h := &Host{addr: addr, peer: peer, forward: forward, ns: netns.None(), roots: map[string]string{}}
	defer func() {
		if err != nil {
			h.release()
		}
	}()
	if h.ns, err = newNamespace(); err != nil {
		return nil, err
	}
	if h.nl, err = netlink.NewHandleAt(h.ns); err != nil {
		return nil, fmt.Errorf("netns: netlink in the namespace: %w", err)
	}
	if err := h.link(); err != nil {
		return nil, err
	}
	ln, err := listenIn(h.ns, addr.String())
	if err != nil {
		return nil, fmt.Errorf("netns: listen %s in the namespace: %w", addr, err)
	}
	h.relay = proxy.Serve(ln, forward)
	return h, nil
}

// Pick returns a listen address for a new Host: the second host of a /30
// in [Range] picked at random among those no device of this machine uses,
// with port. Another Host may take it before New does; New then says so,
// and the caller picks again.
func Pick(port uint16) (string, error) {
	for range 100 {
		var b [4]byte
		rand.Read(b[:])
		n := binary.BigEndian.Uint32(b[:]) % (1 << (32 - Range.Bits() - 2)) // the /30s of Range
		base := Range.Addr().As4()
		binary.BigEndian.PutUint32(base[:], binary.BigEndian.Uint32(base[:])+n<<2+2)
		addr := netip.AddrPortFrom(netip.AddrFrom4(base), port)
		if err := free(addr, addr.Addr().Prev()); err == nil {
			return addr.String(), nil
		}
	}
	return "", fmt.Errorf("netns: no free /30 in %s after 100 tries", Range)
}

// CheckListen reports whether listen can be a Host's address: an IPv4
// address in [Range], the first or second host of its /30, with a port.
func CheckListen(listen string) error {
	_, _, err := plan(listen)
	return err
}

// plan checks listen and returns it with the other usable address of its
// /30, which this machine's end of the veth takes.
func plan(listen string) (netip.AddrPort, netip.Addr, error) {
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		return ap, netip.Addr{}, fmt.Errorf("netns: listen %q: want an IPv4 address and port in %s, like 198.18.0.2:9200", listen, Range)
	}
	a := ap.Addr().Unmap()
	if !a.Is4() || !Range.Contains(a) {
		return ap, netip.Addr{}, fmt.Errorf("netns: listen %s: the address must lie in %s, the range the namespace's test hosts use", listen, Range)
	}
	if ap.Port() == 0 {
		return ap, netip.Addr{}, fmt.Errorf("netns: listen %s: name a port; the service must know where to dial", listen)
	}
	b := a.As4()
	base := b
	base[3] &^= 3
	first, second := base, base
	first[3]++
	second[3] += 2
	switch b {
	case first:
		return netip.AddrPortFrom(a, ap.Port()), netip.AddrFrom4(second), nil
	case second:
		return netip.AddrPortFrom(a, ap.Port()), netip.AddrFrom4(first), nil
	}
	return ap, netip.Addr{}, fmt.Errorf("netns: listen %s: the address must be the first or second host of its /30 (%s or %s); the other one is this machine's end of the veth",
		listen, netip.AddrFrom4(first), netip.AddrFrom4(second))
}

// free refuses a /30 that any device of this machine already uses: another
// Host (a drill running beside this one) or a network of the machine's own.
func free(addr netip.AddrPort, peer netip.Addr) error {
	subnet := netip.PrefixFrom(peer, 30).Masked()
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("netns: list this machine's addresses: %w", err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		theirs := netip.PrefixFrom(ip.Unmap(), ones).Masked()
		if theirs.Overlaps(subnet) {
			return fmt.Errorf("netns: listen %s: %s overlaps %s on device %s (another drill's host?); pick another /30 in %s",
				addr, subnet, a.IPNet, linkName(a.LinkIndex), Range)
		}
	}
	return nil
}

func linkName(index int) string {
	if l, err := netlink.LinkByIndex(index); err == nil {
		return l.Attrs().Name
	}
	return fmt.Sprintf("#%d", index)
}

// newNamespace makes an anonymous network namespace. It unshares on a
// locked thread and moves that thread back; a thread that cannot be moved
// back is never unlocked, so the runtime ends it with its goroutine rather
// than let other goroutines run in the wrong namespace.
func newNamespace() (netns.NsHandle, error) {
	ns := netns.None()
	err := onThread(func(orig netns.NsHandle) error {
		var err error
		if ns, err = netns.New(); err != nil {
			if errors.Is(err, unix.EPERM) {
				return fmt.Errorf("netns: new network namespace: %w (the netns engine needs CAP_NET_ADMIN: run as root)", err)
			}
			return fmt.Errorf("netns: new network namespace: %w", err)
		}
		return nil
	})
	return ns, err
}

// listenIn opens a TCP listener inside ns. A socket stays in the namespace
// it was made in, so the relay accepts there and dials out here.
func listenIn(ns netns.NsHandle, addr string) (*net.TCPListener, error) {
	var ln *net.TCPListener
	err := onThread(func(netns.NsHandle) error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("enter the namespace: %w", err)
		}
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return err
		}
		ln = l.(*net.TCPListener)
		return nil
	})
	return ln, err
}

// onThread runs f on a goroutine locked to its thread and moves the thread
// back to this process's namespace afterwards. If that fails the thread
// stays locked and dies with the goroutine.
func onThread(f func(orig netns.NsHandle) error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: this thread's namespace: %w", err)
			return
		}
		defer orig.Close()
		ferr := f(orig)
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("netns: move the thread back: %w", err))
			return // locked: the runtime ends the thread
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// link makes the veth pair, moves one end into the namespace and gives both
// ends their addresses.
func (h *Host) link() error {
	id := make([]byte, 4)
	rand.Read(id)
	name := "as" + hex.EncodeToString(id)
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: name + "h"},
		PeerName:      name + "n",
		PeerNamespace: netlink.NsFd(h.ns),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("netns: add veth %s: %w", veth.Name, err)
	}
	var err error
	if h.hostLink, err = netlink.LinkByName(veth.Name); err != nil {
		return fmt.Errorf("netns: veth %s: %w", veth.Name, err)
	}
	if h.nsLink, err = h.nl.LinkByName(veth.PeerName); err != nil {
		return fmt.Errorf("netns: veth %s in the namespace: %w", veth.PeerName, err)
	}
	up := func(nl *netlink.Handle, l netlink.Link, a netip.Addr) error {
		if err := noOffload(nl, l); err != nil {
			return err
		}
		ip := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(30, 32)}}
		if err := nl.AddrAdd(l, ip); err != nil {
			return fmt.Errorf("netns: address %s on %s: %w", ip.IPNet, l.Attrs().Name, err)
		}
		if err := nl.LinkSetUp(l); err != nil {
			return fmt.Errorf("netns: %s up: %w", l.Attrs().Name, err)
		}
		return nil
	}
	here, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netns: netlink: %w", err)
	}
	defer here.Close()
	if err := up(here, h.hostLink, h.peer); err != nil {
		return err
	}
	return up(h.nl, h.nsLink, h.addr.Addr())
}

// noOffload makes each end of the veth send wire-sized packets: with
// segmentation offload a veth passes TCP segments of up to 64 KiB, and a
// loss drawn per packet would then drop dozens of segments at once.
func noOffload(nl *netlink.Handle, l netlink.Link) error {
	if err := nl.LinkSetGSOMaxSegs(l, 1); err != nil {
		return fmt.Errorf("netns: segmentation offload off on %s: %w", l.Attrs().Name, err)
	}
	return nil
}

// Addr is the address the service under test dials.
func (h *Host) Addr() netip.AddrPort { return h.addr }

// Relay is the fault proxy inside the namespace that forwards to the
// upstream; its own faults (delay, where the kernel has no netem) apply
// there, after the kernel's. Close closes it.
func (h *Host) Relay() *proxy.Proxy { return h.relay }

// Forward is the upstream the relay forwards to.
func (h *Host) Forward() string { return h.forward }

// Devices names the veth's two ends: on this machine and in the namespace.
func (h *Host) Devices() (here, inside string) {
	return h.hostLink.Attrs().Name, h.nsLink.Attrs().Name
}

// Close removes every fault, closes the relay and its connections, and
// removes the veth and the namespace. It is idempotent.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	var errs []error
	for _, l := range h.faults.RemoveAll() {
		errs = append(errs, l.Fault.undo())
	}
	h.mu.Unlock()
	errs = append(errs, h.release())
	return errors.Join(errs...)
}

// release frees what New acquired, in reverse; it tolerates a Host that New
// built only in part.
func (h *Host) release() error {
	var errs []error
	if h.relay != nil {
		errs = append(errs, h.relay.Close())
	}
	if h.hostLink != nil {
		// Removing one end removes the pair; the namespace goes once its
		// last handle and socket are closed.
		if err := netlink.LinkDel(h.hostLink); err != nil {
			errs = append(errs, fmt.Errorf("netns: remove veth %s: %w", h.hostLink.Attrs().Name, err))
		}
	}
	if h.nl != nil {
		h.nl.Close()
	}
	if h.ns.IsOpen() {
		errs = append(errs, h.ns.Close())
	}
	return errors.Join(errs...)
}

// Do runs f on a thread inside the Host's namespace; sockets f opens stay
// there after it returns (tests use it to listen beside the relay). f must
// not start goroutines that expect to be inside: they are not.
func (h *Host) Do(f func() error) error {
	return onThread(func(netns.NsHandle) error {
		if err := netns.Set(h.ns); err != nil {
			return fmt.Errorf("netns: enter the namespace: %w", err)
		}
		return f()
	})
}

// Peer is this machine's end of the veth, the address the namespace sees
// the service's packets come from.
func (h *Host) Peer() netip.Addr { return h.peer }
