package main_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/fixtures/launch"
	"github.com/aftershock/aftershock/fixtures/stack"
	"github.com/aftershock/aftershock/matchers"
	"github.com/onsi/ginkgo/v2/reporters"
)

// Each leak switch of the demo shop, the shipped drill whose fault provokes
// it, and what the verdict must name: the function for goroutine leaks,
// the connection class for connection leaks, the allocation site for the
// heap leak.
var leakMatrix = []struct {
	leak, drill string
	culprits    []string
}{
	{"body", "503-storm", []string{"http1-client-body-pending"}},
	{"cache", "503-storm", []string{"heap +", "shop.(*retryCache).add"}},
	{"ticker", "slow-upstream", []string{"shop.(*Server).reportProgress"}},
	{"goroutine", "slow-upstream", []string{"[chan send] in github.com/aftershock/aftershock/fixtures/shop.(*Server).callPayments.func1"}},
	{"context", "partition", []string{"shop.(*Server).postPayment"}},
	{"stream", "stalled-clients", []string{"shop.(*Server).produceStream"}},
}

// TestDrillNamesEachLeak drills the shop with one leak switched on: the
// drill exits 1 and its verdict on stdout names the culprit.
func TestDrillNamesEachLeak(t *testing.T) {
	for _, tc := range leakMatrix {
		t.Run(tc.leak, func(t *testing.T) {
			heavy(t)
			st := startStack(t, []string{tc.leak}, nil)
			dir := t.TempDir()
			report := filepath.Join(dir, "report.html")
			junit := filepath.Join(dir, "junit.xml")
			code, out, errs := aftershock(t, st.Vars(), "drill", "--settle=6s", "--artifacts", filepath.Join(dir, "artifacts"), "--report", report, "--junit", junit, demoDrill(tc.drill))
			if code != 1 {
				t.Fatalf("exit %d, want 1 (verdict failed)\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			for _, c := range tc.culprits {
				if !strings.Contains(out, c) {
					t.Errorf("the verdict does not name %q:\n%s", c, out)
				}
			}
			if !strings.Contains(out, "drill "+tc.drill+": FAIL") {
				t.Errorf("no FAIL verdict line on stdout:\n%s", out)
			}
			// The artifacts: the journal and a bundle per phase that pprof opens.
			for _, name := range []string{"journal.json", "baseline.goroutine.pb.gz", "baseline.heap.pb.gz", "load.svg", "resources.svg"} {
				if _, err := os.Stat(filepath.Join(dir, "artifacts", name)); err != nil {
					t.Errorf("artifact %s: %v", name, err)
				}
			}
			// The HTML report names the culprit and charts the load.
			page, err := os.ReadFile(report)
			if err != nil {
				t.Fatalf("--report: %v", err)
			}
			// (html/template escapes more than it must, "+" too: compare
			// the culprit with the page's text.)
			for _, want := range []string{"drill " + tc.drill + ": <span class=\"fail\">FAIL</span>", "<svg"} {
				if !strings.Contains(string(page), want) {
					t.Errorf("the report lacks %q", want)
				}
			}
			if !strings.Contains(html.UnescapeString(string(page)), tc.culprits[0]) {
				t.Errorf("the report does not name the culprit %q", tc.culprits[0])
			}
			// The JUnit file: a failed test case whose text names the culprit.
			data, err := os.ReadFile(junit)
			if err != nil {
				t.Fatalf("--junit: %v", err)
			}
			var suites reporters.JUnitTestSuites
			if err := xml.Unmarshal(data, &suites); err != nil {
				t.Fatalf("--junit: not JUnit XML: %v", err)
			}
			culprit := tc.culprits[len(tc.culprits)-1]
			var named bool
			for _, s := range suites.TestSuites {
				for _, c := range s.TestCases {
					named = named || (c.Failure != nil && strings.Contains(c.Failure.Message, culprit))
				}
			}
			if suites.Failures == 0 || !named {
				t.Errorf("--junit: %d failures, none naming %q:\n%s", suites.Failures, culprit, data)
			}
		})
	}
}

// TestDrillPassesWithFixes drills the shop with every leak and every fix
// on: each shipped drill exits 0, and the verdict comes as soon as the
// settle condition holds (within 2 s), not at the settle deadline. The
// condition holds once the shop's idle timers have fired after the load
// stops (its audit workers and pooled connections wind down), so the
// settle may take up to that idle time plus 2 s.
func TestDrillPassesWithFixes(t *testing.T) {
	for _, drill := range []string{"slow-upstream", "partition", "503-storm", "stalled-clients"} {
		t.Run(drill, func(t *testing.T) {
			heavy(t)
			const idle = time.Second
			st := startStackWith(t, []string{"all"}, []string{"all"}, "--worker-idle="+idle.String(), "--pool-idle="+idle.String())
			code, out, errs := aftershock(t, st.Vars(), "drill", "--output=json", demoDrill(drill))
			if code != 0 {
				t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			var results []struct {
				Verdict string
				Phases  []struct {
					Phase    string
					Duration time.Duration
				}
				Faults []struct {
					Name     string
					Returned bool
					Settle   time.Duration
				}
			}
			if err := json.Unmarshal([]byte(out), &results); err != nil {
				t.Fatalf("--output=json: %v\n%s", err, out)
			}
			if len(results) != 1 || results[0].Verdict != "pass" || len(results[0].Faults) == 0 {
				t.Fatalf("results = %+v", results)
			}
			for _, f := range results[0].Faults {
				if !f.Returned || f.Settle > idle+2*time.Second {
					t.Errorf("fault %s: returned %v after %v; want the verdict within 2s of the settle condition (the shop idles out after %v)", f.Name, f.Returned, f.Settle, idle)
				}
			}
			// The wall time of every phase is in the output.
			seen := map[string]bool{}
			for _, p := range results[0].Phases {
				seen[p.Phase] = true
			}
			for _, p := range []string{"preflight", "warmup", "quiesce", "baseline", "lead", "inject", "hold", "clear", "recovery", "settle"} {
				if !seen[p] {
					t.Errorf("phase %s missing from the output's phases %+v", p, results[0].Phases)
				}
			}
		})
	}
}

// TestDrillProvesLeaksWithTheRuntime drills the shop built with
// GOEXPERIMENT=goroutineleakprofile: its goroutine leak (senders blocked
// on a channel nobody reads any more) fails with the culprit marked proved
// by the Go runtime, before the settle deadline; the fixed shop, built the
// same way, passes. (Built without the experiment, the same drill fails as
// it always did: TestDrillNamesEachLeak/goroutine.)
func TestDrillProvesLeaksWithTheRuntime(t *testing.T) {
	bin, err := launch.BuildWithEnv(launch.ShopPackage, []string{"GOEXPERIMENT=goroutineleakprofile"})
	if err != nil {
		t.Fatal(err)
	}
	const settle = 20 * time.Second
	for _, tc := range []struct {
		name         string
		leaks, fixes []string
	}{
		{"leaky", []string{"goroutine"}, nil},
		{"fixed", []string{"all"}, []string{"all"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			heavy(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := stack.Start(ctx, stack.Config{Shop: []string{bin}, Leaks: tc.leaks, Fixes: tc.fixes})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Stop() })
			code, out, errs := aftershock(t, st.Vars(), "drill", "--output=json", "--settle="+settle.String(), demoDrill("slow-upstream"))
			var results []*runner.Result
			if err := json.Unmarshal([]byte(out), &results); err != nil || len(results) != 1 || len(results[0].Faults) != 1 {
				t.Fatalf("exit %d; stdout not one result (%v):\n%s\nstderr:\n%s", code, err, out, errs)
			}
			res, fr := results[0], results[0].Faults[0]
			if !res.LeakProfile {
				t.Errorf("the drill did not see the goroutineleak profile:\n%s", errs)
			}
			if tc.name == "fixed" {
				if code != 0 || res.Verdict != runner.Pass {
					t.Errorf("exit %d, verdict %s; want the fixed shop to pass\n%s", code, res.Verdict, errs)
				}
				return
			}
			if code != 1 || fr.Findings == nil {
				t.Fatalf("exit %d, want 1 with findings\nstderr:\n%s", code, errs)
			}
			var proved *matchers.GroupFinding
			for i, g := range fr.Findings.Goroutines.Over {
				if strings.HasSuffix(g.Culprit.Function, "shop.(*Server).callPayments.func1") {
					proved = &fr.Findings.Goroutines.Over[i]
				}
			}
			if proved == nil || proved.Proved == 0 {
				t.Fatalf("callPayments.func1 not marked proved: %+v\nstderr:\n%s", fr.Findings.Goroutines.Over, errs)
			}
			if fr.ProvedAfter <= 0 || fr.Settle >= settle {
				t.Errorf("proved after %s, settle %s: want the drill to fail before its %s deadline", fr.ProvedAfter, fr.Settle, settle)
			}
			if !slices.ContainsFunc(fr.Culprits, func(c string) bool {
				return strings.Contains(c, "callPayments.func1") && strings.Contains(c, matchers.ProvedText)
			}) {
				t.Errorf("no culprit line marked %q: %q", matchers.ProvedText, fr.Culprits)
			}
			t.Logf("proved %d of +%d after %s (settle deadline %s)", proved.Proved, proved.Extra(), fr.ProvedAfter, settle)
		})
	}
}

// TestReportMergesJournals: aftershock report over the journals of ten
// drill runs writes one page; without journals it is bad input.
func TestReportMergesJournals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	start := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	for i := range 10 {
		r := runner.Result{Drill: fmt.Sprint("drill-", i%2), Start: start.Add(time.Duration(i) * time.Hour), Verdict: runner.Pass,
			Faults: []runner.FaultResult{{Name: "slow", Returned: i%3 != 0, Settle: time.Second}}}
		if i%3 == 0 {
			r.Verdict = runner.Fail
		}
		d := filepath.Join(dir, fmt.Sprint("run-", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(r)
		if err := os.WriteFile(filepath.Join(d, "journal.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	page := filepath.Join(t.TempDir(), "history.html")
	code, _, errs := aftershock(t, nil, "report", "-o", page, dir)
	if code != 0 || !strings.Contains(errs, "10 run(s) of drills written to "+page) {
		t.Fatalf("exit %d:\n%s", code, errs)
	}
	b, err := os.ReadFile(page)
	if err != nil || !strings.Contains(string(b), "from 10 runs of 2 drills") {
		t.Errorf("page: %v\n%.400s", err, b)
	}
	if code, _, errs := aftershock(t, nil, "report", "-o", page, t.TempDir()); code != 2 || !strings.Contains(errs, "no journal.json under") {
		t.Errorf("no journals: exit %d, want 2:\n%s", code, errs)
	}
}

// TestArtifactErrorKeepsTheVerdict: a leaky service drilled with artifacts
// that cannot be written or sent (--report, --junit, --termination-log,
// --metrics-push) exits 1, the verdict's
// code (a pipeline must not retry a failed verdict as an infrastructure
// flake), and says on stderr which artifact failed.
func TestArtifactErrorKeepsTheVerdict(t *testing.T) {
	heavy(t)
	st := startStack(t, []string{"goroutine"}, nil)
	code, out, errs := aftershock(t, st.Vars(), "drill", "--settle=3s", "--report", "/nonexistent/r.html", "--junit", "/nonexistent/j.xml",
		"--termination-log", "/nonexistent/t.log", "--metrics-push", "http://127.0.0.1:1", demoDrill("slow-upstream"))
	if code != 1 {
		t.Fatalf("exit %d, want 1 (the verdict failed; the artifacts could not be written)\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if !strings.Contains(out, "drill slow-upstream: FAIL") {
		t.Errorf("no FAIL verdict on stdout:\n%s", out)
	}
	for _, want := range []string{"--report: open /nonexistent/r.html", "--junit: open /nonexistent/j.xml",
		"--termination-log: open /nonexistent/t.log", "--metrics-push: "} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errs)
		}
	}
}
