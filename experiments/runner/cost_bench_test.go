package runner_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/snapshot"
	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

// envReference names an aftershock binary to measure beside this one, in
// the same run and on the same target (an older build, say).
const envReference = "AFTERSHOCK_REFERENCE_CLI"

// BenchmarkDrillCostOnTarget drills a healthy target that holds 400 MiB
// of live heap and 2,000 idle goroutines with one fault (stalled idle
// clients, no load: what the target spends is what the drill asks of it)
// and reports, per drill, the GCs it forced on the target
// (runtime.MemStats.NumForcedGC before and after) and the target's CPU
// time as a share of one core over the drill's wall time. The target's
// CPU time at rest over as long a time is reported beside it (idle-%core).
//
//	go test -run '^$' -bench DrillCost -benchtime 3x ./experiments/runner/
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
	d := stalledDrill(b, target, "10s")
	file := filepath.Join(b.TempDir(), "drill.yaml")
	if err := os.WriteFile(file, stalledYAML(target, "10s"), 0o644); err != nil {
		b.Fatal(err)
	}

	measure := func(b *testing.B, drill func() error) {
		var gcs uint64
		var cpu, wall, idle time.Duration
		for b.Loop() {
			gc0, cpu0, t0 := forcedGCs(b, c), cpuTime(b, target.Pid()), time.Now()
			if err := drill(); err != nil {
				b.Fatal(err)
			}
			w := time.Since(t0)
			cpu += cpuTime(b, target.Pid()) - cpu0
			gcs += forcedGCs(b, c) - gc0
			wall += w
			// The same target at rest for as long: what it spends anyway.
			i0 := cpuTime(b, target.Pid())
			time.Sleep(w)
			idle += cpuTime(b, target.Pid()) - i0
		}
		n := float64(b.N)
		b.ReportMetric(float64(gcs)/n, "forced-GCs/drill")
		b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "target-%core")
		b.ReportMetric(100*idle.Seconds()/wall.Seconds(), "idle-%core")
		b.ReportMetric(wall.Seconds()/n, "s/drill")
	}

	b.Run("aftershock", func(b *testing.B) {
		measure(b, func() error {
			res, err := runner.Run(context.Background(), d)
			if err == nil && res.Verdict != runner.Pass {
				var t strings.Builder
				runner.WriteText(&t, res)
				err = fmt.Errorf("the healthy target failed:\n%s", t.String())
			}
			return err
		})
	})
	if ref := os.Getenv(envReference); ref != "" {
		b.Run("reference", func(b *testing.B) {
			measure(b, func() error {
				out, err := exec.Command(ref, "drill", file).CombinedOutput()
				if err != nil {
					return fmt.Errorf("%s drill: %w\n%s", ref, err, out)
				}
				return nil
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
