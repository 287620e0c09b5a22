package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/explore"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/experiments/search"
)

func init() { commands = append(commands, newExploreCommand) }

type exploreFlags struct {
	opts     explore.Options
	noShrink bool
	out      string
	settle   time.Duration
}

func newExploreCommand(g *globalOptions) *cobra.Command {
	var f exploreFlags
	cmd := &cobra.Command{
		Use:   "explore DRILL",
		Short: "Search schedules of a drill's faults for one that fails, and shrink it; exit 1 when one fails, 0 when none does, 2 bad input, 3 could not run",
		Long: `Draw random schedules from the drill's faults — which of them, in which
order, held how long, how hard, and which overlap which — and run each as a
drill of its own until one fails (a leak, or a declared SLO broken). Then
shrink it: drop faults, pull overlapping faults apart, start them sooner,
shorten their holds, lower their magnitudes, keeping each step whose
schedule still fails every one of its --repeats trials, until no step
does; and run the smallest schedule --confirm times more.

The n-th schedule is drawn with seed --seed+n-1, so --seed S --runs N draws
the same schedules again, and a run's own seed with --runs 1 (and the same
--max-faults) draws that run alone. It prints the seed, the failing and the smallest schedule with its
culprits, and writes the smallest as a Drill file (--out), faults held
together written with overlap: aftershock drill FILE runs it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			drills, err := experiments.LoadAll(args[0])
			if err != nil {
				return withCode(exitBadInput, err)
			}
			pool, err := explore.NewPool(drills[0])
			if err != nil {
				return withCode(exitBadInput, fmt.Errorf("%s: %w", args[0], err))
			}
			if !cmd.Flags().Changed("seed") {
				f.opts.Seed = uint64(time.Now().UnixNano() % 1_000_000)
			}
			f.opts.Shrink = !f.noShrink
			// Every schedule the seeds draw must load before the first runs.
			if err := explore.Check(pool, f.opts); err != nil {
				return withCode(exitBadInput, err)
			}
			ctx, stop := signalContext(cmd.Context(), cmd.ErrOrStderr())
			defer stop()
			return runExplore(ctx, g, drills[0], pool, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.Uint64Var(&f.opts.Seed, "seed", 0, "the seed of the first schedule (default: from the clock, printed)")
	fl.IntVar(&f.opts.Runs, "runs", 10, "schedules to draw at most")
	fl.IntVar(&f.opts.MaxFaults, "max-faults", 3, "faults in a schedule at most")
	fl.IntVar(&f.opts.MaxTrials, "max-trials", 40, "trials in all at most (each a full drill): draws, shrink and confirmation")
	fl.IntVar(&f.opts.Repeats, "repeats", 1, "trials a shrink step's schedule must fail, every one, to be taken")
	fl.IntVar(&f.opts.Confirm, "confirm", 3, "times the smallest schedule is run again at the end")
	fl.BoolVar(&f.noShrink, "no-shrink", false, "stop at the first failing schedule")
	fl.StringVarP(&f.out, "out", "o", "", "the Drill file of the smallest failing schedule (default NAME-minimal.yaml)")
	fl.DurationVar(&f.settle, "settle", 0, "override the drill's settle deadline in every trial")
	return cmd
}

// exploreOutput is what --output json prints.
type exploreOutput struct {
	Drill string `json:"drill"`
	*explore.Result
	File string `json:"file,omitempty"`
}

func runExplore(ctx context.Context, g *globalOptions, d *experiments.Drill, pool *explore.Pool, f exploreFlags, stdout, stderr io.Writer) error {
	fmt.Fprintf(stderr, "exploring schedules of drill %s (faults %s) with seed %d: at most %d schedules, %d trials\n",
		d.Metadata.Name, strings.Join(pool.Names(), ", "), f.opts.Seed, f.opts.Runs, f.opts.MaxTrials)
	n := 0
	f.opts.Progress = func(t explore.Trial) {
		n++
		verdict := "pass"
		if t.Failed {
			verdict = "FAIL"
		}
		fmt.Fprintf(stderr, "trial %d, %s: %s: %s (%s)\n", n, t.Stage, t.Text, verdict, t.Wall.Round(100*time.Millisecond))
	}
	judge := func(ctx context.Context, d *experiments.Drill) (search.Verdict, error) {
		return search.Judge(ctx, d, runner.WithSettle(f.settle))
	}
	res, err := explore.Explore(ctx, pool, judge, f.opts)
	out := exploreOutput{Drill: d.Metadata.Name, Result: res}
	if res != nil && res.Minimal != nil {
		out.File = f.out
		if out.File == "" {
			out.File = d.Metadata.Name + "-minimal.yaml"
		}
		doc, derr := pool.File(*res.Minimal, d.Metadata.Name+"-minimal")
		if derr == nil {
			header := fmt.Sprintf("# The smallest failing schedule aftershock explore found in drill %s\n# (seed %d; the failing run's seed %d): %s\n",
				d.Metadata.Name, res.Seed, res.FailingSeed, res.Minimal)
			derr = os.WriteFile(out.File, append([]byte(header), doc...), 0o644)
		}
		if derr != nil {
			return withCode(exitCouldNotRun, fmt.Errorf("the Drill file of the smallest schedule: %w", derr))
		}
	}
	if res != nil {
		if perr := printResult(stdout, g, out, func(w io.Writer) { writeExplore(w, out, f.opts.MaxFaults) }); perr != nil {
			return perr
		}
	}
	what := ""
	switch {
	case res == nil || !res.Found:
	case res.Unconfirmed:
		what = fmt.Sprintf("schedule %s failed once, but not reliably", res.Minimal)
	default:
		what = fmt.Sprintf("schedule %s fails", res.Minimal)
	}
	return trialsEnded(ctx, err, res != nil && res.Found, what)
}

func writeExplore(w io.Writer, o exploreOutput, maxFaults int) {
	if !o.Found {
		fmt.Fprintf(w, "%s: no failing schedule: %s\n", o.Drill, o.Reason)
	} else {
		fmt.Fprintf(w, "%s: schedule %d of seed %d fails: %s\n", o.Drill, o.Runs, o.Seed, o.Failing)
		fmt.Fprintf(w, "  drawn again alone with: --seed %d --runs 1 --max-faults %d\n", o.FailingSeed, maxFaults)
		if len(o.Steps) > 0 {
			fmt.Fprintf(w, "  shrunk in %d steps: %s\n", len(o.Steps), strings.Join(o.Steps, "; "))
		}
		fmt.Fprintf(w, "  smallest failing schedule: %s", o.Minimal)
		if o.Confirmed[1] > 0 {
			fmt.Fprintf(w, " (failed %d of %d confirming trials)", o.Confirmed[0], o.Confirmed[1])
		}
		fmt.Fprintln(w)
		for _, c := range o.Culprits {
			fmt.Fprintf(w, "    - %s\n", c)
		}
		if o.Reason != "" {
			fmt.Fprintf(w, "  note: %s\n", o.Reason)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  trial\tstage\tschedule\tverdict\n")
	for i, t := range o.Trials {
		verdict := "pass"
		if t.Failed {
			verdict = "FAIL"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", i+1, t.Stage, t.Text, verdict)
	}
	tw.Flush()
	if o.File != "" {
		fmt.Fprintf(w, "the smallest failing schedule as a Drill file: %s (aftershock drill %s)\n", o.File, o.File)
	}
}
