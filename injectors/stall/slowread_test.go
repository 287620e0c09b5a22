package stall

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// streamServer serves an endless stream and records, per handler, since
// when its current Write has been blocked.
type streamServer struct {
	mu      sync.Mutex
	writing map[*atomic.Int64]struct{} // start of the current Write, 0 between writes
	active  atomic.Int64
	written atomic.Int64
}

func (s *streamServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.active.Add(1)
	defer s.active.Add(-1)
	since := new(atomic.Int64)
	s.mu.Lock()
	s.writing[since] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.writing, since)
		s.mu.Unlock()
	}()
	chunk := make([]byte, 32<<10)
	for range 4096 { // 128 MiB at most: bounded even if nobody stalls it
		since.Store(time.Now().UnixNano())
		n, err := w.Write(chunk)
		since.Store(0)
		s.written.Add(int64(n))
		if err != nil {
			return
		}
	}
}

// blocked counts the handlers whose current Write has lasted longer than d.
func (s *streamServer) blocked(d time.Duration) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for since := range s.writing {
		if st := since.Load(); st != 0 && time.Since(time.Unix(0, st)) > d {
			n++
		}
	}
	return n
}

func TestSlowReadBlocksTheHandlersWrites(t *testing.T) {
	noLeaks(t)
	g := NewWithT(t)
	stream := &streamServer{writing: map[*atomic.Int64]struct{}{}}
	mux := http.NewServeMux()
	mux.Handle("/stream", stream)
	ts := startServer(t, mux, nil)
	s := newStall(t, ts.URL, Config{Mode: SlowRead, Count: 5, Path: "/stream", Interval: 20 * time.Millisecond})
	inject(t, s, 0)

	poll(g, func() int { return stream.blocked(300 * time.Millisecond) }).Should(Equal(5))
	g.Expect(ts.count(http.StateActive)).To(Equal(5))
	// The server got rid of little: its socket buffers, not the stream.
	g.Expect(stream.written.Load()).To(BeNumerically("<", 5*8<<20))
	g.Expect(s.Stats()).To(And(
		HaveField("Requests", BeEquivalentTo(5)),
		HaveField("BytesRead", BeNumerically(">", 0)),
		HaveField("ServerClosed", BeZero()),
	))

	clearFast(t, s)
	poll(g, stream.active.Load).Should(BeZero(), "handlers must return once the readers are gone")
}

func TestSlowReadIsClosedByWriteTimeout(t *testing.T) {
	noLeaks(t)
	g := NewWithT(t)
	stream := &streamServer{writing: map[*atomic.Int64]struct{}{}}
	ts := startServer(t, stream, func(srv *http.Server) { srv.WriteTimeout = 200 * time.Millisecond })
	// 64 KiB every 10ms through a 64 KiB window is still far slower than
	// the handler writes, so it blocks; but it drains the server's send
	// buffer (on loopback it grows to about 1.6 MiB per connection) within
	// a second, and the close queued behind that data reaches the client.
	s := newStall(t, ts.URL, Config{Mode: SlowRead, Count: 3, Interval: 10 * time.Millisecond, ChunkSize: 64 << 10, RecvBuffer: 64 << 10})
	inject(t, s, 0)

	// The handlers give up at the absolute write deadline.
	poll(g, stream.active.Load).Should(BeZero())
	poll(g, s.Stats).Should(And(
		HaveField("ServerClosed", BeEquivalentTo(3)),
		HaveField("Connected", BeZero()),
	))
}
