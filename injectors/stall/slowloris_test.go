package stall

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestSlowlorisHoldsServerConnectionsInStateNew(t *testing.T) {
	noLeaks(t)
	g := NewWithT(t)
	var handled atomic.Int64
	ts := startServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { handled.Add(1) }), nil)
	s := newStall(t, ts.URL, Config{Mode: Slowloris, Count: 20, Interval: 20 * time.Millisecond})
	inject(t, s, 0)

	g.Expect(s.Stats().Connected).To(BeEquivalentTo(20))
	poll(g, func() int { return ts.count(http.StateNew) }).Should(Equal(20))
	// Several trickles later the server is still waiting for the headers.
	sent := s.Stats().BytesSent
	poll(g, func() int64 { return s.Stats().BytesSent }).Should(BeNumerically(">=", sent+20*5))
	g.Expect(ts.count(http.StateNew)).To(Equal(20))
	g.Expect(ts.open()).To(Equal(20))
	g.Expect(handled.Load()).To(BeZero(), "no request may ever complete")
	g.Expect(s.Stats()).To(And(
		HaveField("ServerClosed", BeZero()),
		HaveField("Errors", BeZero()),
		HaveField("Requests", BeZero()),
	))

	clearFast(t, s)
	poll(g, ts.open).Should(BeZero())
}

func TestSlowlorisIsClosedByReadHeaderTimeout(t *testing.T) {
	noLeaks(t)
	g := NewWithT(t)
	ts := startServer(t, okHandler(), func(srv *http.Server) { srv.ReadHeaderTimeout = 150 * time.Millisecond })
	s := newStall(t, ts.URL, Config{Mode: Slowloris, Count: 10, Interval: 20 * time.Millisecond})
	inject(t, s, 0)

	poll(g, s.Stats).Should(And(
		HaveField("ServerClosed", BeEquivalentTo(10)),
		HaveField("Connected", BeZero()),
		HaveField("Goroutines", BeZero()),
	))
	g.Expect(s.Stats().Errors).To(BeZero())
	g.Expect(ts.open()).To(BeZero())
}

func TestSlowlorisReconnectsAfterTheServerClosed(t *testing.T) {
	noLeaks(t)
	g := NewWithT(t)
	ts := startServer(t, okHandler(), func(srv *http.Server) { srv.ReadHeaderTimeout = 100 * time.Millisecond })
	s := newStall(t, ts.URL, Config{Mode: Slowloris, Count: 5, Interval: 20 * time.Millisecond, Reconnect: true})
	inject(t, s, 0)

	// Each client comes back: more connections than clients, and the
	// server keeps seeing new ones.
	poll(g, s.Stats).Should(And(
		HaveField("ServerClosed", BeNumerically(">=", 10)),
		HaveField("Dialed", BeNumerically(">=", 15)),
	))
	g.Expect(s.Stats().Goroutines).To(BeEquivalentTo(5))
	clearFast(t, s)
	poll(g, ts.open).Should(BeZero())
}
