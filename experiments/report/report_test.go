package report

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"

	"github.com/aftershock/aftershock/experiments/load"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// result is a drill that ran two faults under load: the first returned to
// its baseline, the second leaked.
func result() *runner.Result {
	start := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	r := &runner.Result{Drill: "payments", File: "drills/payments.yaml", Verdict: runner.Fail, Start: start, Wall: 40 * time.Second}
	phases := []struct {
		name, fault string
		at          float64
	}{{"warmup", "", 0}, {"baseline", "", 3}, {"inject", "slow", 5}, {"hold", "slow", 5.1}, {"clear", "slow", 10}, {"settle", "slow", 12},
		{"inject", "cut", 20}, {"hold", "cut", 20.1}, {"clear", "cut", 25}, {"settle", "cut", 27}}
	for i, p := range phases {
		end := 40.0
		if i+1 < len(phases) {
			end = phases[i+1].at
		}
		r.Phases = append(r.Phases, runner.PhaseTime{Phase: p.name, Fault: p.fault, Start: at(p.at), Duration: at(end).Sub(at(p.at))})
	}
	rep := &load.Report{}
	for s := 0.0; s < 30; s += 0.25 {
		b := load.Bucket{Start: at(s), Requests: 5, P50: 3 * time.Millisecond, P99: 8 * time.Millisecond}
		if s >= 20 && s < 25 {
			b.Errors, b.P50, b.P99 = 5, 300*time.Millisecond, 2*time.Second
		}
		rep.Timeline = append(rep.Timeline, b)
	}
	r.Load = rep
	r.Faults = []runner.FaultResult{
		{Name: "slow", Injected: "slow (delay 500ms to)", Returned: true, Settle: 20 * time.Millisecond, InEffect: at(5.1), Cleared: at(10),
			SLOs: []runner.SLOCheck{{Name: "p99 during the fault", Want: "< 300ms", Got: "8ms", OK: true}}},
		{Name: "cut", Injected: "cut (partition to)", Settle: 8 * time.Second, InEffect: at(20.1), Cleared: at(25),
			Culprits: []string{"+74 goroutines [chan send] in shop.(*Server).callPayments.func1 <script>alert(1)</script>"},
			Findings: &matchers.Findings{Goroutines: matchers.GoroutineFindings{Before: 5, After: 79, Over: []matchers.GroupFinding{{
				GroupDelta: snapshot.GroupDelta{Before: 0, Group: snapshot.Group{Count: 74, State: "chan send",
					Culprit: snapshot.Frame{Function: "shop.(*Server).callPayments.func1", File: "shop/server.go", Line: 120}}}}}}}},
	}
	r.Baseline = &runner.Baseline{Goroutines: 5, Heap: 1 << 20, Connections: map[snapshot.ConnClass]int{snapshot.Listener: 2}}
	tol := matchers.Tolerances{IdleConnections: 2, HeapBytes: 1 << 20}
	r.Faults[0].Findings = &matchers.Findings{Tolerances: tol, Goroutines: matchers.GoroutineFindings{Before: 5, After: 5}}
	r.Faults[1].Findings.Tolerances = tol
	for s := 0.0; s < 40; s += 0.5 {
		g, c := 5, 2
		if s >= 20 {
			g, c = 79, 3
		}
		r.Resources = append(r.Resources, runner.Sample{At: at(s), Goroutines: g, Heap: 3 << 20, Kind: "light",
			Connections: map[snapshot.ConnClass]int{snapshot.Listener: 2, snapshot.HTTPServer: c - 2}})
	}
	return r
}

