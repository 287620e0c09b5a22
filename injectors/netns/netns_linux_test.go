//go:build linux

package netns_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"go.uber.org/goleak"

	"github.com/aftershock/aftershock/injectors/netns"
)

// TestMain doubles as the child of TestProcessDeathLeavesNothing: with
// AFTERSHOCK_NETNS_CHILD set it makes a Host, prints its device, and waits
// to be killed.
func TestMain(m *testing.M) {
	if listen := os.Getenv("AFTERSHOCK_NETNS_CHILD"); listen != "" {
		h, err := netns.New(listen, "127.0.0.1:9")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		if err := h.Add("cut", netns.Partition{Direction: netns.Both}, 0); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		here, _ := h.Devices()
		fmt.Println("device", here)
		select {}
	}
	os.Exit(m.Run())
}

// needRoot skips, saying why, where network namespaces cannot be made.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("kernel faults need CAP_NET_ADMIN: run as root")
	}
}

// freeListen picks a listen address for a Host; New refuses one that was
// taken meanwhile, and the caller picks again.
func freeListen() string {
	addr, err := netns.Pick(9200)
	if err != nil {
		panic(err)
	}
	return addr
}

// setup skips where namespaces cannot be made and registers, first, the
// cleanup that runs last: the test's goroutines must be back to baseline.
func setup(t *testing.T) {
	t.Helper()
	needRoot(t)
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// newHost makes a Host in front of forward, closed (and checked gone) when
// the test ends.
func newHost(t *testing.T, forward string) *netns.Host {
	t.Helper()
	var h *netns.Host
	var err error
	for range 5 {
		if h, err = netns.New(freeListen(), forward); err == nil || !strings.Contains(err.Error(), "overlaps") {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	here, _ := h.Devices()
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if _, err := netlink.LinkByName(here); err == nil {
			t.Errorf("veth %s is still there after Close", here)
		}
	})
	return h
}

// echo is an upstream on loopback that writes back what it reads.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	conns := make(chan net.Conn, 64)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func dial(t *testing.T, h *netns.Host) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", h.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads it back within d.
func roundTrip(c net.Conn, msg string, d time.Duration) error {
	c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("read %q, want %q", buf, msg)
	}
	return nil
}

