package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

func init() { commands = append(commands, newSnapshotCommand, newDiffCommand) }

func newSnapshotCommand(g *globalOptions) *cobra.Command {
	var (
		out     string
		phase   string
		headers []string
		light   bool
	)
	cmd := &cobra.Command{
		Use:   "snapshot PPROF_URL --artifacts DIR",
		Short: "Save a pprof bundle of a running service (goroutines, heap, MemStats)",
		Long: `Capture a snapshot of a running service through its pprof base URL (e.g.
http://127.0.0.1:6060/debug/pprof) and save it as files that go tool pprof
opens: PHASE.goroutine.pb.gz, PHASE.heap.pb.gz, PHASE.goroutines.txt and
PHASE.summary.json. Compare two with aftershock diff.

The full capture writes the goroutine?debug=2 dump, which stops the
target's world while it is written (about 1.6 s for 100,000 goroutines);
--light takes only the goroutine protobuf and MemStats (about 0.15 s).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("dir") {
				// pflag's own deprecation notice goes to cobra's flag
				// error buffer, which nobody reads.
				fmt.Fprintln(cmd.ErrOrStderr(), "aftershock: snapshot -o/--dir is deprecated: use --artifacts DIR (-o names a file in the other commands)")
			}
			if out == "" {
				return withCode(exitBadInput, fmt.Errorf("--artifacts DIR is required: the directory to save the bundle in"))
			}
			var opts []snapshot.Option
			for _, h := range headers {
				k, v, ok := strings.Cut(h, ":")
				if !ok {
					return withCode(exitBadInput, fmt.Errorf("--header %q: want Name: value", h))
				}
				opts = append(opts, snapshot.WithHeader(strings.TrimSpace(k), os.ExpandEnv(strings.TrimSpace(v))))
			}
			c, err := snapshot.NewClient(args[0], opts...)
			if err != nil {
				return withCode(exitBadInput, err)
			}
			defer c.Close()
			capture := c.Capture
			if light {
				capture = c.CaptureLight
			}
			s, err := capture(cmd.Context())
			if err != nil {
				return withCode(exitCouldNotRun, err)
			}
			if err := s.Save(out, phase); err != nil {
				return withCode(exitCouldNotRun, err)
			}
			sum := s.Summary()
			if g.output == "json" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(sum)
			}
			heap := "after GC"
			if !s.Collected {
				heap = "not collected: an upper bound"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "saved %s/%s.*: %d goroutines in %d groups, heap %d B (%s)\n",
				out, phase, sum.Goroutines, len(sum.Groups), sum.HeapAlloc, heap)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "artifacts", "", "directory to save the bundle in (required)")
	// The old spellings: -o and --dir named this directory, where -o names
	// a file everywhere else.
	cmd.Flags().StringVarP(&out, "dir", "o", "", "directory to save the bundle in")
	_ = cmd.Flags().MarkHidden("dir")
	cmd.Flags().StringVar(&phase, "phase", "snapshot", "file name prefix of the bundle")
	cmd.Flags().StringArrayVarP(&headers, "header", "H", nil, `header sent to pprof, "Name: value" ($ENV expanded)`)
	cmd.Flags().BoolVar(&light, "light", false, "goroutine protobuf and MemStats only (cheap for the target)")
	return cmd
}

func newDiffCommand(g *globalOptions) *cobra.Command {
	var (
		basePhase, nowPhase string
		drillFile           string
		tol                 toleranceFlags
	)
	cmd := &cobra.Command{
		Use:   "diff BASE_DIR NOW_DIR",
		Short: "Judge a bundle against a baseline bundle as a drill would (exit 1 when over tolerance)",
		Long: `Compare two saved bundles (aftershock snapshot, or a drill's --artifacts)
and judge the second against the first with a drill's tolerances: those of
--drill FILE's verify block, else a drill's defaults (+0 goroutines per
group, +0 connections per class, +2 idle pooled client connections, heap
+max(1MiB, 10%)), each overridable by its flag. The verdict, its culprits
and the findings are the same a drill would report.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := experiments.DefaultVerify()
			if drillFile != "" {
				d, err := experiments.Load(drillFile)
				if err != nil {
					return withCode(exitBadInput, err)
				}
				v = d.Spec.Verify
			}
			if err := tol.apply(cmd, &v); err != nil {
				return withCode(exitBadInput, err)
			}
			base, err := snapshot.Load(args[0], basePhase)
			if err != nil {
				return withCode(exitBadInput, err)
			}
			now, err := snapshot.Load(args[1], nowPhase)
			if err != nil {
				return withCode(exitBadInput, err)
			}
			// No load ran, so nothing measured what the target pools: the
			// idle allowance is the drill's, or net/http's default.
			f, err := matchers.Judge(base, now, v.MatcherOptions(v.IdleAllowance(0))...)
			if err != nil {
				return withCode(exitBadInput, err)
			}
			return printDiff(cmd.OutOrStdout(), g.output, f)
		},
	}
	cmd.Flags().StringVar(&basePhase, "base-phase", "snapshot", "file name prefix of the bundle in BASE_DIR")
	cmd.Flags().StringVar(&nowPhase, "phase", "snapshot", "file name prefix of the bundle in NOW_DIR")
	cmd.Flags().StringVar(&drillFile, "drill", "", "take the tolerances from this Drill file's verify block")
	tol.register(cmd)
	return cmd
}

