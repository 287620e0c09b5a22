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
//     collected heap included;
//   - poll-share-hold, poll-share-settle: the share of the phase's wall
//     time the target spent answering the drill's polls (light captures:
//     the goroutine profile and MemStats read without a GC), against the
//     budgets the runner declares: snapshot.DefaultBudget (1 %) while the
//     fault is held, five times that in the settle;
//   - capture-share-drill: the same for every capture of the drill
//     (baseline and verdict dumps, forced GCs and goroutineleak reads
//     included), over its wall time.
//
// The target's pprof is served to the drill through a proxy that times
// each answer (pprofProxy): the figures include the proxy's own time, so
// they overstate the target's.
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
				answers                 []answer // the target's answers to the drill, in this iteration
				held, settling          [2]time.Duration
				drillShare              float64
			)
			starts := map[*http.Request]time.Time{}
			d.Spec.Target.Pprof = pprofProxy(b, svc.Pprof, func(r *http.Request) bool {
				mu.Lock()
				starts[r] = time.Now()
				mu.Unlock()
				return true
			}, func(r *http.Request, body []byte) []byte {
				mu.Lock()
				q := r.URL.Query()
				path := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
				light := (path == "goroutine" && q.Get("debug") != "2") || (path == "heap" && q.Get("debug") == "1" && q.Get("gc") == "")
				answers = append(answers, answer{starts[r], time.Since(starts[r]), light})
				delete(starts, r)
				mu.Unlock()
				return body
			})
			progress := progressFunc(func(line string) {
				if strings.Contains(line, "] hold payments-503") {
					mu.Lock()
					atHold = forcedGCsOf(b, svc.Pprof)
					mu.Unlock()
				}
			})
			for b.Loop() {
				before := forcedGCsOf(b, svc.Pprof)
				mu.Lock()
				answers = nil
				mu.Unlock()
				t0 := time.Now()
				res, err := runner.Run(context.Background(), d, runner.WithProgress(progress))
				wall := time.Since(t0)
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
				mu.Lock()
				var all time.Duration
				for _, a := range answers {
					all += a.took
					for _, p := range res.Phases {
						if !a.light || a.at.Before(p.Start) || !a.at.Before(p.Start.Add(p.Duration)) {
							continue
						}
						switch p.Phase {
						case "hold":
							held[0] += a.took
						case "settle":
							settling[0] += a.took
						}
					}
				}
				drillShare += all.Seconds() / wall.Seconds()
				mu.Unlock()
				for _, p := range res.Phases {
					switch p.Phase {
					case "settle":
						verdict += p.Duration
						settling[1] += p.Duration
					case "hold":
						held[1] += p.Duration
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
			b.ReportMetric(100*held[0].Seconds()/held[1].Seconds(), "poll-share-hold-%")
			b.ReportMetric(100*settling[0].Seconds()/settling[1].Seconds(), "poll-share-settle-%")
			b.ReportMetric(100*drillShare/k, "capture-share-drill-%")
		})
	}
}

// answer is one answer of the target's pprof to the drill: when it was
// asked, how long it took, and whether it was a light poll.
type answer struct {
	at    time.Time
	took  time.Duration
	light bool
}
