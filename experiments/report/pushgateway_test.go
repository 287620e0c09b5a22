package report_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/aftershock/aftershock/experiments/report"
	"github.com/aftershock/aftershock/fixtures/ports"
)

// pushgatewayModule is the Pushgateway release the test builds from its
// module, as a team would run it.
const pushgatewayModule = "github.com/prometheus/pushgateway@v1.11.5"

// TestPushToARealPushgateway: the results pushed with --metrics-push are
// read back from a real Pushgateway, built from its module and started
// here, on its own /metrics: every figure, per drill and fault, under the
// job and grouping labels a dashboard selects on.
func TestPushToARealPushgateway(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Pushgateway from its module (minutes on a new machine); -short skips it")
	}
	bin := t.TempDir()
	build := exec.Command("go", "install", pushgatewayModule)
	build.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go install %s: %v\n%s", pushgatewayModule, err, out)
	}
	addr, err := ports.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	gw := exec.Command(filepath.Join(bin, "pushgateway"), "--web.listen-address="+addr, "--log.level=warn")
	var logs strings.Builder
	gw.Stdout, gw.Stderr = &logs, &logs
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Process.Kill(); gw.Wait() })
	url := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		resp, err := http.Get(url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the Pushgateway at %s never became ready: %v\n%s", url, err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}

	start := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	if err := report.Push(ctx, url, sampleResults(start)); err != nil {
		t.Fatalf("push: %v\n%s", err, logs.String())
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the Pushgateway's /metrics: %v", err)
	}
	// value finds the gauge of name whose labels include every one given.
	value := func(name string, labels map[string]string) (float64, bool) {
		for _, m := range fams[name].GetMetric() {
			if hasLabels(m, labels) {
				return m.GetGauge().GetValue(), true
			}
		}
		return 0, false
	}
	partition := map[string]string{"job": "aftershock", "drill": "shop-partition"}
	fault := map[string]string{"job": "aftershock", "drill": "shop-partition", "fault": "partition"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"aftershock_drill_passed", partition, 0},
		{"aftershock_drill_passed", map[string]string{"job": "aftershock", "drill": "shop-slow"}, 1},
		{"aftershock_drill_last_run_timestamp_seconds", partition, float64(start.Unix())},
		{"aftershock_fault_passed", fault, 0},
		{"aftershock_fault_time_to_baseline_seconds", fault, 30},
		{"aftershock_fault_goroutines_over_baseline", fault, 42},
		{"aftershock_fault_connections_over_baseline", fault, 3},
		{"aftershock_fault_heap_over_baseline_bytes", fault, 3 << 20},
		{"aftershock_fault_p99_during_fault_seconds", fault, 1.5},
	} {
		got, ok := value(c.name, c.labels)
		if !ok {
			t.Errorf("the Pushgateway has no %s%v", c.name, c.labels)
			continue
		}
		if got != c.want {
			t.Errorf("%s%v = %g, want %g", c.name, c.labels, got, c.want)
		}
	}
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}
