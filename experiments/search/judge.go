package search

import (
	"context"
	"strings"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/runner"
)

// Verdict is one trial's drill as a search reads it: whether it failed,
// and why, in the words of the drill's verdict.
type Verdict struct {
	Failed bool
	// Culprits are the culprit lines of every fault that did not return,
	// and one line per broken SLO.
	Culprits []string
	// Result is the drill's result.
	Result *runner.Result
}

// Detail is the culprits on one line, as a trial's detail.
func (v Verdict) Detail() string { return strings.Join(v.Culprits, "; ") }

// Judge runs d once, end to end, and reads its verdict: the one way every
// search (a threshold, a schedule, the Gomega helper) runs a trial. An
// error means the drill could not run to its verdict.
func Judge(ctx context.Context, d *experiments.Drill, opts ...runner.Option) (Verdict, error) {
	res, err := runner.Run(ctx, d, opts...)
	if err != nil {
		return Verdict{Result: res}, err
	}
	v := Verdict{Failed: res.Verdict == runner.Fail, Result: res}
	for _, fr := range res.Faults {
		v.Culprits = append(v.Culprits, fr.Culprits...)
		for _, c := range fr.SLOs {
			if !c.OK {
				v.Culprits = append(v.Culprits, "slo "+c.String())
			}
		}
	}
	return v, nil
}
