//go:build linux

package netns

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/aftershock/aftershock/injectors/proxy"
)

// hostSys is what the kernel holds for a Host: the namespace, netlink in it
// and the two ends of the veth.
type hostSys struct {
	ns       netns.NsHandle
	nl       *netlink.Handle // netlink inside the namespace
	hostLink netlink.Link    // the veth's end on this machine
	nsLink   netlink.Link    // the veth's end in the namespace
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
	h := &Host{addr: addr, peer: peer, forward: forward, hostSys: hostSys{ns: netns.None()}, roots: map[string]string{}}
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

// Devices names the veth's two ends: on this machine and in the namespace.
func (h *Host) Devices() (here, inside string) {
	return h.hostLink.Attrs().Name, h.nsLink.Attrs().Name
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
