package search

import (
	"strings"
	"testing"
)

// TestHoldUpTo: the matcher passes only on a search that ran to its
// result over a range that brackets the bound without a threshold at or
// below it; it fails with the threshold and culprits when the bound is
// broken, and refuses what cannot say.
func TestHoldUpTo(t *testing.T) {
	found := &Result{Found: true, Threshold: 309, Pass: 290, Fail: 309, PassVotes: [2]int{3, 3}, FailVotes: [2]int{3, 3},
		Trials: []TrialResult{{Value: 309, Failed: true, Detail: "+94 goroutines [chan send] in shop.(*Server).callPayments.func1"}}}
	none := &Result{Reason: "the verdict never flips in the range"}
	lat := func(low, high float64, r *Result, err string) *Outcome {
		return &Outcome{Drill: "slow-upstream", Fault: "slow-payments", Field: "latency", Unit: "ms", Low: low, High: high, Result: r, Err: err}
	}
	for _, c := range []struct {
		name    string
		out     any
		bound   string
		ok      bool
		errText string
		msg     []string
	}{
		{"holds", lat(10, 3000, none, ""), "2s", true, "", nil},
		{"threshold above the bound", lat(10, 3000, &Result{Found: true, Threshold: 2500}, ""), "2s", true, "", nil},
		{"broken", lat(10, 3000, found, ""), "2s", false, "", []string{
			"expected slow-upstream / slow-payments to hold up to 2s of latency, but the verdict flips at 309ms",
			"passes at 290ms (3 of 3 trials), fails at 309ms (3 of 3 trials)",
			"culprits at 309ms: +94 goroutines [chan send] in shop.(*Server).callPayments.func1"}},
		{"broken, though the search ended early", lat(10, 3000, found, "the trial budget ran out"), "2s", false, "", []string{"flips at 309ms"}},
		{"ended early", lat(10, 3000, none, "trial at 3s: target down"), "2s", false, "ended before its result: trial at 3s: target down", nil},
		{"range above the bound", lat(3000, 5000, &Result{Found: true, Threshold: 3000}, ""), "2s", false, "starts at 3s, above the bound", nil},
		{"range below the bound", lat(10, 1000, none, ""), "2s", false, "ended at 1s, below the bound", nil},
		{"no result", lat(10, 3000, nil, "bad"), "2s", false, "has no result", nil},
		{"bad bound", lat(10, 3000, none, ""), "fast", false, `HoldUpTo("fast")`, nil},
		{"not an outcome", 42, "2s", false, "wants the *search.Outcome", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := HoldUpTo(c.bound)
			ok, err := m.Match(c.out)
			if c.errText != "" {
				if err == nil || !strings.Contains(err.Error(), c.errText) {
					t.Fatalf("ok %v, err %v; want an error with %q", ok, err, c.errText)
				}
				return
			}
			if err != nil || ok != c.ok {
				t.Fatalf("ok %v, err %v; want %v", ok, err, c.ok)
			}
			if !ok {
				msg := m.FailureMessage(c.out)
				for _, w := range c.msg {
					if !strings.Contains(msg, w) {
						t.Errorf("message lacks %q:\n%s", w, msg)
					}
				}
			}
		})
	}
}