// toleranceFlags override a verify block's tolerances from the command
// line; only flags the user set change anything.
type toleranceFlags struct {
	goroutines, connections, idle int
	heap                          string
	ignore                        []string
}

func (t *toleranceFlags) register(cmd *cobra.Command) {
	cmd.Flags().IntVar(&t.goroutines, "max-extra-goroutines", 0, "growth allowed per goroutine group (verify.goroutines.maxExtra)")
	cmd.Flags().IntVar(&t.connections, "max-extra-connections", 0, "growth allowed per connection class (verify.connections.maxExtra)")
	cmd.Flags().IntVar(&t.idle, "max-idle-extra", 0, "growth allowed in idle pooled HTTP/1 client connections (verify.connections.maxIdleExtra; default 2)")
	cmd.Flags().StringVar(&t.heap, "max-heap-growth", "", `heap growth allowed, "1MiB", "10%" or "max(1MiB, 10%)" (verify.heap.maxGrowth)`)
	cmd.Flags().StringSliceVar(&t.ignore, "ignore", nil, "goroutine functions to ignore, gleak style, added to verify.ignore (repeatable)")
}

func (t *toleranceFlags) apply(cmd *cobra.Command, v *experiments.Verify) error {
	set := cmd.Flags().Changed
	if set("max-extra-goroutines") {
		v.Goroutines.MaxExtra = t.goroutines
	}
	if set("max-extra-connections") {
		v.Connections.MaxExtra = t.connections
	}
	if set("max-idle-extra") {
		v.Connections.MaxIdleExtra = &t.idle
	}
	for name, n := range map[string]int{"max-extra-goroutines": t.goroutines, "max-extra-connections": t.connections, "max-idle-extra": t.idle} {
		if n < 0 {
			return fmt.Errorf("--%s %d: must be >= 0", name, n)
		}
	}
	if set("max-heap-growth") {
		g, err := experiments.ParseGrowth(t.heap)
		if err != nil {
			return fmt.Errorf("--max-heap-growth: %w", err)
		}
		v.Heap.MaxGrowth = g
	}
	v.Ignore = append(v.Ignore, t.ignore...)
	return nil
}

func printDiff(w io.Writer, format string, f *matchers.Findings) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(f); err != nil {
			return err
		}
	} else if f.OK() {
		fmt.Fprintf(w, "back to baseline, within tolerance:\n\n%s", f.Message())
	} else {
		fmt.Fprintln(w, "not back to baseline; culprits:")
		for _, c := range f.Culprits() {
			fmt.Fprintf(w, "  - %s\n", c)
		}
		fmt.Fprintf(w, "\n%s", f.Message())
	}
	if !f.OK() {
		return withCode(exitFailed, fmt.Errorf("the second bundle has not returned to the first"))
	}
	return nil
}