func TestPassThrough(t *testing.T) {
	setup(t)
	h := newHost(t, echo(t))
	if !netns.Range.Contains(h.Addr().Addr()) {
		t.Fatalf("address %s is outside %s", h.Addr(), netns.Range)
	}
	c := dial(t, h)
	for i := range 3 {
		if err := roundTrip(c, fmt.Sprintf("hello %d\n", i), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPartition cuts each direction: established connections stall without
// a FIN or RST, a new connection hangs in its handshake, and on clear the
// stalled connection resumes with its bytes intact.
func TestPartition(t *testing.T) {
	for _, d := range []netns.Direction{netns.To, netns.From, netns.Both} {
		t.Run(d.String(), func(t *testing.T) {
			setup(t)
			h := newHost(t, echo(t))
			c := dial(t, h)
			if err := roundTrip(c, "before\n", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := h.Add("cut", netns.Partition{Direction: d}, 0); err != nil {
				t.Fatal(err)
			}
			err := roundTrip(c, "during\n", 500*time.Millisecond)
			if !isTimeout(err) {
				t.Fatalf("round trip during the partition: %v, want a timeout (no FIN, no RST)", err)
			}
			if nc, err := net.DialTimeout("tcp", h.Addr().String(), 300*time.Millisecond); err == nil {
				nc.Close()
				t.Fatal("a new connection was made during the partition")
			} else if !isTimeout(err) {
				t.Fatalf("dial during the partition: %v, want a hanging handshake", err)
			}
			if err := h.Remove("cut"); err != nil {
				t.Fatal(err)
			}
			// The echo of "during" comes once TCP retransmits.
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || got != "during\n" {
				t.Fatalf("after clear: read %q, %v; want the stalled bytes", got, err)
			}
			if err := roundTrip(c, "after\n", 5*time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestLease shows a fault removing itself when its lease runs out.
func TestLease(t *testing.T) {
	setup(t)
	h := newHost(t, echo(t))
	if err := h.Add("cut", netns.Partition{Direction: netns.Both}, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(h.Faults()) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the fault outlived its lease by 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := roundTrip(dial(t, h), "hi\n", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := h.Remove("cut"); !errors.Is(err, netns.ErrNotFound) {
		t.Fatalf("remove after the lease: %v, want ErrNotFound", err)
	}
}

// TestBandwidth measures a 1 MiB transfer through a 512 KiB/s limit in each
// direction: the rate must come within 10 %.
func TestBandwidth(t *testing.T) {
	const rate = 512 << 10
	for _, d := range []netns.Direction{netns.To, netns.From} {
		t.Run(d.String(), func(t *testing.T) {
			setup(t)
			up := sink(t)
			h := newHost(t, up.addr)
			if err := h.Add("slow", netns.Bandwidth{Direction: d, Rate: rate}, 0); err != nil {
				t.Fatal(err)
			}
			c := dial(t, h)
			if d == netns.To {
				// Ask the upstream for 1 MiB and time its arrival.
				if _, err := io.WriteString(c, "send\n"); err != nil {
					t.Fatal(err)
				}
			}
			const size = 1 << 20
			start := time.Now()
			var err error
			if d == netns.To {
				c.SetReadDeadline(time.Now().Add(20 * time.Second))
				_, err = io.CopyN(io.Discard, c, size)
			} else {
				_, err = c.Write(make([]byte, size))
				if err == nil {
					err = up.waitFor(size, 20*time.Second)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(start)
			got := float64(size) / elapsed.Seconds()
			t.Logf("%s: 1 MiB in %s = %.0f B/s (limit %d)", d, elapsed.Round(time.Millisecond), got, rate)
			// Within 10 % of the rate; the bucket starts full (rate/10
			// bytes), which may lift the average by that much more.
			burst := float64(rate / 10)
			if got < rate*0.9 || got > 1.1*rate*size/(size-burst) {
				t.Fatalf("rate %.0f B/s through a %d B/s limit", got, rate)
			}
		})
	}
}

// TestDelay holds packets with netem where the kernel has it, and skips,
// saying so, where it does not.
func TestDelay(t *testing.T) {
	setup(t)
	if err := netns.NetemSupport(); err != nil {
		t.Skipf("kernel delay is not testable here: %v", err)
	}
	h := newHost(t, echo(t))
	c := dial(t, h)
	if err := h.Add("slow", netns.Delay{Direction: netns.To, Latency: 100 * time.Millisecond}, 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := roundTrip(c, "x\n", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt < 100*time.Millisecond || rtt > 300*time.Millisecond {
		t.Fatalf("round trip %s under a 100ms delay", rtt)
	}
}

// TestDelayWithoutNetem shows that a kernel without netem refuses Delay
// with the reason, and sets nothing.
func TestDelayWithoutNetem(t *testing.T) {
	setup(t)
	if netns.NetemSupport() == nil {
		t.Skip("this kernel has netem; TestDelay covers it")
	}
	h := newHost(t, echo(t))
	err := h.Add("slow", netns.Delay{Direction: netns.To, Latency: 100 * time.Millisecond}, 0)
	if err == nil || !strings.Contains(err.Error(), "netem") {
		t.Fatalf("Add(Delay) = %v, want an error that names netem", err)
	}
	if n := len(h.Faults()); n != 0 {
		t.Fatalf("%d faults set after a refused Add", n)
	}
}

// TestQueueingConflict refuses a second root qdisc on one device, naming
// the holder, and leaves the first in place.
func TestQueueingConflict(t *testing.T) {
	setup(t)
	h := newHost(t, echo(t))
	if err := h.Add("a", netns.Bandwidth{Direction: netns.To, Rate: 1 << 20}, 0); err != nil {
		t.Fatal(err)
	}
	err := h.Add("b", netns.Bandwidth{Direction: netns.Both, Rate: 1 << 20}, 0)
	if err == nil || !strings.Contains(err.Error(), "already has a queueing fault") {
		t.Fatalf("second bandwidth on one device: %v", err)
	}
	if err := h.Add("c", netns.Bandwidth{Direction: netns.From, Rate: 1 << 20}, 0); err != nil {
		t.Fatalf("bandwidth on the other device: %v", err)
	}
	if got := len(h.Faults()); got != 2 {
		t.Fatalf("%d faults set, want 2", got)
	}
}

func TestBadInput(t *testing.T) {
	setup(t)
	for _, tc := range []struct{ listen, want string }{
		{"127.0.0.1:9200", "must lie in 198.18.0.0/15"},
		{"10.0.0.2:9200", "must lie in 198.18.0.0/15"},
		{"198.18.0.2:0", "name a port"},
		{"198.18.0.4:9200", "first or second host of its /30"},
		{"198.18.0.3:9200", "first or second host of its /30"},
		{"[2001:db8::1]:9200", "must lie in"},
		{"nonsense", "want an IPv4 address and port"},
	} {
		if _, err := netns.New(tc.listen, "127.0.0.1:9"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q) = %v, want an error with %q", tc.listen, err, tc.want)
		}
	}
	h := newHost(t, "127.0.0.1:9")
	if _, err := netns.New(h.Addr().String(), "127.0.0.1:9"); err == nil || !strings.Contains(err.Error(), "overlaps") {
		t.Errorf("a second Host on the same /30: %v, want an overlap error", err)
	}
	for _, f := range []netns.Fault{
		netns.Loss{Direction: netns.To, Percent: 0},
		netns.Loss{Direction: netns.To, Percent: 101},
		netns.Bandwidth{Direction: netns.To, Rate: 0},
		netns.Partition{Direction: 7},
		netns.Delay{Direction: netns.To, Latency: -time.Second},
	} {
		if err := h.Add("bad", f, 0); err == nil {
			t.Errorf("Add(%#v) succeeded", f)
		}
	}
	if err := h.Add("p", netns.Partition{}, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Add("p", netns.Partition{}, 0); !errors.Is(err, netns.ErrDuplicate) {
		t.Errorf("duplicate name: %v", err)
	}
}

// TestProcessDeathLeavesNothing kills a process that holds a Host with a
// fault set, and checks that the kernel removes its veth: a dead runner
// leaves no namespace, device or rule behind.
func TestProcessDeathLeavesNothing(t *testing.T) {
	needRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "AFTERSHOCK_NETNS_CHILD="+freeListen())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "device ") {
		t.Fatalf("child said %q, %v", line, err)
	}
	dev := strings.TrimSpace(strings.TrimPrefix(line, "device "))
	if _, err := netlink.LinkByName(dev); err != nil {
		t.Fatalf("the child's veth %s is not there: %v", dev, err)
	}
	if tables := tablesOf(t, dev); len(tables) == 0 {
		t.Fatalf("the child's partition has no nftables table on this machine")
	}
	cmd.Process.Kill()
	cmd.Wait()
	// The kernel tears namespaces down on a work queue: usually within a
	// second, later on a loaded machine.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := netlink.LinkByName(dev)
		tables := tablesOf(t, dev)
		if err != nil && len(tables) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("30s after its process died: veth %s lookup %v, tables %v", dev, err, tables)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tablesOf lists this machine's nftables tables that belong to the Host
// whose veth is dev.
func tablesOf(t *testing.T, dev string) []string {
	t.Helper()
	conn, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tb := range tables {
		if strings.Contains(tb.Name, dev) {
			out = append(out, tb.Name)
		}
	}
	return out
}

// TestLossIsLossToTCP: under loss, TCP sees lost packets and retransmits
// them, as on a real link — the relay in the namespace sends the to
// direction, and its retransmission counter must grow — and the transfer
// still completes.
func TestLossIsLossToTCP(t *testing.T) {
	setup(t)
	up := sink(t)
	h := newHost(t, up.addr)
	if err := h.Add("lossy", netns.Loss{Direction: netns.To, Percent: 10}, 0); err != nil {
		t.Fatal(err)
	}
	before := retransmitted(t, h)
	c := dial(t, h)
	if _, err := io.WriteString(c, "send\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.CopyN(io.Discard, c, 1<<20); err != nil {
		t.Fatalf("1 MiB under 10%% loss: %v", err)
	}
	if got := retransmitted(t, h) - before; got < 10 {
		t.Fatalf("the relay retransmitted %d segments for 1 MiB under 10%% loss; a drop the sender sees as an error would give 0", got)
	} else {
		t.Logf("the relay retransmitted %d segments", got)
	}
}

// retransmitted reads TCP's RetransSegs inside the Host's namespace.
func retransmitted(t *testing.T, h *netns.Host) int64 {
	t.Helper()
	var n int64 = -1
	err := h.Do(func() error {
		b, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		var names []string
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "Tcp: ") {
				continue
			}
			fields := strings.Fields(line)[1:]
			if names == nil {
				names = fields
				continue
			}
			for i, name := range names {
				if name == "RetransSegs" {
					_, err := fmt.Sscan(fields[i], &n)
					return err
				}
			}
		}
		return errors.New("no RetransSegs in /proc/net/snmp")
	})
	if err != nil || n < 0 {
		t.Fatalf("RetransSegs in the namespace: %v", err)
	}
	return n
}

// sink is an upstream on loopback that counts what it reads and answers
// "send\n" with 1 MiB.
type sinkServer struct {
	addr string
	got  chan int64
}

func sink(t *testing.T) *sinkServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sinkServer{addr: ln.Addr().String(), got: make(chan int64, 1024)}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n == 5 && string(buf[:n]) == "send\n" {
						c.Write(make([]byte, 1<<20))
						continue
					}
					if n > 0 {
						s.got <- int64(n)
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return s
}

// waitFor returns once the sink has read n bytes in all.
func (s *sinkServer) waitFor(n int64, d time.Duration) error {
	timeout := time.After(d)
	var total int64
	for total < n {
		select {
		case k := <-s.got:
			total += k
		case <-timeout:
			return fmt.Errorf("the upstream read %d of %d bytes in %s", total, n, d)
		}
	}
	return nil
}

// TestLoss sends datagrams across the veth each way under a 30 % loss and
// counts what arrives. UDP, so nothing is retransmitted: each datagram
// arrives with probability 0.7, so of 2,000 the count is binomial, 1,400
// with σ = √(2000 × 0.7 × 0.3) ≈ 20.5, and the test allows ± 4σ (± 82): a
// false failure about once in 16,000 comparisons, while a loss off by 5 points
// (100 datagrams) fails.
func TestLoss(t *testing.T) {
	const sent, percent = 2000, 30
	p := float64(100-percent) / 100
	tolerance := int(math.Ceil(4 * math.Sqrt(sent*p*(1-p))))
	for _, d := range []netns.Direction{netns.To, netns.From, netns.Both} {
		t.Run(d.String(), func(t *testing.T) {
			setup(t)
			h := newHost(t, echo(t))
			if err := h.Add("lossy", netns.Loss{Direction: d, Percent: percent}, 0); err != nil {
				t.Fatal(err)
			}
			// A socket in the namespace and one here, on either end of the veth.
			var inside *net.UDPConn
			if err := h.Do(func() error {
				c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(h.Addr().Addr(), 0)))
				inside = c
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer inside.Close()
			here, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(h.Peer(), 0)))
			if err != nil {
				t.Fatal(err)
			}
			defer here.Close()
			// to: what leaves the namespace; from: what enters it.
			for _, way := range []struct {
				dir      netns.Direction
				src, dst *net.UDPConn
			}{{netns.To, inside, here}, {netns.From, here, inside}} {
				got := count(t, way.src, way.dst, sent)
				lost := d == netns.Both || d == way.dir
				want := sent
				if lost {
					want = sent * (100 - percent) / 100
				}
				t.Logf("%s: %d of %d datagrams arrived (want about %d)", way.dir, got, sent, want)
				if got < want-tolerance || got > want+tolerance || (!lost && got < sent-5) {
					t.Errorf("%s under loss %s: %d of %d arrived, want %d ± %d (4σ)", way.dir, d, got, sent, want, tolerance)
				}
			}
		})
	}
}

// count sends n datagrams from src to dst and returns how many arrived.
// dst's buffer holds them all (SO_RCVBUFFORCE, root), so a reader that
// falls behind on a loaded machine loses none: only the fault does.
func count(t *testing.T, src, dst *net.UDPConn, n int) int {
	t.Helper()
	raw, err := dst.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 16<<20)
	}); err != nil || serr != nil {
		t.Fatalf("receive buffer: %v %v", err, serr)
	}
	to := dst.LocalAddr().(*net.UDPAddr)
	sent := make(chan struct{})
	arrived := make(chan int)
	go func() {
		buf := make([]byte, 64)
		got := 0
		for {
			dst.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			_, _, err := dst.ReadFromUDP(buf)
			if err != nil {
				select {
				case <-sent: // all sent, and the buffer is drained
					arrived <- got
					return
				default:
					continue
				}
			}
			if string(buf[:4]) == "data" {
				got++
			}
		}
	}()
	for range n {
		// A datagram dropped on its way out of the namespace fails its
		// send with EPERM: that is the loss too.
		if _, err := src.WriteToUDP([]byte("data"), to); err != nil && !errors.Is(err, syscall.EPERM) {
			close(sent)
			<-arrived
			t.Fatal(err)
		}
	}
	close(sent)
	return <-arrived
}
