package stall

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestIdleHoldsNewConnections(t *testing.T) {
	noLeaks(t)
	g := NewWithT(t)
	ts := startServer(t, okHandler(), nil)
	s := newStall(t, ts.URL, Config{Mode: Idle, Count: 30})
	inject(t, s, 0)

	poll(g, func() int { return ts.count(http.StateNew) }).Should(Equal(30))
	g.Consistently(ts.open).WithTimeout(200 * time.Millisecond).WithPolling(20 * time.Millisecond).Should(Equal(30))
	g.Expect(s.Stats()).To(And(
		HaveField("Connected", BeEquivalentTo(30)),
		HaveField("BytesSent", BeZero()),
		HaveField("Goroutines", BeEquivalentTo(30)),
	))
	clearFast(t, s)
	poll(g, ts.open).Should(BeZero())
}

func TestIdleHoldsKeepAliveConnections(t *testing.T) {
	noLeaks(t)
	g := NewWithT(t)
	var handled atomic.Int64
	var gotUA, gotHeader atomic.Value
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handled.Add(1)
		gotUA.Store(r.UserAgent())
		gotHeader.Store(r.Header.Get("X-Drill"))
		_, _ = w.Write([]byte("ok\n"))
	}), nil)
	s := newStall(t, ts.URL, Config{
		Mode: Idle, Count: 10, KeepAliveRequest: true, Path: "/health",
		Headers: http.Header{"X-Drill": {"idle"}},
	})
	inject(t, s, 0)

	poll(g, func() int { return ts.count(http.StateIdle) }).Should(Equal(10))
	g.Expect(handled.Load()).To(BeEquivalentTo(10))
	g.Expect(gotUA.Load()).To(Equal(userAgent))
	g.Expect(gotHeader.Load()).To(Equal("idle"))
	g.Expect(s.Stats()).To(And(HaveField("Requests", BeEquivalentTo(10)), HaveField("BytesRead", BeNumerically(">", 0))))
	clearFast(t, s)
	poll(g, ts.open).Should(BeZero())
}

func TestIdleIsClosedByServerTimeouts(t *testing.T) {
	for name, c := range map[string]struct {
		cfg       Config
		configure func(*http.Server)
	}{
		"new connection, ReadHeaderTimeout": {
			Config{Mode: Idle, Count: 10},
			func(srv *http.Server) { srv.ReadHeaderTimeout = 100 * time.Millisecond },
		},
		"keep-alive connection, IdleTimeout": {
			Config{Mode: Idle, Count: 10, KeepAliveRequest: true},
			func(srv *http.Server) { srv.IdleTimeout = 100 * time.Millisecond },
		},
	} {
		t.Run(name, func(t *testing.T) {
			noLeaks(t)
			g := NewWithT(t)
			ts := startServer(t, okHandler(), c.configure)
			s := newStall(t, ts.URL, c.cfg)
			inject(t, s, 0)
			poll(g, s.Stats).Should(And(
				HaveField("ServerClosed", BeEquivalentTo(10)),
				HaveField("Connected", BeZero()),
				HaveField("Goroutines", BeZero()),
				HaveField("Errors", BeZero()),
			))
		})
	}
}
