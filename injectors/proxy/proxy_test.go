package proxy_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aftershock/aftershock/injectors/proxy"
)

func TestPassThroughBothWays(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u)

	up, down := make([]byte, 4<<20), make([]byte, 4<<20)
	rand.Read(up)
	rand.Read(down)
	var wg sync.WaitGroup
	wg.Go(func() { client.Write(up); client.(*net.TCPConn).CloseWrite() })
	wg.Go(func() { server.Write(down); server.(*net.TCPConn).CloseWrite() })
	gotUp, err := io.ReadAll(server)
	if err != nil || !bytes.Equal(gotUp, up) {
		t.Fatalf("upstream got %d bytes (err %v), want the %d sent", len(gotUp), err, len(up))
	}
	gotDown, err := io.ReadAll(client)
	if err != nil || !bytes.Equal(gotDown, down) {
		t.Fatalf("client got %d bytes (err %v), want the %d sent", len(gotDown), err, len(down))
	}
	wg.Wait()
}

func TestAddValidatesAndNames(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	bad := []proxy.Fault{
		proxy.Delay{Latency: -time.Millisecond},
		proxy.Delay{Latency: time.Millisecond, Jitter: 2 * time.Millisecond},
		proxy.Delay{Latency: time.Millisecond, Direction: 7},
		proxy.Bandwidth{Rate: 0},
		proxy.SlowClose{},
		proxy.Timeout{After: -1},
		proxy.DataLimit{},
		nil,
	}
	for _, f := range bad {
		if err := p.Add("bad", f, 0); err == nil {
			t.Errorf("Add(%v) accepted an invalid fault", f)
		}
	}
	add(t, p, "d", proxy.Delay{Latency: time.Millisecond})
	if err := p.Add("d", proxy.Reset{}, 0); !errors.Is(err, proxy.ErrDuplicate) {
		t.Errorf("duplicate name: got %v, want ErrDuplicate", err)
	}
	if err := p.Remove("nope"); !errors.Is(err, proxy.ErrNotFound) {
		t.Errorf("remove unknown: got %v, want ErrNotFound", err)
	}
	if fs := p.Faults(); len(fs) != 1 || fs[0].Name != "d" || !fs[0].Expires.After(time.Now()) {
		t.Errorf("Faults() = %+v, want one fault d with an expiry", fs)
	}
	p.RemoveAll()
	if fs := p.Faults(); len(fs) != 0 {
		t.Errorf("after RemoveAll: %+v", fs)
	}
}

func TestDelayPerDirectionOnOpenConnection(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u) // opened before any fault
	base := roundTrip(t, client, server)
	const lat = 40 * time.Millisecond
	for _, tc := range []struct {
		dir  proxy.Direction
		want time.Duration
	}{{proxy.To, lat}, {proxy.From, lat}, {proxy.Both, 2 * lat}} {
		add(t, p, "lat", proxy.Delay{Direction: tc.dir, Latency: lat})
		var rtts []time.Duration
		for range 5 {
			rtts = append(rtts, roundTrip(t, client, server))
		}
		remove(t, p, "lat")
		slices.Sort(rtts)
		if med := rtts[2]; med < tc.want || med > tc.want+base+15*time.Millisecond {
			t.Errorf("delay %v: median round trip %v, want %v..%v", tc.dir, med, tc.want, tc.want+base+15*time.Millisecond)
		}
	}
	if rtt := roundTrip(t, client, server); rtt > 20*time.Millisecond {
		t.Errorf("after clear: round trip %v, want no delay", rtt)
	}
}

