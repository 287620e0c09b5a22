package netns

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"

	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// ErrUnsupported is what every kernel fault returns on a system other than
// Linux: they need its network namespaces, nftables and tc.
var ErrUnsupported = fmt.Errorf("kernel faults (engine netns) need Linux network namespaces, nftables and tc, and this is %s/%s; use engine proxy here, or run the drill on Linux: %w",
	runtime.GOOS, runtime.GOARCH, errors.ErrUnsupported)

// Supported reports whether this system can make Hosts at all: nil on
// Linux (where New may still fail for want of CAP_NET_ADMIN), ErrUnsupported
// elsewhere.
func Supported() error {
	if runtime.GOOS != "linux" {
		return ErrUnsupported
	}
	return nil
}

// Range is where a Host's addresses must lie: 198.18.0.0/15, the range set
// aside for benchmarking (RFC 2544), which no real network routes.
var Range = netip.MustParsePrefix("198.18.0.0/15")

// Host is a test host in a network namespace of its own whose relay
// forwards to an upstream on this machine. Its methods are safe for
// concurrent use.
type Host struct {
	addr    netip.AddrPort // what the service dials, inside the namespace
	peer    netip.Addr     // this machine's end of the veth
	forward string
	hostSys // what the kernel holds for the Host (host_linux.go)
	relay   *proxy.Proxy

	mu     sync.Mutex
	closed bool
	ids    uint64 // names the kernel objects of each fault
	faults injectors.Leases[applied]
	// roots holds, per device, the fault whose qdisc is its root: tbf and
	// netem both need the root, so two of them on one device conflict.
	roots map[string]string
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

// Addr is the address the service under test dials.
func (h *Host) Addr() netip.AddrPort { return h.addr }

// Relay is the fault proxy inside the namespace that forwards to the
// upstream; its own faults (delay, where the kernel has no netem) apply
// there, after the kernel's. Close closes it.
func (h *Host) Relay() *proxy.Proxy { return h.relay }

// Forward is the upstream the relay forwards to.
func (h *Host) Forward() string { return h.forward }

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

// Peer is this machine's end of the veth, the address the namespace sees
// the service's packets come from.
func (h *Host) Peer() netip.Addr { return h.peer }
