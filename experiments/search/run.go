package search

import (
	"context"
	"fmt"
	"strings"

	"github.com/onsi/gomega/format"
	"github.com/onsi/gomega/types"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/runner"
)

// Outcome is a threshold search of one fault of a drill: what was varied
// over which range, and what the search found.
type Outcome struct {
	Drill string  `json:"drill"`
	Fault string  `json:"fault"`
	Field string  `json:"field"`
	Unit  string  `json:"unit"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
	*Result
	// Err says why the search ended before its result (a trial that could
	// not run, the trial budget): what it found is then incomplete.
	Err string `json:"error,omitempty"`
}

// Run searches fault of drill d over v's range: every trial is the fault
// alone at a value (Vary.Drill), run to its verdict by Judge with the
// runner options given. It is the search `aftershock search` runs, for a
// suite to run too:
//
//	It("takes up to 2s of upstream latency", func(ctx SpecContext) {
//		out, err := search.Run(ctx, drill, "slow-payments", search.MustParseVary("latency=10ms..2s"), search.Options{})
//		Expect(err).NotTo(HaveOccurred())
//		Expect(out).To(search.HoldUpTo("2s"))
//	}, SpecTimeout(10*time.Minute))
//
// When the range's high end passes, the search stops there: asserting a
// bound that holds costs a majority of Options.Repeats drills.
func Run(ctx context.Context, d *experiments.Drill, fault string, v Vary, opts Options, ropts ...runner.Option) (*Outcome, error) {
	out := &Outcome{Drill: d.Metadata.Name, Fault: fault, Field: v.Field.Name, Unit: v.Field.Unit, Low: v.Low, High: v.High}
	if err := v.Check(d, fault); err != nil {
		return out, err
	}
	trial := func(ctx context.Context, x float64) (bool, string, error) {
		td, _, err := v.Drill(d, fault, x)
		if err != nil {
			return false, "", err
		}
		verdict, err := Judge(ctx, td, ropts...)
		if err != nil {
			return false, "", fmt.Errorf("trial at %s: %w", Format(x, v.Field.Unit), err)
		}
		return verdict.Failed, verdict.Detail(), nil
	}
	res, err := Threshold(ctx, v.Low, v.High, trial, opts)
	out.Result = res
	if err != nil {
		out.Err = err.Error()
	}
	return out, err
}

// Check tells whether fault of d can be searched over v's range: the
// fault exists, has the field, and its drill loads at both ends. Bad
// input, found before any trial runs.
func (v Vary) Check(d *experiments.Drill, fault string) error {
	if err := d.RefuseCluster("the threshold search"); err != nil {
		return err
	}
	for _, x := range []float64{v.Low, v.High} {
		if _, _, err := v.Drill(d, fault, x); err != nil {
			return err
		}
	}
	return nil
}

// MustParseVary is ParseVary for a literal; it panics on a bad one.
func MustParseVary(s string) Vary {
	v, err := ParseVary(s)
	if err != nil {
		panic(err)
	}
	return v
}

// Text says what the search found, as the CLI prints it and a failed
// assertion shows it: the threshold with its bracket and votes, or that
// the verdict never flips, and the culprits of the trials at the
// threshold.
func (o *Outcome) Text() string {
	var b strings.Builder
	u := o.Unit
	switch {
	case o.Result == nil:
		fmt.Fprintf(&b, "%s / %s: no search result", o.Drill, o.Fault)
	case o.Found && o.Pass == 0 && o.Fail == o.Low:
		fmt.Fprintf(&b, "%s / %s: fails already at %s, the low end of the range: %s", o.Drill, o.Fault, Format(o.Low, u), o.Reason)
	case o.Found:
		fmt.Fprintf(&b, "%s / %s: %s threshold %s — passes at %s (%d of %d trials), fails at %s (%d of %d trials)",
			o.Drill, o.Fault, o.Field, Format(o.Threshold, u), Format(o.Pass, u), o.PassVotes[0], o.PassVotes[1],
			Format(o.Fail, u), o.FailVotes[0], o.FailVotes[1])
	default:
		fmt.Fprintf(&b, "%s / %s: no threshold in %s..%s: %s", o.Drill, o.Fault, Format(o.Low, u), Format(o.High, u), o.Reason)
	}
	if o.Result != nil && o.Found {
		seen := map[string]bool{}
		for _, t := range o.Trials {
			if t.Failed && t.Value == o.Threshold && t.Detail != "" && !seen[t.Detail] {
				seen[t.Detail] = true
				fmt.Fprintf(&b, "\n  culprits at %s: %s", Format(t.Value, u), t.Detail)
			}
		}
	}
	return b.String()
}

// HoldUpTo succeeds on a search (*Outcome) that found no threshold at or
// below bound, written as the field is ("2s" of latency, "30%" of loss,
// "500" stalled clients): the service holds up to it. It fails with the
// threshold, its bracket and the culprits when the verdict flips at or
// below the bound, and refuses a search whose range ends below the bound
// (it cannot say) or that was not run to its result.
func HoldUpTo(bound string) types.GomegaMatcher { return &holdUpTo{bound: bound} }

type holdUpTo struct {
	bound string
	value float64
}

func (m *holdUpTo) Match(actual any) (bool, error) {
	o, ok := actual.(*Outcome)
	if !ok || o == nil {
		return false, fmt.Errorf("HoldUpTo wants the *search.Outcome of search.Run, got %s", format.Object(actual, 1))
	}
	f, ok := Fields[o.Field]
	if !ok {
		return false, fmt.Errorf("HoldUpTo: the search varied %q, which is no field (%s)", o.Field, fieldNames())
	}
	v, err := f.parse(m.bound)
	if err != nil {
		return false, fmt.Errorf("HoldUpTo(%q): %w", m.bound, err)
	}
	m.value = v
	switch {
	case o.Result == nil:
		return false, fmt.Errorf("HoldUpTo: the search of %s / %s has no result (did search.Run return an error?)", o.Drill, o.Fault)
	case o.Found && o.Threshold <= v:
		// A threshold at or below the bound breaks it, however the
		// search ended.
		return false, nil
	case o.Err != "":
		return false, fmt.Errorf("HoldUpTo(%q): the search of %s / %s ended before its result: %s", m.bound, o.Drill, o.Fault, o.Err)
	case o.Low > v:
		return false, fmt.Errorf("HoldUpTo(%q): the search of %s / %s starts at %s, above the bound: nothing below it was tried", m.bound, o.Drill, o.Fault, Format(o.Low, o.Unit))
	case o.High < v:
		return false, fmt.Errorf("HoldUpTo(%q): the search of %s / %s ended at %s, below the bound: search up to it", m.bound, o.Drill, o.Fault, Format(o.High, o.Unit))
	}
	return true, nil
}

func (m *holdUpTo) FailureMessage(actual any) string {
	o := actual.(*Outcome)
	return fmt.Sprintf("expected %s / %s to hold up to %s of %s, but the verdict flips at %s:\n%s",
		o.Drill, o.Fault, m.bound, o.Field, Format(o.Threshold, o.Unit), o.Text())
}

func (m *holdUpTo) NegatedFailureMessage(actual any) string {
	o := actual.(*Outcome)
	return fmt.Sprintf("expected %s / %s to break at or below %s of %s, but it held:\n%s", o.Drill, o.Fault, m.bound, o.Field, o.Text())
}