func TestDelayJitterKeepsOrder(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	add(t, p, "jit", proxy.Delay{Direction: proxy.To, Latency: 20 * time.Millisecond, Jitter: 15 * time.Millisecond})
	client, server := pair(t, p, u)
	const n = 200
	go func() {
		for i := range n {
			server.Write([]byte{byte(i)})
			time.Sleep(100 * time.Microsecond)
		}
	}()
	start := time.Now()
	got := readN(t, client, n, 10*time.Second)
	for i, b := range got {
		if b != byte(i) {
			t.Fatalf("byte %d is %d: order not kept", i, b)
		}
	}
	if d := time.Since(start); d < 5*time.Millisecond {
		t.Errorf("200 delayed chunks arrived in %v, want at least the minimum delay", d)
	}
}

// transfer sends n bytes from src and returns how long dst took to get them.
func transfer(t *testing.T, src, dst net.Conn, n int) time.Duration {
	t.Helper()
	go src.Write(make([]byte, n))
	start := time.Now()
	readN(t, dst, n, 20*time.Second)
	return time.Since(start)
}

func TestBandwidthWithinTenPercent(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u)
	const rate, n = 400 << 10, 400 << 10 // 1 s at the limit
	for _, dir := range []proxy.Direction{proxy.To, proxy.From} {
		add(t, p, "bw", proxy.Bandwidth{Direction: dir, Rate: rate})
		src, dst := server, client
		if dir == proxy.From {
			src, dst = client, server
		}
		// Best of two: the machine is shared, and a starved test process
		// reads late; the limit itself never lets bytes through early.
		d := min(transfer(t, src, dst, n), transfer(t, src, dst, n))
		got := float64(n) / d.Seconds()
		if got < 0.9*rate || got > 1.1*rate {
			t.Errorf("bandwidth %v: %.0f B/s, want %d ± 10%%", dir, got, rate)
		}
		// The other direction is untouched.
		if d := transfer(t, dst, src, n); d > 200*time.Millisecond {
			t.Errorf("bandwidth %v slowed the other direction: %v for %d bytes", dir, d, n)
		}
		remove(t, p, "bw")
	}
}

func TestPartitionHoldsEverythingAndResumes(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u)
	add(t, p, "cut", proxy.Partition{Direction: proxy.Both})

	// Established connection: bytes stall both ways.
	write(t, client, []byte("ping"))
	write(t, server, []byte("pong"))
	silent(t, server, 150*time.Millisecond)
	silent(t, client, 50*time.Millisecond)

	// New connection: accepted (connect does not fail) but never dialed.
	late := dial(t, p)
	write(t, late, []byte("late"))
	u.noAccept(t, 150*time.Millisecond)
	silent(t, late, 10*time.Millisecond)

	remove(t, p, "cut")
	if got := readN(t, server, 4, 2*time.Second); string(got) != "ping" {
		t.Errorf("held upstream bytes: %q", got)
	}
	if got := readN(t, client, 4, 2*time.Second); string(got) != "pong" {
		t.Errorf("held client bytes: %q", got)
	}
	lateServer := u.accept(t)
	if got := readN(t, lateServer, 4, 2*time.Second); string(got) != "late" {
		t.Errorf("held new connection's bytes: %q", got)
	}
	if rtt := roundTrip(t, client, server); rtt > 50*time.Millisecond {
		t.Errorf("after clear: round trip %v", rtt)
	}
}

func TestPartitionSwallowsCloseAndLeavesHalfOpen(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u)
	add(t, p, "cut", proxy.Partition{Direction: proxy.Both})
	client.Close() // the service gives up during the partition
	silent(t, server, 150*time.Millisecond)
	remove(t, p, "cut")
	// The FIN was lost: the upstream still sees an open connection...
	silent(t, server, 150*time.Millisecond)
	// ...until it sends, and gets a RST.
	write(t, server, []byte("anyone?"))
	if err := ended(t, server, 2*time.Second); !isReset(err) {
		t.Errorf("upstream after sending to a half-open connection: %v, want a reset", err)
	}
}