func TestWrite(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, []*runner.Result{result(), nil}, time.Now()); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{
		"<!DOCTYPE html>",
		`drill payments: <span class="fail">FAIL</span> (40s)`,
		`fault slow <span class="pass">PASS</span>`,
		`fault cut <span class="fail">FAIL</span>`,
		"Back to baseline after 20ms.",
		"Did not return to baseline within 8s.",
		"callPayments.func1 &lt;script&gt;", // culprits are text, never markup
		"<svg", "p99", "failed requests per slice",
		"<td>p99 during the fault</td><td>&lt; 300ms</td><td>8ms</td>",
		"Goroutines: 5 → 79 (&#43;74)", // what grew: the findings' message (html/template escapes +)
		"target: goroutines", "target: connections", "target: heap in use", "http1-server",
		"goroutines up to &#43;4 (a group&#39;s maxExtra 0 plus two goroutines for each of the 2 idle pooled connections allowed)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "<?xml") {
		t.Error("the report holds a script or an XML prolog")
	}
	// Two faults, two shaded holds; a drill stopped mid-hold still
	// shades the hold it was in.
	if got := len(holds(result())); got != 2 {
		t.Errorf("%d fault windows, want 2", got)
	}
	cut := result()
	cut.Faults[1].Cleared = time.Time{} // the drill stopped in cut's hold
	if w := holds(cut); len(w) != 2 || !w[1][1].After(w[1][0]) {
		t.Errorf("holds of a drill stopped mid-hold: %v", w)
	}
}

// TestWriteWithoutLoad: a drill without load (or one that could not run)
// still reports, without a chart.
func TestWriteWithoutLoad(t *testing.T) {
	r := &runner.Result{Drill: "bare", Verdict: runner.Fail, Error: "could not run: target http://127.0.0.1:1 does not answer HTTP"}
	var buf bytes.Buffer
	if err := Write(&buf, []*runner.Result{r}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "does not answer HTTP") || strings.Contains(buf.String(), "<svg") {
		t.Errorf("report:\n%s", buf.String())
	}
}

// TestWriteCharts: the charts land beside the journal as SVG files.
func TestWriteCharts(t *testing.T) {
	dir := t.TempDir()
	if err := WriteCharts(dir, result()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"load.svg", "resources.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("<?xml")) || !bytes.Contains(b, []byte("<svg")) {
			t.Errorf("%s is not an SVG file: %.80q", name, b)
		}
	}
	// A settle mark per fault: green where it came back, red at the
	// deadline where it did not.
	if m := settleMarks(result()); len(m) != 2 || !m[0].back || m[1].back {
		t.Errorf("settle marks = %+v", m)
	}
}

// TestWriteJUnit: one test case per fault and resource and per declared
// SLO, failures where the verdict failed, readable as Ginkgo's JUnit.
func TestWriteJUnit(t *testing.T) {
	broken := &runner.Result{Drill: "broken", Verdict: runner.Fail, Error: "could not run: target http://127.0.0.1:1 does not answer\nmore"}
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, []*runner.Result{result(), broken}); err != nil {
		t.Fatal(err)
	}
	var got reporters.JUnitTestSuites
	if err := xml.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not JUnit XML: %v\n%s", err, buf.String())
	}
	// payments: slow (3 resources, 1 SLO), cut (3 resources, goroutines
	// over); broken (could not run).
	var names, failed []string
	for _, s := range got.TestSuites {
		for _, tc := range s.TestCases {
			names = append(names, tc.Name)
			if tc.Failure != nil {
				failed = append(failed, tc.Name+": "+tc.Failure.Message)
			}
		}
	}
	want := []string{
		"fault slow: goroutines return to the baseline", "fault slow: connections return to the baseline", "fault slow: heap return to the baseline",
		"fault slow: slo p99 during the fault",
		"fault cut: goroutines return to the baseline", "fault cut: connections return to the baseline", "fault cut: heap return to the baseline",
		"drill broken runs to its verdict",
	}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("test cases:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	if len(failed) != 1 || !strings.HasPrefix(failed[0], "fault cut: goroutines return to the baseline: goroutines did not return to the baseline within 8s: +74 goroutines [chan send] in shop.(*Server).callPayments.func1") {
		t.Errorf("failures: %q", failed)
	}
	if got.Failures != 1 || got.Errors != 1 || got.Tests != 8 || len(got.TestSuites) != 2 {
		t.Errorf("totals: %d suites, %d tests, %d failures, %d errors; want 2, 8, 1, 1", len(got.TestSuites), got.Tests, got.Failures, got.Errors)
	}
}
