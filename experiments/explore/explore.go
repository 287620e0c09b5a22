package explore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/search"
)

// Judge runs one trial: the drill of a schedule, once, to its verdict.
// search.Judge is the real one; tests give a model of a service.
type Judge func(ctx context.Context, d *experiments.Drill) (search.Verdict, error)

// Options bound an exploration.
type Options struct {
	// Seed draws the schedules: the n-th schedule is drawn with seed
	// Seed+n-1, so that a run's own seed with Runs 1 (and the same
	// MaxFaults) draws that run again.
	Seed uint64
	// Runs is how many schedules are drawn at most (default 10).
	Runs int
	// MaxFaults bounds the faults of a schedule (default 3).
	MaxFaults int
	// MaxTrials bounds the trials of the whole exploration, the drawn
	// schedules, the shrink and the confirmation together (default 40).
	MaxTrials int
	// Repeats is how many trials a shrink step's candidate must fail, each
	// of them, to be taken (default 1).
	Repeats int
	// Confirm is how many times the smallest schedule is run again at the
	// end (default 3).
	Confirm int
	// Shrink shrinks a failing schedule (the CLI's default); without it
	// the exploration stops at the first failing schedule.
	Shrink bool
	// Progress, when set, hears of every trial.
	Progress func(Trial)
}

// Check tells whether every schedule an exploration with opts would draw
// loads as a drill: bad input, found before any trial runs.
func Check(p *Pool, opts Options) error {
	opts.defaults()
	for i := range opts.Runs {
		if _, _, err := p.Drill(p.Generate(opts.Seed+uint64(i), opts.MaxFaults)); err != nil {
			return err
		}
	}
	return nil
}

func (o *Options) defaults() {
	if o.Runs <= 0 {
		o.Runs = 10
	}
	if o.MaxFaults <= 0 {
		o.MaxFaults = 3
	}
	if o.MaxTrials <= 0 {
		o.MaxTrials = 40
	}
	if o.Repeats <= 0 {
		o.Repeats = 1
	}
	if o.Confirm <= 0 {
		o.Confirm = 3
	}
}

// Trial is one schedule run, and why it was run.
type Trial struct {
	// Stage is "run N" for a drawn schedule, the shrink step's
	// description for a candidate ("drop slow-stock"), "confirm" at the end.
	Stage    string   `json:"stage"`
	Schedule Schedule `json:"schedule"`
	// Text is the schedule as String writes it.
	Text     string        `json:"text"`
	Failed   bool          `json:"failed"`
	Culprits []string      `json:"culprits,omitempty"`
	Wall     time.Duration `json:"wall"`
}

// Result is what an exploration found.
type Result struct {
	Seed uint64 `json:"seed"`
	// Runs is how many schedules were drawn.
	Runs int `json:"runs"`
	// Found tells that a drawn schedule failed: Failing, drawn with
	// FailingSeed.
	Found       bool      `json:"found"`
	FailingSeed uint64    `json:"failingSeed,omitempty"`
	Failing     *Schedule `json:"failing,omitempty"`
	// Minimal is the smallest schedule found that still fails (Failing
	// when nothing smaller failed), its culprits, and its confirmation:
	// how many of the confirming trials failed, of how many.
	Minimal   *Schedule `json:"minimal,omitempty"`
	Culprits  []string  `json:"culprits,omitempty"`
	Confirmed [2]int    `json:"confirmed"`
	// Unconfirmed tells that not even the drawn schedule failed a
	// majority of its confirming runs.
	Unconfirmed bool `json:"unconfirmed,omitempty"`
	// Steps are the shrink steps taken, in order.
	Steps []string `json:"steps,omitempty"`
	// Reason says why the exploration ended where it did, when that is not
	// a confirmed minimal schedule.
	Reason string  `json:"reason,omitempty"`
	Trials []Trial `json:"trials"`
}

// ErrBudget is wrapped when the trial budget ran out: the result holds
// what was found so far. It is the threshold search's: one budget, one
// error.
var ErrBudget = search.ErrBudget

