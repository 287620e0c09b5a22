package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments/load"
	"github.com/aftershock/aftershock/experiments/runner"
)

// runs are ten nightly runs of two drills: payments flips between pass
// and fail, steady always passes.
func runs() []*runner.Result {
	day0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	var out []*runner.Result
	for i := range 5 {
		at := day0.Add(time.Duration(i) * 24 * time.Hour)
		pay := &runner.Result{Drill: "payments", Start: at, Wall: 30 * time.Second, Verdict: runner.Pass,
			Faults: []runner.FaultResult{{Name: "slow", Returned: true, Settle: time.Duration(1+i) * time.Second,
				DuringFault: &load.PhaseStats{P99: time.Duration(200+10*i) * time.Millisecond}}}}
		if i%2 == 1 {
			pay.Verdict = runner.Fail
			pay.Faults[0].Returned, pay.Faults[0].Settle = false, 20*time.Second
			pay.Faults[0].Culprits = []string{"+94 goroutines [chan send] in shop.(*Server).callPayments.func1"}
		}
		steady := &runner.Result{Drill: "steady", Start: at.Add(time.Minute), Wall: 20 * time.Second, Verdict: runner.Pass,
			Faults: []runner.FaultResult{{Name: "cut", Returned: true, Settle: 2 * time.Second}}}
		out = append(out, pay, steady)
	}
	return out
}

// TestHistory: ten runs of two drills give one page: the flipping drill
// first and named so, each drill's verdicts in time order, a trend chart
// each, the culprits of the failed runs.
func TestHistory(t *testing.T) {
	rs := runs()
	// Shuffled order in, time order out.
	rs[0], rs[8] = rs[8], rs[0]
	var buf bytes.Buffer
	if err := WriteHistory(&buf, rs, time.Now()); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{
		"from 10 runs of 2 drills", "drill payments: 5 runs",
		"flips between pass and fail (4×)",
		"3 of 5", "5 of 5",
		"callPayments.func1",
		"time back to baseline", "steady load p99 while the fault was held",
		"not within 20s",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Index(page, `id="payments"`) > strings.Index(page, `id="steady"`) {
		t.Error("the flipping drill is not listed first")
	}
	if strings.Count(page, "<svg") != 2 {
		t.Errorf("%d charts, want one per drill", strings.Count(page, "<svg"))
	}
	// payments' verdicts, oldest first: ✓ ✗ ✓ ✗ ✓.
	row := page[strings.Index(page, `<a href="#payments">`):]
	row = row[:strings.Index(row, "</tr>")]
	if got := strings.Count(row, "✓") + strings.Count(row, "✗"); got != 5 || strings.Index(row, "✗") < strings.Index(row, "✓") {
		t.Errorf("payments' run marks out of order: %s", row)
	}
}

// TestReadJournals finds the journals at any depth and names a file that
// is not one.
func TestReadJournals(t *testing.T) {
	dir := t.TempDir()
	for _, r := range runs() {
		d := filepath.Join(dir, r.Start.Format("2006-01-02"), r.Drill)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(r)
		if err := os.WriteFile(filepath.Join(d, "journal.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadJournals(dir)
	if err != nil || len(got) != 10 {
		t.Fatalf("%d journals, %v; want 10", len(got), err)
	}
	bad := filepath.Join(dir, "junk")
	os.MkdirAll(bad, 0o755)
	os.WriteFile(filepath.Join(bad, "journal.json"), []byte(`{"x": 1}`), 0o644)
	if _, err := ReadJournals(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(bad, "journal.json")+": not a drill journal") {
		t.Errorf("err = %v", err)
	}
}

// TestHistoryOfOneRun: a drill with one run that returned says "1 run"
// and draws the run as a marker (a line through one point draws nothing).
func TestHistoryOfOneRun(t *testing.T) {
	one := runs()[:1] // payments, passed, back in 1s
	var buf bytes.Buffer
	if err := WriteHistory(&buf, one, time.Now()); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{"from 1 run of 1 drill.", "drill payments: 1 run<", "1 of 1"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "1 runs") {
		t.Error(`the page says "1 runs"`)
	}
	// The marker is a filled circle in the fault's colour: a path of
	// arcs, filled, in each of the two charts.
	// The run is a filled circle in the fault's colour, in both charts and
	// their legends; a line alone would draw nothing here.
	marker := regexp.MustCompile(`A2\.5,2\.5 [^"]*" style="fill:#0000C8"`)
	if n := len(marker.FindAllString(page, -1)); n < 4 {
		t.Errorf("%d run markers, want the run drawn in both charts (and their legends)", n)
	}
	if os.Getenv("AFTERSHOCK_KEEP_HISTORY") != "" {
		_ = os.WriteFile(os.Getenv("AFTERSHOCK_KEEP_HISTORY"), buf.Bytes(), 0o644)
	}
}
