package stall

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// The 10,000-client figures. Benchmarks:
//
//	go test -run '^$' -bench StalledClients -benchtime 1x ./injectors/stall/
//
// TestStalledClientMemory checks the memory bound with 1,000 clients on
// every run, and with 10,000 when asked:
//
//	go test ./injectors/stall/ -run StalledClientMemory -v -args -stall.10k
var tenK = flag.Bool("stall.10k", false, "check the memory bound with 10,000 stalled clients (about 5 s)")

const (
	tenThousand = 10000
	// perClientBound is the most heap and stack one stalled client may cost.
	perClientBound = 8 << 10
)

func BenchmarkStalledClients(b *testing.B) {
	for _, mode := range []Mode{Idle, Slowloris} {
		b.Run(fmt.Sprintf("%s-%d", mode, tenThousand), func(b *testing.B) {
			url := startHelperServer(b)
			var f figures
			for range b.N {
				f = measure(b, url, Config{Mode: mode, Count: tenThousand})
			}
			f.report(b)
		})
	}
}

func TestStalledClientMemory(t *testing.T) {
	noLeaks(t)
	count := 1000
	if *tenK {
		count = tenThousand
	}
	url := startHelperServer(t)
	for _, mode := range []Mode{Idle, Slowloris} {
		t.Run(fmt.Sprintf("%s-%d", mode, count), func(t *testing.T) {
			f := measure(t, url, Config{Mode: mode, Count: count})
			t.Logf("%s: %s", mode, f)
			if f.perClient() > perClientBound && !raceEnabled {
				t.Errorf("%s: %.0f B per stalled client, want at most %d", mode, f.perClient(), perClientBound)
			}
		})
	}
}

// figures is what one measurement found, per client.
type figures struct {
	heap, stack, sys, goroutines float64
	connect, clear               time.Duration
	held                         int // connections the server held
}

func (f figures) perClient() float64 { return f.heap + f.stack }

func (f figures) String() string {
	return fmt.Sprintf("%.0f B/client (heap %.0f + stack %.0f; runtime Sys %.0f), %.2f goroutines/client, server held %d, connect %v, clear %v",
		f.perClient(), f.heap, f.stack, f.sys, f.goroutines, f.held, f.connect.Round(time.Millisecond), f.clear.Round(time.Millisecond))
}

func (f figures) report(b *testing.B) {
	b.ReportMetric(f.perClient(), "B/client")
	b.ReportMetric(f.heap, "heap-B/client")
	b.ReportMetric(f.stack, "stack-B/client")
	b.ReportMetric(f.sys, "sys-B/client")
	b.ReportMetric(f.goroutines, "goroutines/client")
	b.ReportMetric(f.connect.Seconds(), "connect-s")
	b.ReportMetric(float64(f.clear.Milliseconds()), "clear-ms")
	b.Logf("%s", f)
}

// measure injects cfg against url and returns the memory the stalled
// clients hold once they all stall: live heap after GC and goroutine
// stacks, from runtime.MemStats, divided by the client count.
func measure(tb testing.TB, url string, cfg Config) figures {
	tb.Helper()
	raiseFileLimit(tb, uint64(cfg.Count)+256)
	s, err := New(url, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	memBefore, gBefore := memNow()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Inject(ctx, 2*time.Minute); err != nil {
		tb.Fatal(err)
	}
	connect := time.Since(start)
	defer func() { _ = s.Clear(context.Background()) }()
	// Let every client reach its steady loop: one trickle for slowloris.
	g := NewWithT(tb)
	if cfg.Mode == Slowloris {
		want := int64(cfg.Count) * int64(len(s.head)+s.cfg.ChunkSize)
		g.Eventually(func() int64 { return s.Stats().BytesSent }).WithTimeout(30 * time.Second).Should(BeNumerically(">=", want))
	}
	memAfter, gAfter := memNow()
	held := serverConns(tb, url)
	if held != cfg.Count {
		tb.Errorf("the server holds %d connections, want %d", held, cfg.Count)
	}
	if st := s.Stats(); st.Connected != int64(cfg.Count) {
		tb.Fatalf("%d of %d clients connected: %+v", st.Connected, cfg.Count, st)
	}
	start = time.Now()
	if err := s.Clear(context.Background()); err != nil {
		tb.Fatal(err)
	}
	n := float64(cfg.Count)
	return figures{
		heap:       float64(int64(memAfter.HeapAlloc)-int64(memBefore.HeapAlloc)) / n,
		stack:      float64(int64(memAfter.StackInuse)-int64(memBefore.StackInuse)) / n,
		sys:        float64(int64(memAfter.Sys)-int64(memBefore.Sys)) / n,
		goroutines: float64(gAfter-gBefore) / n,
		connect:    connect,
		clear:      time.Since(start),
		held:       held,
	}
}

func memNow() (runtime.MemStats, int) {
	runtime.GC()
	runtime.GC() // the second cycle shrinks the stacks the first found oversized
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m, runtime.NumGoroutine()
}

// serverConns asks the helper server how many connections it holds.
func serverConns(tb testing.TB, url string) int {
	tb.Helper()
	resp, err := http.Get(url + "/conns")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var byState map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&byState); err != nil {
		tb.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
	n := 0
	for _, c := range byState {
		n += c
	}
	return n - 1 // not the /conns request itself
}

var readyLine = regexp.MustCompile(`aftershock-fixture ready (\{.*\})`)

// startHelperServer runs this test binary as the helper server and kills it
// at cleanup.
func startHelperServer(tb testing.TB) string {
	tb.Helper()
	g := NewWithT(tb)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	session, err := gexec.Start(cmd, nil, os.Stderr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		session.Kill()
		g.Eventually(session).WithTimeout(10 * time.Second).Should(gexec.Exit())
	})
	g.Eventually(session.Out.Contents).WithTimeout(10 * time.Second).Should(MatchRegexp(readyLine.String()))
	var ready struct{ URL string }
	if err := json.Unmarshal(readyLine.FindSubmatch(session.Out.Contents())[1], &ready); err != nil {
		tb.Fatal(err)
	}
	return ready.URL
}

// raiseFileLimit raises the soft RLIMIT_NOFILE to need (Go already raises
// it to the hard limit at start-up; this makes the need explicit and skips
// where the hard limit is too low).
func raiseFileLimit(tb testing.TB, need uint64) {
	tb.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatal(err)
	}
	if lim.Cur >= need {
		return
	}
	if lim.Max < need {
		tb.Skipf("RLIMIT_NOFILE hard limit %d < %d", lim.Max, need)
	}
	lim.Cur = need
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatal(err)
	}
}
