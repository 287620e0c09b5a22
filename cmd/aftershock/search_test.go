package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/search"
)

// searchDrill is the shipped slow-upstream drill without jitter (a
// latency below 50 ms could not carry it) and with a 3 s hold.
func searchDrill(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(demoDrill("slow-upstream"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(data), "delay: {latency: 500ms, jitter: 50ms}", "delay: {latency: 500ms}", 1)
	s = strings.Replace(s, "duration: 5s", "duration: 3s", 1)
	if s == string(data) {
		t.Fatal("the shipped drill changed: adapt searchDrill")
	}
	file := filepath.Join(t.TempDir(), "slow-upstream.yaml")
	if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestSearchFindsTheGiveUp: the leaky shop leaks a goroutine whenever
// payments answers later than its 300 ms give-up; the search over 10 ms..3 s
// finds that within 15 %, in a bounded number of trials, and the Drill
// file it writes fails at the threshold while the same drill at half of it
// passes. With every fix on, there is no threshold, and it says so.
func TestSearchFindsTheGiveUp(t *testing.T) {
	const giveUp = 300.0 // ms: the shop's default --give-up
	t.Run("leaky", func(t *testing.T) {
		heavy(t)
		st := startStack(t, []string{"goroutine"}, nil)
		dir := t.TempDir()
		out := filepath.Join(dir, "threshold.yaml")
		code, stdout, stderr := aftershock(t, st.Vars(), "search", searchDrill(t), "--fault", "slow-payments",
			"--vary", "latency=10ms..3s", "--settle", "4s", "--out", out, "--output", "json")
		var res searchJSON
		if err := json.Unmarshal([]byte(stdout), &res); err != nil || res.Unit != "ms" {
			t.Fatalf("exit %d, stdout not a search result (%v):\n%s\nstderr:\n%s", code, err, stdout, stderr)
		}
		t.Logf("threshold %s (bracket %s..%s) after %d trials", search.Format(res.Threshold, "ms"),
			search.Format(res.Pass, "ms"), search.Format(res.Fail, "ms"), len(res.Trials))
		if code != 1 || !res.Found || res.Threshold < giveUp*0.85 || res.Threshold > giveUp*1.15 {
			t.Fatalf("exit %d, threshold %v ms; want exit 1 and within 15 %% of %v ms\nstderr:\n%s", code, res.Threshold, giveUp, stderr)
		}
		if len(res.Trials) > 20 {
			t.Errorf("%d trials, over the budget of 20", len(res.Trials))
		}
		if !strings.Contains(strings.Join(trialDetails(res), "\n"), "callPayments.func1") {
			t.Errorf("no failing trial names the culprit: %q", trialDetails(res))
		}
		// The file fails at the threshold — as the search judged it: a
		// majority of three runs, since at a threshold a service fails
		// most, not necessarily all, of the time — and the same drill at
		// half of it passes.
		failed := 0
		for range 3 {
			if code, _, _ := aftershock(t, nil, "drill", "--settle", "4s", out); code == 1 {
				failed++
			}
			if failed == 2 {
				break
			}
		}
		if failed < 2 {
			t.Errorf("the drill at the threshold failed %d of 3 runs, want a majority", failed)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		d, err := experiments.Parse(out, data)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := search.ParseVary("latency=10ms..3s")
		_, doc, err := v.Drill(d, "slow-payments", res.Threshold/2)
		if err != nil {
			t.Fatal(err)
		}
		half := filepath.Join(dir, "half.yaml")
		if err := os.WriteFile(half, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, errs := aftershock(t, nil, "drill", "--settle", "4s", half); code != 0 {
			t.Errorf("the drill at half the threshold: exit %d, want 0\n%s", code, errs)
		}
	})
	t.Run("fixed", func(t *testing.T) {
		heavy(t)
		st := startStack(t, []string{"all"}, []string{"all"})
		code, stdout, stderr := aftershock(t, st.Vars(), "search", searchDrill(t), "--fault", "slow-payments",
			"--vary", "latency=10ms..3s", "--settle", "4s", "--out", filepath.Join(t.TempDir(), "t.yaml"))
		if code != 0 || !strings.Contains(stdout, "no threshold in 10ms..3s: the verdict never flips in the range: the high end 3000 passed") {
			t.Errorf("exit %d, want 0 and no threshold\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})
}

// searchJSON is what `aftershock search --output json` prints.
type searchJSON struct {
	Unit string `json:"unit"`
	search.Result
	File string `json:"file"`
}

func trialDetails(r searchJSON) []string {
	var out []string
	for _, t := range r.Trials {
		if t.Failed {
			out = append(out, t.Detail)
		}
	}
	return out
}
