package runner_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

// stalledYAML is a drill of one fault, stalled idle clients, against a
// snapshottest target: no upstream and no load, so that what the target
// does is what the drill asks of it.
func stalledYAML(target *snapshottest.Target, settle string) []byte {
	return fmt.Appendf(nil, `apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: stalled}
spec:
  target: {url: %q, pprof: %q}
  faults:
    - {name: crowd, duration: 1s, stalledClients: {mode: idle, count: 3}}
  verify: {settle: %s, quiesce: 500ms}
`, target.URL, target.PprofURL, settle)
}

func stalledDrill(t testing.TB, target *snapshottest.Target, settle string) *experiments.Drill {
	t.Helper()
	d, err := experiments.Parse("stalled.yaml", stalledYAML(target, settle))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// forcedGCs reads how many GCs the target has been forced to run.
func forcedGCs(t testing.TB, c *snapshot.Client) uint64 {
	t.Helper()
	s, err := c.CaptureLight(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.MemStats.NumForcedGC
}

// TestHealthyDrillForcesTwoGCs: a drill of one fault on a service that
// returns forces two GCs for the baseline (the second drains the pools'
// victim caches, for the exact slow-leak figures) and one for the heap
// verdict, and one more only when that reading is above the noise floor —
// the quiesce and the settle's polls force none — and the result's cost
// says so, as the target counts it.
func TestHealthyDrillForcesTwoGCs(t *testing.T) {
	t.Parallel()
	target := snapshottest.Start(t)
	target.Park(200)
	target.Retain(32 << 20)
	c, err := snapshot.NewClient(target.PprofURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := forcedGCs(t, c)
	res, err := runner.Run(context.Background(), stalledDrill(t, target, "10s"))
	if err != nil {
		t.Fatal(err)
	}
	forced := forcedGCs(t, c) - before
	if res.Verdict != runner.Pass {
		var b strings.Builder
		runner.WriteText(&b, res)
		t.Fatalf("verdict %s:\n%s", res.Verdict, b.String())
	}
	if forced < 3 || forced > 4 || res.Cost.ForcedGCs != int(forced) {
		t.Errorf("the drill forced %d GCs on the target (it counted %d), want 3 or 4: %+v", forced, res.Cost.ForcedGCs, res.Cost)
	}
	if n := res.Cost.Captures["full"]; n != 1 {
		t.Errorf("%d full captures, want 1 (the baseline)", n)
	}
	if n := res.Cost.Captures["goroutines"]; n != 1 {
		t.Errorf("%d debug=2 dumps in the settle, want 1 (once a light poll said the service was back)", n)
	}
}

// TestLeakFailsAtTheDeadlineNamingTheCulprit: goroutines parked while the
// fault is held, and never released, fail the drill at the settle
// deadline; the findings name their function, and a Ginkgo-style step
// by step run (Prepare, Fault, Close) gives the same result as Run.
func TestLeakFailsAtTheDeadlineNamingTheCulprit(t *testing.T) {
	t.Parallel()
	target := snapshottest.Start(t)
	var once sync.Once
	hold := progressFunc(func(line string) {
		if strings.Contains(line, "] hold crowd") {
			once.Do(func() { go target.Park(4) })
		}
	})
	r := runner.New(stalledDrill(t, target, "2s"), runner.WithProgress(hold))
	defer r.Close(context.Background())
	ctx := context.Background()
	if err := r.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	fr, err := r.Fault(ctx, "crowd")
	if err != nil {
		t.Fatal(err)
	}
	if fr.Returned || fr.Findings == nil {
		t.Fatalf("the leak passed: %+v", fr)
	}
	if !fr.Findings.OK(matchers.Connections, matchers.Heap) || fr.Findings.OK(matchers.Goroutines) {
		t.Errorf("findings: goroutines should fail alone:\n%s", fr.Findings.Message())
	}
	if len(fr.Culprits) != 1 || !strings.Contains(fr.Culprits[0], "+4 goroutines [chan receive] in "+snapshottestPkg+".ParkedWorker") {
		t.Errorf("culprits = %q", fr.Culprits)
	}
	if fr.Settle < 2*time.Second {
		t.Errorf("failed after %s, before the 2s deadline", fr.Settle)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if res := r.Result(); res.Verdict != runner.Fail || len(res.Faults) != 1 {
		t.Errorf("result: %s with %d faults", res.Verdict, len(res.Faults))
	}
	target.Release()
}

const snapshottestPkg = "github.com/aftershock/aftershock/snapshot/snapshottest"

// progressFunc calls f with every line of progress.
type progressFunc func(string)

func (p progressFunc) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		p(l)
	}
	return len(b), nil
}

// TestResourceTimeline: the journal's resource timeline shows the
// goroutines leaving the band while the fault holds them and, on a leaky
// target, staying out past the settle deadline; on a fixed one (the
// goroutines released at the clear) coming back into it.
func TestResourceTimeline(t *testing.T) {
	t.Parallel()
	for _, leaky := range []bool{true, false} {
		t.Run(fmt.Sprint("leaky=", leaky), func(t *testing.T) {
			t.Parallel()
			target := snapshottest.Start(t)
			defer target.Release()
			var hold, clear sync.Once
			progress := progressFunc(func(line string) {
				switch {
				case strings.Contains(line, "] hold crowd"):
					hold.Do(func() { target.Park(20) })
				case strings.Contains(line, "] clear crowd") && !leaky:
					clear.Do(target.Release)
				}
			})
			// A hold of 3 s, and a budget that lets the sampler read the
			// target a few times in it on a busy machine. The sampler
			// spaces its reads by their cost, and under the race detector
			// the target (this test binary) takes several times longer to
			// write its goroutine profile: a larger budget keeps the reads
			// as frequent.
			budget := 0.2
			if raceEnabled {
				budget = 0.6
			}
			d, err := experiments.Parse("stalled.yaml", bytes.Replace(stalledYAML(target, "3s"), []byte("duration: 1s"), []byte("duration: 3s"), 1))
			if err != nil {
				t.Fatal(err)
			}
			res, err := runner.Run(context.Background(), d, runner.WithProgress(progress), runner.WithBudget(budget),
				// One hold: the window this test reads is the first cycle's,
				// whatever the heap's noise floor makes of a few KiB.
				runner.WithCycles(1))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Faults) != 1 || res.Faults[0].Findings == nil || res.Baseline == nil {
				t.Fatalf("no verdict: %+v", res)
			}
			fr := res.Faults[0]
			if fr.Returned == leaky {
				t.Fatalf("returned = %v on a leaky=%v target", fr.Returned, leaky)
			}
			band, _ := fr.Findings.Tolerances.Band()
			top := res.Baseline.Goroutines + band
			var settleStart time.Time
			for _, p := range res.Phases {
				if p.Phase == "settle" {
					settleStart = p.Start
				}
			}
			deadline := settleStart.Add(fr.Settle)
			var during, after, total, sampled int
			var last runner.Sample
			for _, s := range res.Resources {
				total++
				if s.At.After(fr.InEffect) && s.At.Before(fr.Cleared) && s.Kind == "light" {
					sampled++ // the drill takes no capture of its own while it holds a fault
				}
				if s.At.After(fr.InEffect) && s.At.Before(fr.Cleared) && s.Goroutines > top {
					during++
				}
				if !s.At.Before(deadline) {
					after++
				}
				last = s
			}
			t.Logf("%d samples; baseline %d goroutines, band to %d; %d out of it during the fault; last %d (%s, %s after the start)",
				total, res.Baseline.Goroutines, top, during, last.Goroutines, last.Kind, last.At.Sub(res.Start).Round(time.Millisecond))
			if during == 0 {
				t.Errorf("no sample during the fault shows the goroutines out of the band")
			}
			if sampled < 2 {
				t.Errorf("%d light samples during the 3s hold: the sampler did not run", sampled)
			}
			if leaky && (after == 0 || last.Goroutines <= top) {
				t.Errorf("leaky: %d samples at or after the settle deadline, the last %d goroutines (band to %d): want out of the band past the deadline", after, last.Goroutines, top)
			}
			if !leaky && last.Goroutines > top {
				t.Errorf("fixed: the last sample has %d goroutines, over the band's %d", last.Goroutines, top)
			}
		})
	}
}
