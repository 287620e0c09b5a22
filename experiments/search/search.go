// Package search finds the smallest fault magnitude at which a drill's
// verdict flips: the threshold between "the service takes it" and "it
// leaks, or breaks a declared SLO". The search is a bisection over
// repeated trials, each a full drill, that accounts for flaky verdicts by
// repeating the probes near the boundary and confirming both ends of the
// final bracket.
//
// This package holds the search itself, over any trial function; the
// magnitudes a drill can vary are in vary.go.
package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Trial runs one trial at value v and tells whether the verdict failed;
// detail (culprits, the broken SLO) is kept with the trial. An error means
// the trial could not run: the search stops with it.
type Trial func(ctx context.Context, v float64) (failed bool, detail string, err error)

// Options bound and tune a search.
type Options struct {
	// Resolution is the relative width at which the bracket is narrow
	// enough: hi ≤ lo × (1 + Resolution). Default 0.05.
	Resolution float64
	// MaxTrials bounds the trials (default 20).
	MaxTrials int
	// Repeats is how many trials confirm each end of the final bracket
	// (and of the range): a majority of them decides; default 3.
	Repeats int
	// Progress, when set, hears of every trial.
	Progress func(TrialResult)
}

func (o *Options) defaults() {
	if o.Resolution <= 0 {
		o.Resolution = 0.05
	}
	if o.MaxTrials <= 0 {
		o.MaxTrials = 20
	}
	if o.Repeats <= 0 {
		o.Repeats = 3
	}
}

// TrialResult is one trial.
type TrialResult struct {
	Value  float64 `json:"value"`
	Failed bool    `json:"failed"`
	Detail string  `json:"detail,omitempty"`
}

// Result is what a search found.
type Result struct {
	// Found tells that the verdict flips within the range: it passes at
	// Pass and fails at Fail (the threshold).
	Found bool `json:"found"`
	// Threshold is the smallest value seen to fail (Fail), when Found.
	Threshold float64 `json:"threshold,omitempty"`
	// Pass and Fail bracket the threshold: the largest value that passed
	// and the smallest that failed, each confirmed by its trials.
	Pass float64 `json:"pass,omitempty"`
	Fail float64 `json:"fail,omitempty"`
	// PassVotes and FailVotes are the confirmation at each end: how many
	// of the trials there agreed.
	PassVotes [2]int `json:"passVotes"`
	FailVotes [2]int `json:"failVotes"`
	// Reason says, when nothing was found or the bracket is wide, why.
	Reason string        `json:"reason,omitempty"`
	Trials []TrialResult `json:"trials"`
}

// ErrBudget is wrapped when the search ran out of trials before its
// bracket was narrow enough; the result still holds the bracket reached.
var ErrBudget = errors.New("the trial budget ran out")

