package stall

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestAbandonCancelsHandlersMidFlight(t *testing.T) {
	noLeaks(t)
	g := NewWithT(t)
	var started, cancelled atomic.Int64
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Add(1)
		select {
		case <-r.Context().Done():
			cancelled.Add(1)
		case <-time.After(10 * time.Second):
			_, _ = w.Write([]byte("too late\n"))
		}
	}), nil)
	const rate = 100
	s := newStall(t, ts.URL, Config{Mode: Abandon, Count: 4, Path: "/slow", Rate: rate, AbandonAfter: 30 * time.Millisecond})
	begin := time.Now()
	inject(t, s, 0)

	poll(g, cancelled.Load).Should(BeNumerically(">=", 20))
	elapsed := time.Since(begin)
	st := s.Stats()
	g.Expect(st.Abandoned).To(BeNumerically(">=", 20))
	g.Expect(st.Answered).To(BeZero())
	g.Expect(st.Errors).To(BeZero())
	// The rate bound holds: never more than Rate requests a second.
	g.Expect(float64(st.Requests)).To(BeNumerically("<=", rate*elapsed.Seconds()+1))
	g.Expect(started.Load()).To(BeNumerically("<=", st.Requests))

	clearFast(t, s)
	poll(g, func() int64 { return started.Load() - cancelled.Load() }).Should(BeZero(), "every handler saw its context cancelled")
}

func TestAbandonCountsAnsweredRequests(t *testing.T) {
	noLeaks(t)
	g := NewWithT(t)
	ts := startServer(t, okHandler(), nil)
	s := newStall(t, ts.URL, Config{Mode: Abandon, Count: 2, Rate: 200, AbandonAfter: 20 * time.Millisecond})
	inject(t, s, 0)
	poll(g, s.Stats).Should(And(
		HaveField("Abandoned", BeNumerically(">=", 5)),
		HaveField("Answered", BeNumerically(">=", 5)),
	))
}
