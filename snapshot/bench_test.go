package snapshot_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftershock/aftershock/snapshot"
)

// benchGoroutines is the size of the benchmark's dump: 100,000 goroutines,
// about 30 MB of goroutine?debug=2 text.
const benchGoroutines = 100_000

// benchDump returns a real debug=2 dump of this process while it parks n
// goroutines the way a busy service does (workers on channels, selects with
// timers, sleepers, lock waiters, a few frames deep), cached in the temp
// dir across runs because producing it stops the world for seconds.
func benchDump(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("aftershock-bench-dump-%d-%s.txt", n, runtime.Version()))
	if data, err := os.ReadFile(path); err == nil {
		return string(data)
	}
	release := make(chan struct{})
	var mu sync.Mutex
	mu.Lock()
	var started sync.WaitGroup
	for i := range n {
		started.Add(1)
		switch i % 10 {
		case 0, 1, 2:
			go orderWorker(&started, release, (i/10)%2)
		case 3, 4:
			go paymentPoller(&started, release, 0)
		case 5, 6:
			go sessionSweeper(&started, release)
		case 7:
			go cacheLoader(&started, &mu, 0)
		default:
			go streamPump(&started, release, (i/10)%2)
		}
	}
	started.Wait()
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 2); err != nil {
		b.Fatal(err)
	}
	close(release)
	mu.Unlock()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Logf("cache dump: %v", err)
	}
	return buf.String()
}

//go:noinline
func orderWorker(started *sync.WaitGroup, release chan struct{}, depth int) {
	if depth > 0 {
		orderWorker(started, release, depth-1)
		return
	}
	started.Done()
	<-release
}

//go:noinline
func paymentPoller(started *sync.WaitGroup, release chan struct{}, depth int) {
	if depth > 0 {
		paymentPoller(started, release, depth-1)
		return
	}
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	started.Done()
	select {
	case <-release:
	case <-t.C:
	}
}

//go:noinline
func sessionSweeper(started *sync.WaitGroup, release chan struct{}) {
	started.Done()
	for {
		select {
		case <-release:
			return
		case <-time.After(time.Hour):
		}
	}
}

//go:noinline
func cacheLoader(started *sync.WaitGroup, mu *sync.Mutex, depth int) {
	if depth > 0 {
		cacheLoader(started, mu, depth-1)
		return
	}
	started.Done()
	mu.Lock()
	defer mu.Unlock()
}

//go:noinline
func streamPump(started *sync.WaitGroup, release chan struct{}, depth int) {
	if depth > 0 {
		streamPump(started, release, depth-1)
		return
	}
	var frames chan []byte // a stream whose producer never came
	started.Done()
	for {
		select {
		case <-release:
			return
		case f := <-frames:
			_ = f
		}
	}
}

// BenchmarkParseAndSummarize parses and summarises a debug=2 dump of
// 100,000 goroutines. Target: under 300 ms and under 5x the dump's size
// in memory on a 2-core machine.
func BenchmarkParseAndSummarize(b *testing.B) {
	dump := benchDump(b, benchGoroutines)
	b.SetBytes(int64(len(dump)))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		gs, err := snapshot.ParseGoroutines(dump)
		if err != nil {
			b.Fatal(err)
		}
		s := &snapshot.Snapshot{Dump: dump, Goroutines: gs}
		if sum := s.Summary(); sum.Goroutines < benchGoroutines {
			b.Fatalf("summary counts %d goroutines", sum.Goroutines)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	perOp := float64(after.TotalAlloc-before.TotalAlloc) / float64(b.N)
	b.ReportMetric(perOp/float64(len(dump)), "alloc/dump")
	b.ReportMetric(float64(len(dump))/1e6, "dump-MB")
}

// BenchmarkLineScan is the floor: finding every line of the same dump.
func BenchmarkLineScan(b *testing.B) {
	dump := benchDump(b, benchGoroutines)
	b.SetBytes(int64(len(dump)))
	b.ResetTimer()
	for b.Loop() {
		lines := 0
		for rest := dump; ; lines++ {
			i := strings.IndexByte(rest, '\n')
			if i < 0 {
				break
			}
			rest = rest[i+1:]
		}
		if lines == 0 {
			b.Fatal("no lines")
		}
	}
}
