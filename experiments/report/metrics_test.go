package report_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/aftershock/aftershock/experiments/load"
	"github.com/aftershock/aftershock/experiments/report"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

func sampleResults(start time.Time) []*runner.Result {
	leak := runner.FaultResult{Name: "partition", Returned: false, Settle: 30 * time.Second,
		Culprits: []string{"42 goroutines parked in shop.(*Client).call (chan receive), created by shop.handler", "3 more HTTP/1 client conns (body never closed)"},
		Findings: &matchers.Findings{
			Goroutines:  matchers.GoroutineFindings{Before: 10, After: 52},
			Connections: matchers.ConnectionFindings{Over: []matchers.ConnFinding{{ConnDelta: snapshot.ConnDelta{Class: "http1-client", Before: 1, After: 4}}}},
			Heap:        matchers.HeapFindings{Growth: 3 << 20},
		},
		DuringFault: &load.PhaseStats{P99: 1500 * time.Millisecond}}
	ok := runner.FaultResult{Name: "slow", Returned: true, Settle: 1200 * time.Millisecond,
		Findings:    &matchers.Findings{Goroutines: matchers.GoroutineFindings{Before: 10, After: 10}},
		DuringFault: &load.PhaseStats{P99: 250 * time.Millisecond}}
	return []*runner.Result{
		{Drill: "shop-partition", Verdict: runner.Fail, Start: start, Wall: time.Minute, Faults: []runner.FaultResult{leak}},
		{Drill: "shop-slow", Verdict: runner.Pass, Start: start.Add(time.Minute), Wall: time.Minute, Faults: []runner.FaultResult{ok}},
	}
}

// TestPushMetrics: each drill's results reach a Pushgateway's push API
// as Prometheus exposition, one group per drill, with the figures of its
// faults. The server here is an httptest server that parses what arrives
// with expfmt, so that every push is checked as sent;
// TestPushToARealPushgateway reads the same figures back from a real one.
func TestPushMetrics(t *testing.T) {
	var mu sync.Mutex
	pushed := map[string]map[string]*dto.MetricFamily{} // path → families
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			http.Error(w, "want PUT", http.StatusMethodNotAllowed)
			return
		}
		body, _ := io.ReadAll(r.Body)
		dec := expfmt.NewDecoder(strings.NewReader(string(body)), expfmt.ResponseFormat(r.Header))
		fams := map[string]*dto.MetricFamily{}
		for {
			var mf dto.MetricFamily
			if err := dec.Decode(&mf); err == io.EOF {
				break
			} else if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fams[mf.GetName()] = &mf
		}
		mu.Lock()
		pushed[r.URL.Path] = fams
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	start := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	if err := report.Push(context.Background(), srv.URL, sampleResults(start)); err != nil {
		t.Fatal(err)
	}
	fams := pushed["/metrics/job/aftershock/drill/shop-partition"]
	if fams == nil {
		t.Fatalf("nothing pushed for drill shop-partition; paths: %v", keys(pushed))
	}
	if pushed["/metrics/job/aftershock/drill/shop-slow"] == nil {
		t.Fatalf("nothing pushed for drill shop-slow; paths: %v", keys(pushed))
	}
	value := func(fams map[string]*dto.MetricFamily, name string) float64 {
		t.Helper()
		mf := fams[name]
		if mf == nil || len(mf.Metric) != 1 {
			t.Fatalf("metric %s: %v", name, mf)
		}
		return mf.Metric[0].GetGauge().GetValue()
	}
	for name, want := range map[string]float64{
		"aftershock_drill_passed":                     0,
		"aftershock_drill_last_run_timestamp_seconds": float64(start.Unix()),
		"aftershock_fault_passed":                     0,
		"aftershock_fault_time_to_baseline_seconds":   30,
		"aftershock_fault_goroutines_over_baseline":   42,
		"aftershock_fault_connections_over_baseline":  3,
		"aftershock_fault_heap_over_baseline_bytes":   3 << 20,
		"aftershock_fault_p99_during_fault_seconds":   1.5,
	} {
		if got := value(fams, name); got != want {
			t.Errorf("%s = %g, want %g", name, got, want)
		}
	}
	if l := fams["aftershock_fault_passed"].Metric[0].Label; len(l) == 0 || l[len(l)-1].GetName() != "fault" && l[0].GetValue() != "partition" {
		t.Errorf("fault label: %v", l)
	}
	if got := value(pushed["/metrics/job/aftershock/drill/shop-slow"], "aftershock_drill_passed"); got != 1 {
		t.Errorf("shop-slow passed = %g, want 1", got)
	}
	// A gateway that refuses is an error naming it.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusInternalServerError) }))
	defer bad.Close()
	if err := report.Push(context.Background(), bad.URL, sampleResults(start)); err == nil || !strings.Contains(err.Error(), bad.URL) {
		t.Errorf("push to a refusing gateway: %v", err)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestShortVerdict: the termination message names each drill's verdict
// and a failed fault's culprits, and stays within Kubernetes' 4 KiB.
func TestShortVerdict(t *testing.T) {
	rs := sampleResults(time.Now())
	s := report.Short(rs, report.TerminationLimit)
	for _, want := range []string{"drill shop-partition: FAIL", "fault partition: FAIL", "shop.(*Client).call", "drill shop-slow: PASS"} {
		if !strings.Contains(s, want) {
			t.Errorf("short verdict\n%s\nwant %q", s, want)
		}
	}
	if strings.Contains(s, "fault slow") {
		t.Errorf("a passed fault in the short verdict:\n%s", s)
	}
	for i := range 200 {
		rs[0].Faults = append(rs[0].Faults, rs[0].Faults[0])
		rs[0].Faults[i].Name = strings.Repeat("x", 40)
	}
	s = report.Short(rs, report.TerminationLimit)
	if len(s) > report.TerminationLimit || !strings.HasSuffix(s, "(the rest is in the pod's log)\n") {
		t.Errorf("long verdict: %d bytes, ends %q", len(s), s[max(len(s)-60, 0):])
	}
}

// TestPerRunHistory: runs written as --per-run lays them out
// (DIR/<drill>/<UTC time>-<run ID>/journal.json) are read back, every one.
func TestPerRunHistory(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	n := 0
	for day := range 3 {
		for _, r := range sampleResults(start.AddDate(0, 0, day)) {
			run := filepath.Join(dir, r.Drill, r.Start.Format("20060102T150405Z")+"-0badcafe")
			if err := os.MkdirAll(run, 0o755); err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(run, "journal.json"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	rs, err := report.ReadJournals(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != n {
		t.Fatalf("%d runs read back, want %d", len(rs), n)
	}
	var page strings.Builder
	if err := report.WriteHistory(&page, rs, start.AddDate(0, 0, 3)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"shop-partition", "shop-slow"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("history page has no %s", want)
		}
	}
}
