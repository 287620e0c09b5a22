package runner_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/snapshot"
	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

// envReference names an aftershock binary to measure beside this one, in
// the same run and on the same target (an older build, say).
const envReference = "AFTERSHOCK_REFERENCE_CLI"

// BenchmarkDrillCostOnTarget drills a healthy target that holds 400 MiB
// of live heap and 2,000 idle goroutines with one fault (stalled idle
// clients held 5 s, no load: what the target spends is what the drill
// asks of it) and reports, per drill:
//
//   - forced-GCs/drill: the GCs it forced on the target
//     (runtime.MemStats.NumForcedGC before and after);
//
//   - target-%core: the target's CPU time over the drill's wall time, as a
//     share of one core (idle-%core: the same target at rest as long);
//
//   - sampling-%core: the part of it spent answering polls (the goroutine
//     profile of the quiesce, the light snapshots of the settle and of the
//     resource timeline), from the polls the drill made and what each kind
//     costs the target, measured beforehand (count-µs, light-µs; dump-ms
//     and full-ms are the debug=2 dump and the full capture with its
//     forced GC, the verdict's);
//
//   - timeline-%core: the target's CPU time while the fault is held over
//     the hold's wall time: the drill takes no capture of its own then, so
//     it is what the resource timeline's sampler costs (the target at rest
//     spends idle-%core of it anyway).
//
//     go test -run '^$' -bench DrillCost -benchtime 3x ./experiments/runner/
//
// With AFTERSHOCK_REFERENCE_CLI=/path/to/aftershock, the reference's
// `aftershock drill` of the same file runs on the same target too.
func BenchmarkDrillCostOnTarget(b *testing.B) {
	target := snapshottest.Start(b)
	target.Retain(400 << 20)
	target.Park(2000)
	c, err := snapshot.NewClient(target.PprofURL)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	yaml := bytes.Replace(stalledYAML(target, "10s"), []byte("duration: 1s"), []byte("duration: 5s"), 1)
	yaml = bytes.Replace(yaml, []byte(", quiesce: 500ms"), nil, 1)
	d, err := experiments.Parse("stalled.yaml", yaml)
	if err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(b.TempDir(), "drill.yaml")
	if err := os.WriteFile(file, yaml, 0o644); err != nil {
		b.Fatal(err)
	}

	// What one capture of each kind costs the target, in CPU time.
	ctx := context.Background()
	// The light capture's wall time too (the cost the polls are paced
	// by): their ratio is what the sampler's budget must allow for.
	perKind := map[string]time.Duration{}
	var lightWall time.Duration
	for kind, capture := range map[string]func(context.Context) (*snapshot.Snapshot, error){
		"count": c.CaptureCount, "light": c.CaptureLight, "goroutines": c.CaptureGoroutines, "full": c.Capture,
	} {
		const n = 10
		cpu0 := cpuTime(b, target.Pid())
		for range n {
			s, err := capture(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if kind == "light" {
				lightWall += s.Cost / n
			}
		}
		perKind[kind] = (cpuTime(b, target.Pid()) - cpu0) / n
	}

	// The target's CPU time and the wall time while the fault is held:
	// the drill takes no capture of its own then, so what the target
	// spends beyond rest is the resource timeline's sampling.
	var holdCPU, holdWall time.Duration
	var holdCPU0 time.Time
	var cpuAtHold time.Duration
	watchHold := progressFunc(func(line string) {
		switch {
		case strings.Contains(line, "] hold crowd"):
			holdCPU0, cpuAtHold = time.Now(), cpuTime(b, target.Pid())
		case strings.Contains(line, "] clear crowd") && !holdCPU0.IsZero():
			holdCPU += cpuTime(b, target.Pid()) - cpuAtHold
			holdWall += time.Since(holdCPU0)
		}
	})
	measure := func(b *testing.B, drill func() (*runner.Result, error)) {
		var gcs uint64
		var cpu, wall, idle, sampling time.Duration
		holdCPU, holdWall = 0, 0
		for b.Loop() {
			gc0, cpu0, t0 := forcedGCs(b, c), cpuTime(b, target.Pid()), time.Now()
			res, err := drill()
			if err != nil {
				b.Fatal(err)
			}
			w := time.Since(t0)
			cpu += cpuTime(b, target.Pid()) - cpu0
			gcs += forcedGCs(b, c) - gc0
			wall += w
			if res != nil {
				for _, kind := range []string{"count", "light"} {
					sampling += time.Duration(res.Cost.Captures[kind]) * perKind[kind]
				}
			}
			// The same target at rest for as long: what it spends anyway.
			i0 := cpuTime(b, target.Pid())
			time.Sleep(w)
			idle += cpuTime(b, target.Pid()) - i0
		}
		n := float64(b.N)
		b.ReportMetric(float64(gcs)/n, "forced-GCs/drill")
		b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "target-%core")
		b.ReportMetric(100*idle.Seconds()/wall.Seconds(), "idle-%core")
		if sampling > 0 {
			b.ReportMetric(100*sampling.Seconds()/wall.Seconds(), "sampling-%core")
		}
		b.ReportMetric(wall.Seconds()/n, "s/drill")
		if holdWall > 0 {
			b.ReportMetric(100*holdCPU.Seconds()/holdWall.Seconds(), "timeline-%core")
		}
	}

	b.Run("aftershock", func(b *testing.B) {
		measure(b, func() (*runner.Result, error) {
			res, err := runner.Run(ctx, d, runner.WithProgress(watchHold))
			if err == nil && res.Verdict != runner.Pass {
				var t strings.Builder
				runner.WriteText(&t, res)
				err = fmt.Errorf("the healthy target failed:\n%s", t.String())
			}
			return res, err
		})
		// After the loop, which resets what was reported before it.
		b.ReportMetric(float64(perKind["count"].Microseconds()), "count-µs")
		b.ReportMetric(float64(perKind["light"].Microseconds()), "light-µs")
		b.ReportMetric(float64(lightWall.Microseconds()), "light-wall-µs")
		b.ReportMetric(float64(perKind["goroutines"].Milliseconds()), "dump-ms")
		b.ReportMetric(float64(perKind["full"].Milliseconds()), "full-ms")
	})
	if ref := os.Getenv(envReference); ref != "" {
		b.Run("reference", func(b *testing.B) {
			measure(b, func() (*runner.Result, error) {
				out, err := exec.Command(ref, "drill", file).CombinedOutput()
				if err != nil {
					return nil, fmt.Errorf("%s drill: %w\n%s", ref, err, out)
				}
				return nil, nil
			})
		})
	}
}

// cpuTime is the CPU time of every thread of process pid so far, from
// /proc/PID/task/*/schedstat (nanoseconds, unlike the clock ticks of
// /proc/PID/stat).
func cpuTime(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		tb.Skipf("no /proc/%d/task/*/schedstat on this system: %v", pid, err)
	}
	var total time.Duration
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited
		}
		ns, err := strconv.ParseInt(strings.Fields(string(data))[0], 10, 64)
		if err != nil {
			tb.Fatalf("%s: %v", t, err)
		}
		total += time.Duration(ns)
	}
	return total
}
