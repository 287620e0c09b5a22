package explore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/search"
	"github.com/aftershock/aftershock/fixtures/fanout"
)

// fanoutVars are addresses for the fanout drill, which the tests here
// never dial.
var fanoutVars = map[string]string{
	"FANOUT_URL": "http://127.0.0.1:8080", "FANOUT_PPROF": "http://127.0.0.1:8081/debug/pprof",
	"PRICES_PROXY": "127.0.0.1:9001", "PRICES_ADDR": "127.0.0.1:9101",
	"STOCK_PROXY": "127.0.0.1:9002", "STOCK_ADDR": "127.0.0.1:9102",
}

func pool(t *testing.T) *Pool {
	t.Helper()
	d, err := experiments.Parse("fanout.yaml", fanout.Drill, experiments.WithVars(fanoutVars))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPool(d)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// model is the fanout service as a judge: it leaks when prices and stock
// are both slower than its 200 ms give-up for at least 200 ms at once.
func model(trials *int) Judge {
	return func(_ context.Context, d *experiments.Drill) (search.Verdict, error) {
		*trials++
		for _, ep := range d.Episodes() {
			var slow [][2]time.Duration
			for i, f := range ep.Faults {
				if f.NetworkChaos == nil {
					continue
				}
				lat, err := time.ParseDuration(f.NetworkChaos.Delay.Latency)
				if err != nil {
					return search.Verdict{}, err
				}
				if lat > 200*time.Millisecond {
					slow = append(slow, [2]time.Duration{ep.Offsets[i], ep.Offsets[i] + f.Duration.Duration})
				}
			}
			if len(slow) == 2 && min(slow[0][1], slow[1][1])-max(slow[0][0], slow[1][0]) >= 200*time.Millisecond {
				return search.Verdict{Failed: true, Culprits: []string{"+10 goroutines [chan send] in fanout.(*server).ask"}}, nil
			}
		}
		return search.Verdict{}, nil
	}
}

// TestGenerate: a seed draws one schedule, every time; every schedule's
// Drill file loads, with the episodes the schedule says.
func TestGenerate(t *testing.T) {
	p := pool(t)
	seen := map[string]bool{}
	overlaps := 0
	for seed := range uint64(200) {
		s := p.Generate(seed, 3)
		if again := p.Generate(seed, 3); again.String() != s.String() {
			t.Fatalf("seed %d drew %s, then %s", seed, s, again)
		}
		seen[s.String()] = true
		if n := len(s.Entries); n < 2 || n > 3 {
			t.Fatalf("seed %d: %d faults (%s), want 2..3", seed, n, s)
		}
		d, doc, err := p.Drill(s)
		if err != nil {
			t.Fatalf("seed %d: %s: %v\n%s", seed, s, err, doc)
		}
		if got := len(d.Episodes()); got != s.Episodes() {
			t.Fatalf("seed %d: %s has %d episodes, its drill %d:\n%s", seed, s, s.Episodes(), got, doc)
		}
		if s.Episodes() < len(s.Entries) {
			overlaps++
		}
	}
	if len(seen) < 150 || overlaps < 60 {
		t.Errorf("200 seeds drew %d distinct schedules, %d with overlaps", len(seen), overlaps)
	}
}

// TestExploreShrinksToTheOverlap: on a model of the fanout service the
// exploration finds a failing schedule, shrinks it to the two slow
// upstreams held together, confirms it, and the failing run's seed draws
// the same failing schedule again.
func TestExploreShrinksToTheOverlap(t *testing.T) {
	p := pool(t)
	trials := 0
	res, err := Explore(context.Background(), p, model(&trials), Options{Seed: 1, Runs: 20, Shrink: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found {
		t.Fatalf("nothing found: %s", res.Reason)
	}
	m := res.Minimal
	t.Logf("failing %s (seed %d) → %s in %d trials; steps %q", res.Failing, res.FailingSeed, m, len(res.Trials), res.Steps)
	if len(m.Entries) != 2 || m.Episodes() != 1 {
		t.Fatalf("minimal %s: want the two slow upstreams in one episode", m)
	}
	names := m.Entries[0].Fault + "," + m.Entries[1].Fault
	if names != "slow-prices,slow-stock" && names != "slow-stock,slow-prices" {
		t.Errorf("minimal %s: want slow-prices and slow-stock", m)
	}
	for _, e := range m.Entries {
		if e.Hold > time.Second {
			t.Errorf("%s held %s: a shorter hold fails too", e.Fault, e.Hold)
		}
	}
	if res.Confirmed != [2]int{3, 3} || trials != len(res.Trials) {
		t.Errorf("confirmed %v, trials %d (recorded %d)", res.Confirmed, trials, len(res.Trials))
	}
	_, doc, err := p.Drill(*m)
	if err != nil || !strings.Contains(string(doc), "overlap:") {
		t.Errorf("minimal drill: %v\n%s", err, doc)
	}

	again, err := Explore(context.Background(), p, model(new(int)), Options{Seed: res.FailingSeed, Runs: 1})
	if err != nil || !again.Found || again.Failing.String() != res.Failing.String() {
		t.Fatalf("seed %d again: found %v, %v, %v", res.FailingSeed, again.Found, again.Failing, err)
	}
}

// TestExploreBudget: a budget too small for the shrink ends with
// ErrBudget and keeps the smallest failing schedule so far.
func TestExploreBudget(t *testing.T) {
	p := pool(t)
	full, err := Explore(context.Background(), p, model(new(int)), Options{Seed: 1, Runs: 20, Shrink: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Explore(context.Background(), p, model(new(int)), Options{Seed: 1, Runs: 20, Shrink: true, MaxTrials: full.Runs + 1})
	if !errors.Is(err, ErrBudget) || res.Minimal == nil || !res.Found || !strings.Contains(res.Reason, "not shrunk further") {
		t.Fatalf("err %v, result %+v", err, res)
	}
}

// TestNothingFails: a service that takes everything gives no schedule,
// saying how many were drawn.
func TestNothingFails(t *testing.T) {
	p := pool(t)
	pass := func(context.Context, *experiments.Drill) (search.Verdict, error) { return search.Verdict{}, nil }
	res, err := Explore(context.Background(), p, pass, Options{Seed: 7, Runs: 4, Shrink: true})
	if err != nil || res.Found || res.Runs != 4 || !strings.Contains(res.Reason, "none of 4 schedules drawn with seeds 7..10 failed") {
		t.Fatalf("%+v, %v", res, err)
	}
}

// noisy is the fanout model whose verdict near its boundary is noise:
// with the slower of the two slow upstreams under 300 ms, a schedule fails
// the first time it runs and never again.
func noisy() Judge {
	seen := map[string]bool{}
	return func(_ context.Context, d *experiments.Drill) (search.Verdict, error) {
		for _, ep := range d.Episodes() {
			var slow [][2]time.Duration
			least := time.Hour
			for i, f := range ep.Faults {
				if f.NetworkChaos == nil {
					continue
				}
				lat, _ := time.ParseDuration(f.NetworkChaos.Delay.Latency)
				if lat > 200*time.Millisecond {
					slow = append(slow, [2]time.Duration{ep.Offsets[i], ep.Offsets[i] + f.Duration.Duration})
					least = min(least, lat)
				}
			}
			if len(slow) != 2 || min(slow[0][1], slow[1][1])-max(slow[0][0], slow[1][0]) < 200*time.Millisecond {
				continue
			}
			raw, _ := yamlOf(d)
			if least > 300*time.Millisecond || !seen[raw] {
				seen[raw] = true
				return search.Verdict{Failed: true, Culprits: []string{"+10 goroutines in ask"}}, nil
			}
		}
		return search.Verdict{}, nil
	}
}

func yamlOf(d *experiments.Drill) (string, error) {
	var b strings.Builder
	for _, f := range d.Spec.Faults {
		b.WriteString(f.Name + f.Duration.String())
		if f.NetworkChaos != nil {
			b.WriteString(f.NetworkChaos.Delay.Latency)
		}
		if f.Overlap != nil {
			b.WriteString(f.Overlap.With + f.Overlap.After.String())
		}
	}
	return b.String(), nil
}

// TestConfirmWalksBack: a shrink step taken on a noisy verdict fails its
// confirmation; the result is the last schedule of the shrink that fails
// a majority of its confirming runs, saying so.
func TestConfirmWalksBack(t *testing.T) {
	p := pool(t)
	res, err := Explore(context.Background(), p, noisy(), Options{Seed: 33, Runs: 1, Shrink: true, MaxTrials: 80})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s → %s, confirmed %v, steps %q: %s", res.Failing, res.Minimal, res.Confirmed, res.Steps, res.Reason)
	if res.Confirmed[0] != 3 || !strings.Contains(res.Reason, "kept the one before the last") {
		t.Fatalf("confirmed %v, reason %q", res.Confirmed, res.Reason)
	}
	for _, e := range res.Minimal.Entries {
		if e.Scale*600 < 300 {
			t.Errorf("%s at %gms in the kept schedule: a noisy step was kept", e.Fault, e.Scale*600)
		}
	}
}

// TestBreakerHolds: with a breaker declared, every drawn schedule and
// every shrink candidate holds the faults that make calls fail long enough
// for it, so that each loads.
func TestBreakerHolds(t *testing.T) {
	doc := strings.Replace(string(fanout.Drill), "  verify:\n", "  verify:\n    slo: {breaker: {opensWithin: 2s, p50: 50ms}}\n", 1)
	d, err := experiments.Parse("fanout.yaml", []byte(doc), experiments.WithVars(fanoutVars))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPool(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(p, Options{Seed: 0, Runs: 100}); err != nil {
		t.Fatal(err)
	}
	for seed := range uint64(50) {
		for _, c := range candidates(p, p.Generate(seed, 3)) {
			for _, e := range c.s.Entries {
				if strings.HasSuffix(e.Fault, "-503") && e.Hold < 2500*time.Millisecond {
					t.Fatalf("seed %d, %s: %s held %s, under the breaker's 2.5s", seed, c.why, e.Fault, e.Hold)
				}
			}
		}
	}
}
