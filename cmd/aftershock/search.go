package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/experiments/search"
)

func init() { commands = append(commands, newSearchCommand) }

type searchFlags struct {
	fault, vary, out string
	opts             search.Options
	settle           time.Duration
}

func newSearchCommand(g *globalOptions) *cobra.Command {
	var f searchFlags
	cmd := &cobra.Command{
		Use:   "search DRILL --fault NAME --vary FIELD=LOW..HIGH",
		Short: "Find the smallest fault at which the verdict flips; exit 1 when there is one, 0 when not, 2 bad input, 3 could not run",
		Long: `Search a range of one fault's magnitude (latency, jitter, duration, loss,
count) for the smallest value at which the drill fails: a leak, or a
declared SLO broken. Each trial is a full drill of that fault alone, on the
same target. The search bisects (geometrically: magnitudes span decades),
reads its bracket as the step that disagrees with the fewest trials, so a
flaky verdict far from the threshold is outvoted, and ends when both ends
of a bracket narrower than --resolution hold a majority of --repeats
trials, or when --max-trials is spent.

It prints the threshold with its bracket and every trial's verdict and
culprits, and writes the Drill file of the fault at the threshold (--out),
which reproduces the failure: aftershock drill FILE.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.fault == "" || f.vary == "" {
				return withCode(exitBadInput, errors.New("--fault and --vary are required"))
			}
			v, err := search.ParseVary(f.vary)
			if err != nil {
				return withCode(exitBadInput, err)
			}
			drills, err := experiments.LoadAll(args[0])
			if err != nil {
				return withCode(exitBadInput, err)
			}
			d := drills[0]
			if err := v.Check(d, f.fault); err != nil {
				return withCode(exitBadInput, fmt.Errorf("%s: %w", args[0], err))
			}
			ctx, stop := signalContext(cmd.Context(), cmd.ErrOrStderr())
			defer stop()
			return runSearch(ctx, g, d, v, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&f.fault, "fault", "", "the fault whose magnitude is searched")
	cmd.Flags().StringVar(&f.vary, "vary", "", "FIELD=LOW..HIGH: latency, jitter or duration (e.g. latency=10ms..3s), loss (percent), count (stalled clients)")
	cmd.Flags().StringVarP(&f.out, "out", "o", "", "the Drill file of the fault at the threshold (default NAME-threshold.yaml)")
	cmd.Flags().IntVar(&f.opts.MaxTrials, "max-trials", 20, "at most this many trials (each a full drill)")
	cmd.Flags().IntVar(&f.opts.Repeats, "repeats", 3, "trials that confirm each end of the bracket (a majority decides)")
	cmd.Flags().Float64Var(&f.opts.Resolution, "resolution", 0.05, "stop when the bracket is this narrow, relative to its low end")
	cmd.Flags().DurationVar(&f.settle, "settle", 0, "override the drill's settle deadline in every trial")
	return cmd
}

// searchOutput is what --output json prints.
type searchOutput struct {
	*search.Outcome
	File string `json:"file,omitempty"`
}

func runSearch(ctx context.Context, g *globalOptions, d *experiments.Drill, v search.Vary, f searchFlags, stdout, stderr io.Writer) error {
	unit := v.Field.Unit
	fmt.Fprintf(stderr, "searching %s of fault %s in drill %s over %s..%s (at most %d trials)\n",
		v.Field.Name, f.fault, d.Metadata.Name, search.Format(v.Low, unit), search.Format(v.High, unit), f.opts.MaxTrials)
	n := 0
	f.opts.Progress = func(t search.TrialResult) {
		n++
		verdict := "pass"
		if t.Failed {
			verdict = "FAIL"
		}
		fmt.Fprintf(stderr, "trial %d: %s %s: %s\n", n, v.Field.Name, search.Format(t.Value, unit), verdict)
	}
	o, err := search.Run(ctx, d, f.fault, v, f.opts, runner.WithSettle(f.settle))
	res := o.Result
	out := searchOutput{Outcome: o}
	if res != nil && res.Found {
		out.File = f.out
		if out.File == "" {
			out.File = d.Metadata.Name + "-" + f.fault + "-threshold.yaml"
		}
		_, doc, derr := v.Drill(d, f.fault, res.Threshold)
		if derr == nil {
			derr = os.WriteFile(out.File, doc, 0o644)
		}
		if derr != nil {
			return withCode(exitCouldNotRun, fmt.Errorf("the Drill file at the threshold: %w", derr))
		}
	}
	if res != nil {
		if perr := printResult(stdout, g, out, func(w io.Writer) { writeSearch(w, out) }); perr != nil {
			return perr
		}
	}
	what := ""
	if res != nil && res.Found {
		what = "the verdict flips at " + search.Format(res.Threshold, unit)
	}
	return trialsEnded(ctx, err, res != nil && res.Found, what)
}

func writeSearch(w io.Writer, o searchOutput) {
	fmt.Fprintln(w, o.Text())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  trial\t%s\tverdict\tculprits\n", o.Field)
	for i, t := range o.Trials {
		verdict := "pass"
		if t.Failed {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", i+1, search.Format(t.Value, o.Unit), verdict, t.Detail)
	}
	tw.Flush()
	if o.File != "" {
		fmt.Fprintf(w, "the fault at the threshold: %s (aftershock drill %s)\n", o.File, o.File)
	}
}