// A response the upstream wrote and then closed on during a partition is
// lost with its FIN: after the clear, the service is left waiting for an
// answer that never comes (what pins calls without deadlines).
func TestPartitionLosesWhatAClosingSideSent(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u)
	add(t, p, "cut", proxy.Partition{Direction: proxy.Both})
	write(t, server, []byte("your answer"))
	server.Close() // the upstream answers, then gives up on the connection
	silent(t, client, 150*time.Millisecond)
	remove(t, p, "cut")
	// Neither the answer nor the FIN arrives: the client waits on.
	silent(t, client, 300*time.Millisecond)
	write(t, client, []byte("hello?"))
	if err := ended(t, client, 2*time.Second); !isReset(err) {
		t.Errorf("client after sending to a half-open connection: %v, want a reset", err)
	}
}

// A one-way partition (to, Chaos Mesh's default) lets the requests through
// and cuts the answers; a new connection still hangs.
func TestPartitionOneWay(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u)
	add(t, p, "cut", proxy.Partition{Direction: proxy.To})
	write(t, client, []byte("request"))
	if got := readN(t, server, 7, time.Second); string(got) != "request" {
		t.Fatalf("upstream got %q, want the request to pass a to-partition", got)
	}
	write(t, server, []byte("answer"))
	silent(t, client, 150*time.Millisecond)
	if late, err := net.DialTimeout("tcp", p.Addr().String(), time.Second); err == nil {
		defer late.Close()
		u.noAccept(t, 100*time.Millisecond)
	}
	remove(t, p, "cut")
	if got := readN(t, client, 6, time.Second); string(got) != "answer" {
		t.Fatalf("after the clear the client got %q, want the held answer", got)
	}
}

func TestResetBothWaysAndNewConnections(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u)
	add(t, p, "rst", proxy.Reset{Direction: proxy.Both})
	if err := ended(t, client, 2*time.Second); !isReset(err) {
		t.Errorf("client: %v, want a reset", err)
	}
	if err := ended(t, server, 2*time.Second); !isReset(err) {
		t.Errorf("upstream: %v, want a reset", err)
	}
	// The proxy resets a new connection right after accepting it; the RST
	// may beat the end of connect.
	if late, err := net.Dial("tcp", p.Addr().String()); err == nil {
		defer late.Close()
		if err := ended(t, late, 2*time.Second); !isReset(err) {
			t.Errorf("new connection: %v, want a reset", err)
		}
	} else if !isReset(err) {
		t.Errorf("new connection: %v, want a reset", err)
	}
	u.noAccept(t, 50*time.Millisecond)
	remove(t, p, "rst")
	c2, s2 := pair(t, p, u)
	if rtt := roundTrip(t, c2, s2); rtt > 50*time.Millisecond {
		t.Errorf("after clear: round trip %v", rtt)
	}
}

func TestSlowCloseHoldsTheFIN(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u)
	const hold = 150 * time.Millisecond
	add(t, p, "slow", proxy.SlowClose{Direction: proxy.From, Delay: hold})
	write(t, client, []byte("bye"))
	if got := readN(t, server, 3, time.Second); string(got) != "bye" {
		t.Fatalf("bytes before the close: %q", got)
	}
	start := time.Now()
	client.(*net.TCPConn).CloseWrite()
	if err := ended(t, server, 2*time.Second); err != io.EOF {
		t.Fatalf("upstream: %v, want EOF", err)
	}
	if d := time.Since(start); d < hold || d > hold+100*time.Millisecond {
		t.Errorf("FIN arrived after %v, want %v", d, hold)
	}
}

func TestTimeoutSwallowsThenCloses(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u) // opened before the fault
	const after = 200 * time.Millisecond
	start := time.Now()
	add(t, p, "to", proxy.Timeout{Direction: proxy.To, After: after})
	write(t, server, []byte("lost"))
	write(t, client, []byte("still flows"))
	if got := readN(t, server, 11, time.Second); string(got) != "still flows" {
		t.Errorf("From direction: %q", got)
	}
	if err := ended(t, client, 2*time.Second); err != io.EOF {
		t.Errorf("client: %v, want EOF", err)
	}
	if d := time.Since(start); d < after || d > after+150*time.Millisecond {
		t.Errorf("closed after %v, want %v", d, after)
	}
}

