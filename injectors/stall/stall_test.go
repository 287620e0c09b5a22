package stall

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestNewRejectsBadConfig(t *testing.T) {
	const url = "http://127.0.0.1:1"
	for _, c := range []struct {
		name   string
		target string
		cfg    Config
		want   []string
	}{
		{"no mode", url, Config{Count: 1}, []string{"mode: required (allowed: slowloris, slow-read, idle, abandon)"}},
		{"unknown mode", url, Config{Mode: "slow", Count: 1}, []string{`mode: "slow" is not allowed`}},
		{"no count", url, Config{Mode: Idle}, []string{"count: 0 is out of range 1..20000"}},
		{"count over the cap", url, Config{Mode: Idle, Count: MaxCount + 1}, []string{"count: 20001 is out of range"}},
		{"relative path", url, Config{Mode: SlowRead, Count: 1, Path: "stream"}, []string{`path: "stream" must start with /`}},
		{"path with a space", url, Config{Mode: SlowRead, Count: 1, Path: "/a b"}, []string{"path:"}},
		{"bad method", url, Config{Mode: Abandon, Count: 1, Method: "GE T"}, []string{`method: "GE T" is not a valid`}},
		{"bad header name", url, Config{Mode: Abandon, Count: 1, Headers: http.Header{"Bad Name": {"x"}}}, []string{`headers: "Bad Name" is not a valid header name`}},
		{"header injection", url, Config{Mode: Abandon, Count: 1, Headers: http.Header{"X-A": {"1\r\nX-B: 2"}}}, []string{`headers: value of "X-A"`}},
		{"negative interval", url, Config{Mode: Slowloris, Count: 1, Interval: -time.Second}, []string{"interval: -1s must be at least 1ms"}},
		{"spinning interval", url, Config{Mode: Slowloris, Count: 1, Interval: time.Microsecond}, []string{"interval: 1µs must be at least 1ms"}},
		{"rate over the cap", url, Config{Mode: Abandon, Count: 1, Rate: 5000}, []string{"rate: 5000 is out of range (0, 1000]"}},
		{"rate for slowloris", url, Config{Mode: Slowloris, Count: 1, Rate: 5}, []string{"rate: not used by mode slowloris (only by abandon)"}},
		{"recvBuffer for idle", url, Config{Mode: Idle, Count: 1, RecvBuffer: 512}, []string{"recvBuffer: not used by mode idle"}},
		{"path for plain idle", url, Config{Mode: Idle, Count: 1, Path: "/x"}, []string{"path: not used by mode idle", "set keepAliveRequest"}},
		{"reconnect for abandon", url, Config{Mode: Abandon, Count: 1, Reconnect: true}, []string{"reconnect: not used by mode abandon"}},
		{"dialConcurrency for abandon", url, Config{Mode: Abandon, Count: 1, DialConcurrency: 8}, []string{"dialConcurrency: not used by mode abandon"}},
		{"every problem at once", url, Config{Mode: Slowloris, Count: -1, ChunkSize: -2, AbandonAfter: time.Second}, []string{"count: -1", "chunkSize: -2", "abandonAfter: not used"}},
		{"https target", "https://127.0.0.1:1", Config{Mode: Idle, Count: 1}, []string{"https is not supported"}},
		{"other scheme", "ftp://127.0.0.1:1", Config{Mode: Idle, Count: 1}, []string{"want an http:// base URL"}},
		{"no host", "http://", Config{Mode: Idle, Count: 1}, []string{"no host"}},
		{"query in target", "http://h/?a=1", Config{Mode: Idle, Count: 1}, []string{"without user info, query or fragment"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.target, c.cfg)
			if err == nil {
				t.Fatalf("New(%q, %+v) = nil error, want one mentioning %q", c.target, c.cfg, c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "stall: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
		})
	}
}

func TestDefaultsAndDescription(t *testing.T) {
	s, err := New("http://127.0.0.1:8080/api/", Config{Mode: SlowRead, Count: 50, Path: "/stream"})
	if err != nil {
		t.Fatal(err)
	}
	g := NewWithT(t)
	g.Expect(s.Config()).To(And(
		HaveField("Method", "GET"), HaveField("Interval", time.Second),
		HaveField("ChunkSize", 16), HaveField("RecvBuffer", 1024),
		HaveField("Rate", BeZero()), HaveField("DialConcurrency", 64),
	))
	g.Expect(s.String()).To(Equal("stalled clients: 50 slow-read GET http://127.0.0.1:8080/api/stream (read 16 B every 1s)"))
	g.Expect(string(s.request)).To(HavePrefix("GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"))
	g.Expect(string(s.request)).To(HaveSuffix("\r\n\r\n"))
	g.Expect(string(s.head)).NotTo(HaveSuffix("\r\n\r\n"), "slowloris never ends the header block")
	m, err := ParseMode("abandon")
	g.Expect(m, err).To(Equal(Abandon))
	_, err = ParseMode("nope")
	g.Expect(err).To(MatchError(ContainSubstring("allowed: slowloris, slow-read, idle, abandon")))
}

func TestInjectFailsClearlyWhenTheTargetIsUnreachable(t *testing.T) {
	noLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	_ = ln.Close()
	s := newStall(t, url, Config{Mode: Slowloris, Count: 100})
	err = s.Inject(context.Background(), time.Minute)
	g := NewWithT(t)
	g.Expect(err).To(MatchError(ContainSubstring("stall: target " + url + " is unreachable")))
	g.Expect(errors.Is(err, syscall.ECONNREFUSED)).To(BeTrue(), "the dial error is wrapped: %v", err)
	g.Expect(s.Stats()).To(And(HaveField("Connected", BeZero()), HaveField("Goroutines", BeZero())))
}

func TestLeaseExpiresWithoutClear(t *testing.T) {
	noLeaks(t)
	g := NewWithT(t)
	ts := startServer(t, okHandler(), nil)
	s := newStall(t, ts.URL, Config{Mode: Idle, Count: 10})
	begin := time.Now()
	inject(t, s, 300*time.Millisecond)
	g.Expect(s.Stats().Connected).To(BeEquivalentTo(10))

	g.Expect(s.Stats().Expired).To(BeFalse())
	poll(g, s.Stats).Should(And(HaveField("Connected", BeZero()), HaveField("Goroutines", BeZero()), HaveField("Expired", BeTrue())))
	g.Expect(time.Since(begin)).To(BeNumerically(">=", 300*time.Millisecond))
	poll(g, ts.open).Should(BeZero())
	g.Expect(s.Stats().ServerClosed).To(BeZero(), "the lease closed them, not the server")
	g.Expect(s.Clear(context.Background())).To(Succeed())
}

func TestClearIsIdempotentAndSafeConcurrently(t *testing.T) {
	noLeaks(t)
	g := NewWithT(t)
	ts := startServer(t, okHandler(), nil)
	s := newStall(t, ts.URL, Config{Mode: Slowloris, Count: 200, Interval: 50 * time.Millisecond})
	g.Expect(s.Clear(context.Background())).To(Succeed(), "before Inject")
	inject(t, s, 0)
	poll(g, ts.open).Should(Equal(200))

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- s.Clear(context.Background()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(time.Since(start)).To(BeNumerically("<", time.Second))
	g.Expect(s.Stats()).To(And(HaveField("Connected", BeZero()), HaveField("Goroutines", BeZero())))
	g.Expect(s.Clear(context.Background())).To(Succeed(), "after Clear")
	poll(g, ts.open).Should(BeZero())
}

func TestInjectTwiceFailsAndInjectAfterClearStartsAfresh(t *testing.T) {
	noLeaks(t)
	g := NewWithT(t)
	ts := startServer(t, okHandler(), nil)
	s := newStall(t, ts.URL, Config{Mode: Idle, Count: 5})
	inject(t, s, 0)
	g.Expect(s.Inject(context.Background(), 0)).To(MatchError(ContainSubstring("already injected; clear it first")))
	g.Expect(s.Stats().Connected).To(BeEquivalentTo(5), "the failed Inject leaves the running one alone")

	clearFast(t, s)
	inject(t, s, 0)
	g.Expect(s.Stats()).To(And(HaveField("Connected", BeEquivalentTo(5)), HaveField("Dialed", BeEquivalentTo(5))))
	poll(g, ts.open).Should(Equal(5))
}

func TestLeaseExpiringWhileConnectingFailsInject(t *testing.T) {
	noLeaks(t)
	ts := startServer(t, okHandler(), nil)
	s := newStall(t, ts.URL, Config{Mode: Idle, Count: 3000, DialConcurrency: 1})
	err := s.Inject(context.Background(), time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "lease expired while connecting") {
		t.Fatalf("Inject with a 1ms lease = %v, want it to say the lease expired while connecting", err)
	}
	if st := s.Stats(); st.Connected != 0 || st.Goroutines != 0 || !st.Expired {
		t.Errorf("after the lease expired: %+v", st)
	}
}

func TestInjectHonoursItsContext(t *testing.T) {
	noLeaks(t)
	ts := startServer(t, okHandler(), nil)
	s := newStall(t, ts.URL, Config{Mode: Idle, Count: 5})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Inject(ctx, 0)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Inject with a cancelled context = %v, want context.Canceled", err)
	}
	if st := s.Stats(); st.Connected != 0 || st.Goroutines != 0 {
		t.Errorf("after a failed Inject: %+v", st)
	}
}

func TestClearDuringInjectLeavesNothing(t *testing.T) {
	noLeaks(t)
	g := NewWithT(t)
	ts := startServer(t, okHandler(), nil)
	s := newStall(t, ts.URL, Config{Mode: Idle, Count: 2000, DialConcurrency: 4})
	injected := make(chan error, 1)
	go func() { injected <- s.Inject(context.Background(), 0) }()
	poll(g, func() int64 { return s.Stats().Connected }).Should(BeNumerically(">", 0))
	g.Expect(s.Clear(context.Background())).To(Succeed())
	// Either Inject finished first or it reports the Clear; nothing stays.
	g.Eventually(injected).WithTimeout(5 * time.Second).Should(Receive(Or(
		BeNil(), MatchError(ContainSubstring("cleared while connecting")))))
	g.Expect(s.Clear(context.Background())).To(Succeed())
	g.Expect(s.Stats()).To(And(HaveField("Connected", BeZero()), HaveField("Goroutines", BeZero())))
	poll(g, ts.open).Should(BeZero())
}

func TestInjectChecksTheFileLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= MaxCount+fdReserve {
		// A machine with room for every client: lower the soft limit for
		// this test (any process may), so that the check is exercised.
		low := lim
		low.Cur = 1024
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
	}
	s, err := New("http://127.0.0.1:1", Config{Mode: Idle, Count: MaxCount})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Inject(context.Background(), 0)
	if err == nil || !strings.Contains(err.Error(), "RLIMIT_NOFILE") {
		t.Fatalf("Inject of %d clients = %v, want an error naming RLIMIT_NOFILE", MaxCount, err)
	}
}
