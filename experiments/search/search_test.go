package search

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// at is a service that fails from t on, every time.
func at(t float64) Trial {
	return func(_ context.Context, v float64) (bool, string, error) { return v >= t, "", nil }
}

func TestThresholdFindsTheFlip(t *testing.T) {
	res, err := Threshold(context.Background(), 10, 3000, at(300), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found || res.Threshold < 300 || res.Threshold > 300*1.05 || res.Pass >= 300 {
		t.Errorf("threshold %g, bracket %g..%g; want within 5 %% above 300", res.Threshold, res.Pass, res.Fail)
	}
	if n := len(res.Trials); n > 20 {
		t.Errorf("%d trials, over the default budget of 20", n)
	}
	t.Logf("%d trials, bracket %g..%g (votes %v / %v)", len(res.Trials), res.Pass, res.Fail, res.PassVotes, res.FailVotes)
}

// TestThresholdWithFlakyVerdicts: a service whose failures come some of
// the time near the threshold (more often the further above it: a ramp
// over ±5 %), and whose verdict is wrong one time in twenty anywhere,
// still has its threshold found within 15 % nearly always, and the value
// reported fails most of the time.
func TestThresholdWithFlakyVerdicts(t *testing.T) {
	const truth = 300.0
	within, trials := 0, 0
	var reliability float64
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		pFail := func(v float64) float64 { return min(1, max(0, (v/truth-0.95)/0.10)) }
		flaky := func(_ context.Context, v float64) (bool, string, error) {
			failed := rng.Float64() < pFail(v)
			return failed != (rng.Float64() < 0.05), "", nil
		}
		res, err := Threshold(context.Background(), 10, 3000, flaky, Options{MaxTrials: 40})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if res.Found && res.Threshold >= truth*0.85 && res.Threshold <= truth*1.15 {
			within++
		}
		trials += len(res.Trials)
		reliability += pFail(res.Threshold)
	}
	t.Logf("within 15 %% in %d of 20 searches, %.1f trials each on average; the threshold fails %.0f %% of the time on average",
		within, float64(trials)/20, 100*reliability/20)
	if within < 18 {
		t.Errorf("within 15 %% in %d of 20 seeded searches, want at least 18", within)
	}
	if reliability/20 < 0.8 {
		t.Errorf("the thresholds reported fail %.0f %% of the time on average, want at least 80 %%", 100*reliability/20)
	}
}

func TestThresholdNotInRange(t *testing.T) {
	res, err := Threshold(context.Background(), 10, 3000, at(1e9), Options{})
	if err != nil || res.Found || !strings.Contains(res.Reason, "never flips in the range: the high end 3000 passed 2 of 2 trials") {
		t.Errorf("found %v, reason %q, err %v", res.Found, res.Reason, err)
	}
	res, err = Threshold(context.Background(), 10, 3000, at(1), Options{})
	if err != nil || !res.Found || res.Threshold != 10 || !strings.Contains(res.Reason, "the low end 10 already fails") {
		t.Errorf("found %v at %g, reason %q, err %v", res.Found, res.Threshold, res.Reason, err)
	}
}

func TestThresholdBounded(t *testing.T) {
	res, err := Threshold(context.Background(), 10, 3000, at(300), Options{MaxTrials: 6})
	if !errors.Is(err, ErrBudget) || len(res.Trials) != 6 || res.Pass >= 300 || res.Fail < 300 {
		t.Errorf("err %v, %d trials, bracket %g..%g", err, len(res.Trials), res.Pass, res.Fail)
	}
	boom := errors.New("target gone")
	_, err = Threshold(context.Background(), 10, 3000, func(context.Context, float64) (bool, string, error) { return false, "", boom }, Options{})
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want the trial's", err)
	}
	if _, err := Threshold(context.Background(), 3000, 10, at(300), Options{}); err == nil || !strings.Contains(err.Error(), "want 0 ≤ low < high") {
		t.Errorf("reversed range: %v", err)
	}
}

// flakyAtTop is a service that passes below top and, at top and above,
// fails two trials of every three (a pattern, not a coin, so the test is
// deterministic): a threshold at the high end that fails most of the time,
// not every time.
func flakyAtTop(top float64) Trial {
	n := 0
	return func(_ context.Context, v float64) (bool, string, error) {
		if v < top {
			return false, "", nil
		}
		n++
		return n%3 != 0, "+9 goroutines [chan send] in shop.(*Server).call", nil
	}
}

// TestThresholdFlakyHighEnd: when the threshold sits within the resolution
// below the high end and the high end fails a majority of its trials (not
// every one), the verdict flips there: the search reports the high end as
// the threshold with its votes, and HoldUpTo a bound at the high end
// fails. It never says "never flips".
func TestThresholdFlakyHighEnd(t *testing.T) {
	for _, top := range []float64{2900, 3000} {
		res, err := Threshold(context.Background(), 10, 3000, flakyAtTop(top), Options{})
		if err != nil {
			t.Fatalf("threshold at %g: %v", top, err)
		}
		t.Logf("threshold at %g: found %v at %g, bracket %g..%g, votes %v / %v, reason %q, %d trials",
			top, res.Found, res.Threshold, res.Pass, res.Fail, res.PassVotes, res.FailVotes, res.Reason, len(res.Trials))
		if strings.Contains(res.Reason, "never flips") {
			t.Errorf("threshold at %g: %q, though the high end failed most of its trials", top, res.Reason)
		}
		if !res.Found || res.Threshold != 3000 || res.FailVotes[0]*2 <= res.FailVotes[1] {
			t.Errorf("threshold at %g: found %v at %g with votes %v; want the high end 3000, failing a majority", top, res.Found, res.Threshold, res.FailVotes)
		}
		out := &Outcome{Drill: "slow-upstream", Fault: "slow-payments", Field: "latency", Unit: "ms", Low: 10, High: 3000, Result: res}
		if ok, err := HoldUpTo("3s").Match(out); ok || err != nil {
			t.Errorf("threshold at %g: HoldUpTo(3s) = %v, %v; want a failed match:\n%s", top, ok, err, out.Text())
		}
	}
}

// TestThresholdUndecidedHighEnd: a high end whose trials split evenly when
// the budget runs out is a spent budget, never "never flips".
func TestThresholdUndecidedHighEnd(t *testing.T) {
	n := 0
	alternating := func(_ context.Context, v float64) (bool, string, error) {
		if v < 3000 {
			return false, "", nil
		}
		n++
		return n%2 == 1, "", nil
	}
	res, err := Threshold(context.Background(), 10, 3000, alternating, Options{Repeats: 4, MaxTrials: 2})
	if !errors.Is(err, ErrBudget) || strings.Contains(res.Reason, "never flips") || !strings.Contains(res.Reason, "undecided") {
		t.Errorf("err %v, reason %q; want a spent budget, the high end undecided", err, res.Reason)
	}
}
