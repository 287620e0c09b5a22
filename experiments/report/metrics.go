package report

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/aftershock/aftershock/experiments/runner"
)

// PushJob is the Pushgateway job aftershock pushes under; each drill is a
// group of its own (label drill), so that a run replaces its drill's last
// results and no other's.
const PushJob = "aftershock"

// Push sends each drill's results to the Prometheus Pushgateway at url:
// per drill whether it passed and when it ran; per fault whether it
// passed, how long it took back to baseline, how far goroutines,
// connections and heap stayed over the baseline, and the load's p99
// during the fault. A drill that could not run pushes its verdict and
// time only.
func Push(ctx context.Context, url string, results []*runner.Result) error {
	client := &http.Client{}
	for _, r := range results {
		reg := prometheus.NewRegistry()
		gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
			g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "aftershock", Name: name, Help: help}, labels)
			reg.MustRegister(g)
			return g
		}
		gauge("drill_passed", "1 if the drill's last run passed, 0 if it failed or could not run.").
			WithLabelValues().Set(boolValue(r.Verdict == runner.Pass))
		gauge("drill_last_run_timestamp_seconds", "When the drill's last run started, in Unix seconds.").
			WithLabelValues().Set(float64(r.Start.UnixNano()) / 1e9)
		gauge("drill_duration_seconds", "How long the drill's last run took.").
			WithLabelValues().Set(r.Wall.Seconds())
		passed := gauge("fault_passed", "1 if the service returned to its baseline (and met its SLOs) after the fault.", "fault")
		settle := gauge("fault_time_to_baseline_seconds", "How long after the fault was cleared the service was back at its baseline (the settle deadline if it never was).", "fault")
		goroutines := gauge("fault_goroutines_over_baseline", "Goroutines over the baseline at the verdict.", "fault")
		conns := gauge("fault_connections_over_baseline", "Connections over the baseline at the verdict, in the classes over their tolerance.", "fault")
		heap := gauge("fault_heap_over_baseline_bytes", "Heap (post-GC HeapAlloc) over the baseline at the verdict.", "fault")
		p99 := gauge("fault_p99_during_fault_seconds", "The load's 99th percentile latency while the fault was held.", "fault")
		for _, f := range r.Faults {
			passed.WithLabelValues(f.Name).Set(boolValue(f.Passed()))
			settle.WithLabelValues(f.Name).Set(f.Settle.Seconds())
			if fs := f.Findings; fs != nil {
				goroutines.WithLabelValues(f.Name).Set(float64(fs.Goroutines.After - fs.Goroutines.Before))
				var extra int
				for _, c := range fs.Connections.Over {
					extra += c.After - c.Before
				}
				conns.WithLabelValues(f.Name).Set(float64(extra))
				heap.WithLabelValues(f.Name).Set(float64(fs.Heap.Growth))
			}
			if s := f.DuringFault; s != nil {
				p99.WithLabelValues(f.Name).Set(s.P99.Seconds())
			}
		}
		p := push.New(url, PushJob).Gatherer(reg).Grouping("drill", r.Drill).Client(client)
		if err := p.PushContext(ctx); err != nil {
			return fmt.Errorf("push drill %s's metrics to %s: %w", r.Drill, url, err)
		}
	}
	return nil
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