// Explore draws schedules from the pool until one fails, shrinks it, and
// confirms the smallest.
func Explore(ctx context.Context, p *Pool, judge Judge, opts Options) (*Result, error) {
	opts.defaults()
	x := &explorer{p: p, judge: judge, opts: opts, res: &Result{Seed: opts.Seed}}
	var first Trial
	for i := range opts.Runs {
		s := p.Generate(opts.Seed+uint64(i), opts.MaxFaults)
		t, err := x.run(ctx, fmt.Sprintf("run %d (seed %d)", i+1, s.Seed), s)
		x.res.Runs = i + 1
		if err != nil {
			if errors.Is(err, ErrBudget) {
				x.res.Runs = i
				x.res.Reason = fmt.Sprintf("the trial budget ran out after %d schedules, none of which failed", i)
			}
			return x.res, err
		}
		if t.Failed {
			first = t
			break
		}
	}
	if !first.Failed {
		x.res.Reason = fmt.Sprintf("none of %d schedules drawn with seeds %d..%d failed", x.res.Runs, opts.Seed, opts.Seed+uint64(x.res.Runs)-1)
		return x.res, nil
	}
	x.res.Found, x.res.FailingSeed = true, first.Schedule.Seed
	failing := first.Schedule
	x.res.Failing = &failing
	min, culprits := first.Schedule, first.Culprits
	var err error
	if opts.Shrink {
		min, culprits, err = x.shrink(ctx, first)
	}
	x.res.Minimal, x.res.Culprits = &min, culprits
	if err != nil {
		return x.res, err
	}
	if !opts.Shrink {
		return x.res, nil
	}
	// Confirm the smallest; when it fails fewer than a majority of its
	// confirming runs, its last step may have been a noisy verdict: walk
	// back the shrink's steps to the last schedule that holds a majority.
	for k := len(x.chain) - 1; k >= 0; k-- {
		c := x.chain[k]
		votes, err := x.confirm(ctx, c.s)
		if err != nil {
			return x.res, err
		}
		min := c.s
		x.res.Minimal, x.res.Culprits, x.res.Confirmed = &min, c.culprits, votes
		if 2*votes[0] > votes[1] {
			if k < len(x.chain)-1 {
				x.res.Reason = fmt.Sprintf("the smaller schedules after it did not fail a majority of their confirming runs (noise near a boundary): kept the one before the last %d shrink step(s)", len(x.chain)-1-k)
				x.res.Steps = x.res.Steps[:k]
			}
			return x.res, nil
		}
	}
	x.res.Reason = "no schedule of the shrink, the drawn one included, failed a majority of its confirming runs: the failure does not reproduce reliably"
	x.res.Unconfirmed = true
	return x.res, nil
}

// confirm runs a schedule Confirm times and counts its failures.
func (x *explorer) confirm(ctx context.Context, s Schedule) ([2]int, error) {
	var votes [2]int
	for range x.opts.Confirm {
		t, err := x.run(ctx, "confirm", s)
		if err != nil {
			return votes, err
		}
		votes[1]++
		if t.Failed {
			votes[0]++
		}
	}
	return votes, nil
}

type explorer struct {
	p     *Pool
	judge Judge
	opts  Options
	res   *Result
	// chain is the failing schedules the shrink went through, the drawn
	// one first.
	chain []step
}

type step struct {
	s        Schedule
	culprits []string
}

// run runs one schedule as a trial.
func (x *explorer) run(ctx context.Context, stage string, s Schedule) (Trial, error) {
	if len(x.res.Trials) >= x.opts.MaxTrials {
		return Trial{}, fmt.Errorf("%w: %d trials were allowed", ErrBudget, x.opts.MaxTrials)
	}
	d, _, err := x.p.Drill(s)
	if err != nil {
		return Trial{}, err
	}
	start := time.Now()
	v, err := x.judge(ctx, d)
	if err != nil {
		return Trial{}, fmt.Errorf("%s, schedule %s: %w", stage, s, err)
	}
	t := Trial{Stage: stage, Schedule: s, Text: s.String(), Failed: v.Failed, Culprits: v.Culprits, Wall: time.Since(start)}
	x.res.Trials = append(x.res.Trials, t)
	if x.opts.Progress != nil {
		x.opts.Progress(t)
	}
	return t, nil
}