func TestDataLimitClosesAfterNBytes(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u)
	add(t, p, "lim", proxy.DataLimit{Direction: proxy.From, Bytes: 1000})
	go client.Write(make([]byte, 5000))
	server.SetReadDeadline(time.Now().Add(2 * time.Second))
	got, err := io.ReadAll(server)
	if err != nil || len(got) != 1000 {
		t.Errorf("upstream got %d bytes (err %v), want exactly 1000 then EOF", len(got), err)
	}
}

func TestLeaseExpires(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u)
	if err := p.Add("cut", proxy.Partition{Direction: proxy.Both}, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	write(t, client, []byte("x"))
	silent(t, server, 100*time.Millisecond)
	readN(t, server, 1, 2*time.Second) // the lease ran out
	if fs := p.Faults(); len(fs) != 0 {
		t.Errorf("after the lease: %+v", fs)
	}
}

func TestInjectorContract(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	inj := p.Injector("lat", proxy.Delay{Latency: 30 * time.Millisecond})
	ctx := t.Context()
	if err := inj.Clear(ctx); err != nil {
		t.Errorf("Clear before Inject: %v", err)
	}
	if err := inj.Inject(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if fs := p.Faults(); len(fs) != 1 {
		t.Fatalf("after Inject: %+v", fs)
	}
	client, server := pair(t, p, u)
	if rtt := roundTrip(t, client, server); rtt < 30*time.Millisecond {
		t.Errorf("round trip %v under a 30ms delay", rtt)
	}
	for range 2 {
		if err := inj.Clear(ctx); err != nil {
			t.Errorf("Clear: %v", err)
		}
	}
	if fs := p.Faults(); len(fs) != 0 {
		t.Errorf("after Clear: %+v", fs)
	}
	if inj.String() == "" {
		t.Error("empty description")
	}
}

// TestClearUnderHeavyTraffic streams both ways on several connections while
// faults come and go; every byte must arrive, in order, soon after the last
// clear.
func TestClearUnderHeavyTraffic(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	const conns, n = 4, 8 << 20
	type end struct{ c, s net.Conn }
	var ends []end
	for range conns {
		c, s := pair(t, p, u)
		ends = append(ends, end{c, s})
	}
	payload := make([]byte, n)
	rand.Read(payload)
	var wg sync.WaitGroup
	errs := make(chan error, 4*conns)
	for _, e := range ends {
		for _, pr := range [][2]net.Conn{{e.c, e.s}, {e.s, e.c}} {
			src, dst := pr[0], pr[1]
			wg.Go(func() {
				src.SetWriteDeadline(time.Now().Add(20 * time.Second))
				if _, err := src.Write(payload); err != nil {
					errs <- err
				}
			})
			wg.Go(func() {
				dst.SetReadDeadline(time.Now().Add(20 * time.Second))
				got := make([]byte, n)
				if _, err := io.ReadFull(dst, got); err != nil {
					errs <- err
				} else if !bytes.Equal(got, payload) {
					errs <- errors.New("bytes differ")
				}
			})
		}
	}
	faults := []proxy.Fault{
		proxy.Delay{Direction: proxy.Both, Latency: 5 * time.Millisecond, Jitter: 2 * time.Millisecond},
		proxy.Bandwidth{Direction: proxy.To, Rate: 4 << 20},
		proxy.Partition{Direction: proxy.Both},
		proxy.SlowClose{Direction: proxy.Both, Delay: time.Millisecond},
	}
	for i := range 20 {
		add(t, p, "f", faults[i%len(faults)])
		time.Sleep(20 * time.Millisecond)
		remove(t, p, "f")
		time.Sleep(5 * time.Millisecond)
	}
	cleared := time.Now()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d := time.Since(cleared); d > 5*time.Second {
		t.Errorf("traffic took %v to finish after the last clear", d)
	}
}

// TestConcurrentAddRemove is for -race: faults churn from several goroutines
// while connections come and go.
func TestConcurrentAddRemove(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // an echoing upstream
		for {
			select {
			case c := <-u.conns:
				wg.Go(func() { io.Copy(c, c); c.Close() })
			case <-stop:
				return
			}
		}
	})
	for w := range 4 {
		wg.Go(func() {
			names := []string{"a", "b", "c"}
			faults := []proxy.Fault{proxy.Delay{Latency: time.Millisecond}, proxy.Bandwidth{Rate: 1 << 20}, proxy.Partition{Direction: proxy.Both}, proxy.DataLimit{Bytes: 1 << 20}}
			for i := range 200 {
				name := names[(i+w)%len(names)]
				p.Add(name, faults[(i*w)%len(faults)], time.Duration(i%3)*time.Millisecond)
				p.Faults()
				p.Remove(name)
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 20 {
				c, err := net.Dial("tcp", p.Addr().String())
				if err != nil {
					return
				}
				c.SetDeadline(time.Now().Add(200 * time.Millisecond))
				c.Write([]byte("hello"))
				io.ReadFull(c, make([]byte, 5))
				c.Close()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	p.RemoveAll()
	p.Close()
	close(stop)
	wg.Wait()
}

func TestCloseEndsEverything(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u)
	add(t, p, "lat", proxy.Delay{Latency: time.Second})
	write(t, server, []byte("in flight"))
	add(t, p, "cut", proxy.Partition{Direction: proxy.Both})
	held := dial(t, p)
	p.Close()
	for _, c := range []net.Conn{client, server, held} {
		ended(t, c, 2*time.Second)
	}
	if err := p.Add("x", proxy.Reset{}, 0); !errors.Is(err, proxy.ErrClosed) {
		t.Errorf("Add after Close: %v", err)
	}
}

// TestResetOneWay: a reset in one direction (a partition that rejects
// what the upstream sends) resets new connections at once, lets an open
// connection carry the other direction, and resets it at the first byte
// of the rejected one.
func TestResetOneWay(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u)
	add(t, p, "reject-to", proxy.Reset{Direction: proxy.To})
	write(t, client, []byte("request"))
	if got := readN(t, server, 7, time.Second); string(got) != "request" {
		t.Fatalf("the service's bytes did not pass: %q", got)
	}
	write(t, server, []byte("answer"))
	if err := ended(t, client, 2*time.Second); !isReset(err) {
		t.Errorf("client after the rejected direction's first byte: %v, want a reset", err)
	}
	if late, err := net.Dial("tcp", p.Addr().String()); err == nil {
		defer late.Close()
		if err := ended(t, late, 2*time.Second); !isReset(err) {
			t.Errorf("new connection: %v, want a reset", err)
		}
	} else if !isReset(err) {
		t.Errorf("new connection: %v, want a reset", err)
	}
}

// TestBandwidthBurst: a limit's bucket lets that many bytes through at
// once after an idle spell; the rest is paced.
func TestBandwidthBurst(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u)
	const rate, burst = 10 << 10, 32 << 10 // 10 KiB/s, a 32 KiB bucket
	add(t, p, "thin", proxy.Bandwidth{Direction: proxy.From, Rate: rate, Burst: burst, Queue: 4 << 10})
	time.Sleep(3500 * time.Millisecond) // idle long enough to fill the bucket
	start := time.Now()
	write(t, client, make([]byte, burst))
	readN(t, server, burst, 2*time.Second)
	if took := time.Since(start); took > time.Second {
		t.Errorf("a full bucket's %d bytes took %s; want them at once", burst, took)
	}
	start = time.Now()
	write(t, client, make([]byte, 5<<10))
	readN(t, server, 5<<10, 5*time.Second)
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("5 KiB past the bucket took %s at 10 KiB/s; want about 500ms", took)
	}
}
