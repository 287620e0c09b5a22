package runner_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

// BenchmarkReplicas drills a target of 1 and of 10 replicas (real target
// processes) and reports what each replica was asked and the drill's
// wall time: polling N replicas keeps the same budget per replica, so
// captures and capture time per replica stay about the same, and the wall
// time grows little (the replicas settle at the same time).
//
//	go test -run '^$' -bench BenchmarkReplicas -benchtime 2x ./experiments/runner
func BenchmarkReplicas(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			targets := make([]*snapshottest.Target, n)
			var reps strings.Builder
			for i := range targets {
				targets[i] = snapshottest.Start(b)
				fmt.Fprintf(&reps, "      - {name: r%d, pprof: %q}\n", i, targets[i].PprofURL)
			}
			doc := fmt.Sprintf(`apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: replicas}
spec:
  target:
    url: %q
    replicas:
%s  faults:
    - {name: crowd, duration: 1s, stalledClients: {mode: idle, count: 3}}
  verify: {settle: 3s, quiesce: 500ms}
`, targets[0].URL, reps.String())
			d, err := experiments.Parse("replicas.yaml", []byte(doc))
			if err != nil {
				b.Fatal(err)
			}
			var captures, wall float64
			var captureTime time.Duration
			b.ResetTimer()
			for range b.N {
				res, err := runner.Run(context.Background(), d)
				if err != nil {
					b.Fatal(err)
				}
				if res.Verdict != runner.Pass {
					b.Fatalf("verdict %s: %v", res.Verdict, res.Faults)
				}
				for _, c := range res.Cost.Captures {
					captures += float64(c)
				}
				captureTime += res.Cost.CaptureTime
				wall += res.Wall.Seconds()
			}
			b.ReportMetric(captures/float64(b.N*n), "captures/replica")
			b.ReportMetric(float64(captureTime.Milliseconds())/float64(b.N*n), "capture-ms/replica")
			b.ReportMetric(wall/float64(b.N), "wall-s")
		})
	}
}