// Threshold searches [lo, hi] (0 ≤ lo < hi) for the smallest value at
// which trial fails, assuming that failing grows more likely with the
// value. It probes at the geometric middle of its bracket when the bracket
// starts above 0 (magnitudes such as latencies span decades), else at the
// arithmetic one.
//
// Flaky verdicts are accounted for by the way the bracket is read: after
// every trial it is the step that disagrees with the fewest of all trials
// so far (a wrong verdict far from the threshold is outvoted by the
// probes around it instead of sending the search astray), and the search
// ends only when both ends of a narrow bracket hold a majority of
// Options.Repeats trials.
func Threshold(ctx context.Context, lo, hi float64, trial Trial, opts Options) (*Result, error) {
	if !(lo >= 0 && hi > lo) || math.IsInf(hi, 0) || math.IsNaN(lo) {
		return nil, fmt.Errorf("search range %g..%g: want 0 ≤ low < high", lo, hi)
	}
	opts.defaults()
	res := &Result{}
	run := func(v float64) error {
		if len(res.Trials) >= opts.MaxTrials {
			return ErrBudget
		}
		failed, detail, err := trial(ctx, v)
		if err != nil {
			return err
		}
		tr := TrialResult{Value: v, Failed: failed, Detail: detail}
		res.Trials = append(res.Trials, tr)
		if opts.Progress != nil {
			opts.Progress(tr)
		}
		return nil
	}
	narrow := func(p, f float64) bool { return f <= p*(1+opts.Resolution) || f-p <= 1e-12 }
	// unreliable are values that failed, but not every time: near the
	// threshold a service fails some of the time, and the threshold
	// reported is the smallest value that fails every time, so that the
	// Drill file written at it reproduces the failure.
	unreliable := map[float64]bool{}
	for {
		b := step(res.Trials, unreliable)
		var next float64
		switch {
		case !b.anyFail || b.fail == hi && !b.decided(hi, opts.Repeats):
			// The top of the range must fail, or there is no threshold.
			// Its own votes decide, whether or not it failed every time:
			// a high end that fails a majority of its trials is a flip
			// (at it, the top of what was searched), one that passes a
			// majority never flips, and one undecided when the budget
			// runs out is a spent budget.
			f, n := b.votes(hi)
			need := opts.Repeats/2 + 1
			switch {
			case f >= need:
				delete(unreliable, hi)
				top := step(res.Trials, unreliable)
				res.fill(top)
				res.Threshold, res.Fail, res.FailVotes = hi, hi, [2]int{f, n}
				if !top.anyPass {
					res.Pass, res.PassVotes = 0, [2]int{}
				}
				res.Reason = fmt.Sprintf("the high end %g fails %d of %d trials, a majority: the verdict flips at it", hi, f, n)
				if f < n {
					res.Reason += " (not every time: a range reaching higher finds where it fails every time)"
				}
				return res, nil
			case n-f >= need:
				res.Reason = fmt.Sprintf("the verdict never flips in the range: the high end %g passed %d of %d trials", hi, n-f, n)
				return res, nil
			case len(res.Trials) >= opts.MaxTrials:
				res.Reason = fmt.Sprintf("the high end %g is undecided: %d of %d trials failed, %d needed either way", hi, f, n, opts.Repeats/2+1)
				return res, fmt.Errorf("%w: %d trials were allowed", ErrBudget, opts.MaxTrials)
			}
			next = hi
		case !b.anyPass || b.pass == lo && !b.decided(lo, opts.Repeats):
			if b.decided(lo, opts.Repeats) && !b.anyPass {
				f, n := b.votes(lo)
				res.Found, res.Threshold, res.Fail = true, lo, lo
				res.FailVotes = [2]int{f, n}
				res.Reason = fmt.Sprintf("the low end %g already fails (%d of %d trials): the threshold is at or below it", lo, f, n)
				return res, nil
			}
			next = lo
		case narrow(b.pass, b.fail):
			// Confirm both ends before believing the bracket: the
			// pass end by a majority, the fail end by failing every
			// one of its trials.
			f, n := b.votes(b.fail)
			switch {
			case f < n:
				unreliable[b.fail] = true
				continue
			case !b.decided(b.pass, opts.Repeats):
				next = b.pass
			case n < opts.Repeats:
				next = b.fail
			default:
				res.fill(b)
				return res, nil
			}
		default:
			next = (b.pass + b.fail) / 2
			if b.pass > 0 {
				next = math.Sqrt(b.pass * b.fail)
			}
		}
		if err := run(next); err != nil {
			b := step(res.Trials, unreliable)
			if b.anyPass && b.anyFail {
				res.fill(b)
				if errors.Is(err, ErrBudget) {
					res.Reason = fmt.Sprintf("the bracket %g..%g is not confirmed to the resolution: %d trials were allowed", b.pass, b.fail, opts.MaxTrials)
				}
			}
			return res, err
		}
	}
}

func (res *Result) fill(b bracket) {
	res.Found, res.Threshold, res.Pass, res.Fail = true, b.fail, b.pass, b.fail
	f, n := b.votes(b.fail)
	res.FailVotes = [2]int{f, n}
	f, n = b.votes(b.pass)
	res.PassVotes = [2]int{n - f, n}
}

// bracket is the step read from the trials: everything up to pass
// passes, everything from fail on fails.
type bracket struct {
	pass, fail       float64
	anyPass, anyFail bool
	trials           []TrialResult
}

// step fits a step to the trials: of the splits between the values tried,
// the one that disagrees with the fewest trials (the lowest such split on
// a tie, the cautious reading). The trials at an unreliable value count as
// passes: it is below the threshold of failing every time.
func step(trials []TrialResult, unreliable map[float64]bool) bracket {
	b := bracket{trials: trials}
	vals := map[float64]bool{}
	for _, t := range trials {
		vals[t.Value] = true
	}
	sorted := make([]float64, 0, len(vals))
	for v := range vals {
		sorted = append(sorted, v)
	}
	slices.Sort(sorted)
	best, bestCost := 0, math.MaxInt
	for k := 0; k <= len(sorted); k++ {
		cost := 0
		for _, t := range trials {
			below := k < len(sorted) && t.Value < sorted[k] || k == len(sorted)
			failed := t.Failed && !unreliable[t.Value]
			if below == failed { // a failure below the split, or a pass above it
				cost++
			}
		}
		if cost < bestCost {
			best, bestCost = k, cost
		}
	}
	if best > 0 {
		b.pass, b.anyPass = sorted[best-1], true
	}
	if best < len(sorted) {
		b.fail, b.anyFail = sorted[best], true
	}
	return b
}

// votes counts the failed trials at v, and all trials at v.
func (b bracket) votes(v float64) (failed, n int) {
	for _, t := range b.trials {
		if t.Value == v {
			n++
			if t.Failed {
				failed++
			}
		}
	}
	return failed, n
}

// decided tells whether the trials at v hold a majority of repeats.
func (b bracket) decided(v float64, repeats int) bool {
	f, n := b.votes(v)
	need := repeats/2 + 1
	return f >= need || n-f >= need
}
