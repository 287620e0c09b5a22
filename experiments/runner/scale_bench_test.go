package runner_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/snapshot"
)

// BenchmarkSettleAtScale drills the crowd fixture (fixtures/crowd, built
// with GOEXPERIMENT=goroutineleakprofile) at 10,000, 50,000 and 100,000
// healthy parked goroutines, one fault of 503s that leaks 120 goroutines in
// five patterns, and reports per size:
//
//   - dump-fetch-ms: the target's time to write goroutine?debug=2 (its
//     world stopped) and send it, as the runner reads it;
//   - dump-parse-ms: parsing that dump (snapshot.ParseGoroutines) and
//     grouping it (Summary), here;
//   - dump-MB: the dump's size;
//   - leakread-ms: one goroutineleak profile read (a GC with leak
//     detection, then the profile);
//   - forced-GCs/fault: the GCs the drill forced on the target from the
//     fault's hold to its end (NumForcedGC), goroutineleak reads included;
//   - forced-GCs/drill: the same over the whole drill of one fault, the
//     baseline's included;
//   - proved-s: when the runtime's proof was read, into the settle;
//   - settle-s: when the settle ended (by the proof);
//   - verdict-s: the settle phase's wall time, the verdict's dump and
//     collected heap included.
//
// Each iteration is one drill (about 30-60 s):
//
//	go test -run '^$' -bench SettleAtScale -benchtime 1x ./experiments/runner/
func BenchmarkSettleAtScale(b *testing.B) {
	for _, n := range []int{10000, 50000, 100000} {
		b.Run(fmt.Sprintf("goroutines=%dk", n/1000), func(b *testing.B) {
			svc, d := crowd(b, n, "30s", false)
			dumpURL := svc.Pprof + "/goroutine?debug=2"
			var fetch, parse time.Duration
			var size int
			const reads = 3
			for range reads {
				t0 := time.Now()
				resp, err := http.Get(dumpURL)
				if err != nil {
					b.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				gs, err := snapshot.ParseGoroutines(string(body))
				if err != nil {
					b.Fatal(err)
				}
				s := &snapshot.Snapshot{Goroutines: gs}
				if got := s.Summary().Goroutines; got < n {
					b.Fatalf("the dump holds %d goroutines, want at least %d", got, n)
				}
				fetch, parse, size = fetch+t1.Sub(t0), parse+time.Since(t1), len(body)
			}
			c, err := snapshot.NewClient(svc.Pprof)
			if err != nil {
				b.Fatal(err)
			}
			leak, err := c.CaptureLeaked(context.Background())
			c.Close()
			if err != nil {
				b.Fatal(err)
			}
			var (
				mu                      sync.Mutex
				atHold                  uint64
				gcs, drillGCs           uint64
				proved, settle, verdict time.Duration
			)
			progress := progressFunc(func(line string) {
				if strings.Contains(line, "] hold payments-503") {
					mu.Lock()
					atHold = forcedGCsOf(b, svc.Pprof)
					mu.Unlock()
				}
			})
			for b.Loop() {
				before := forcedGCsOf(b, svc.Pprof)
				res, err := runner.Run(context.Background(), d, runner.WithProgress(progress))
				if err != nil {
					b.Fatal(err)
				}
				if res.Verdict != runner.Fail || len(res.Faults) != 1 {
					b.Fatalf("verdict %s, want fail:\n%s", res.Verdict, resultText(res))
				}
				mu.Lock()
				after := forcedGCsOf(b, svc.Pprof)
				gcs += after - atHold
				drillGCs += after - before
				mu.Unlock()
				fr := res.Faults[0]
				proved += fr.ProvedAfter
				settle += fr.Settle
				for _, p := range res.Phases {
					if p.Phase == "settle" {
						verdict += p.Duration
					}
				}
			}
			k := float64(b.N)
			b.ReportMetric(float64(fetch.Milliseconds())/reads, "dump-fetch-ms")
			b.ReportMetric(float64(parse.Milliseconds())/reads, "dump-parse-ms")
			b.ReportMetric(float64(size)/(1<<20), "dump-MB")
			b.ReportMetric(float64(leak.Cost.Milliseconds()), "leakread-ms")
			b.ReportMetric(float64(gcs)/k, "forced-GCs/fault")
			b.ReportMetric(float64(drillGCs)/k, "forced-GCs/drill")
			b.ReportMetric(proved.Seconds()/k, "proved-s")
			b.ReportMetric(settle.Seconds()/k, "settle-s")
			b.ReportMetric(verdict.Seconds()/k, "verdict-s")
		})
	}
}
