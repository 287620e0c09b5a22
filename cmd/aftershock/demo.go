package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/report"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/fixtures/grpcshop"
	"github.com/aftershock/aftershock/fixtures/launch"
	"github.com/aftershock/aftershock/fixtures/shop"
	"github.com/aftershock/aftershock/fixtures/stack"
)

func init() { commands = append(commands, newDemoCommand) }

func newDemoCommand(g *globalOptions) *cobra.Command {
	var (
		settle    time.Duration
		leaks     []string
		grpcLeaks []string
		noGRPC    bool
		dir       string
		doSearch  bool
		doExplore bool
		out       string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Drill a leaky and a fixed demo shop side by side and show what aftershock finds",
		Long: `Start the demo shop twice — once with every leak switched on, once with
every leak and every fix — each with its own payments upstream, run the
shipped drills (slow upstream, partition, 503 storm, stalled clients)
against both at the same time; then the same with the gRPC demo shop and
its inventory upstream (inventory unavailable, slow inventory; faults per
gRPC call). Print the verdicts and culprits side by side. Exit 0 when
every drill fails on the leaky shop and passes on the fixed one.

--search runs 'aftershock search' on the shop with its goroutine leak
instead: the latency of payments at which the slow-upstream drill starts
to fail (the shop gives up after 300ms; about 3 minutes). --explore runs
'aftershock explore' on the fanout service, which leaks only when its two
upstreams are slow at once: it finds such a schedule and shrinks it
(seed 33; about 3 minutes). Their exit codes are those commands' own: 1
when the verdict flips, 0 when it never does.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd.Context(), cmd.ErrOrStderr())
			defer stop()
			switch {
			case doSearch && doExplore:
				return withCode(exitBadInput, errors.New("--search and --explore: choose one"))
			case doSearch:
				return runDemoSearch(ctx, g, out, cmd.OutOrStdout(), cmd.ErrOrStderr())
			case doExplore:
				return runDemoExplore(ctx, g, out, cmd.OutOrStdout(), cmd.ErrOrStderr())
			case out != "":
				return withCode(exitBadInput, errors.New("-o/--out is the Drill file that --search or --explore writes"))
			}
			o := demoOptions{settle: settle, leaks: leaks, grpcLeaks: grpcLeaks, grpc: !noGRPC, dir: dir}
			return runDemo(ctx, g, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addDrillOutputFlags(cmd, g)
	cmd.Flags().DurationVar(&settle, "settle", 8*time.Second, "settle deadline of every drill (the leaky shop waits it out)")
	cmd.Flags().StringSliceVar(&leaks, "leaks", []string{shop.All}, "leaks to switch on in the leaky shop")
	cmd.Flags().StringSliceVar(&grpcLeaks, "grpc-leaks", []string{grpcshop.All}, "leaks to switch on in the leaky gRPC shop")
	cmd.Flags().BoolVar(&noGRPC, "no-grpc", false, "drill the HTTP shop only")
	cmd.Flags().StringVar(&dir, "drills", "", "directory of drills to run against the HTTP shop instead of the shipped ones")
	cmd.Flags().BoolVar(&doSearch, "search", false, "run the threshold search (aftershock search) on the leaky shop instead")
	cmd.Flags().BoolVar(&doExplore, "explore", false, "run the schedule exploration (aftershock explore) on the fanout service instead")
	cmd.Flags().StringVarP(&out, "out", "o", "", "with --search or --explore: the Drill file it writes (default in the temporary directory)")
	return cmd
}

type demoOptions struct {
	settle    time.Duration
	leaks     []string
	grpcLeaks []string
	grpc      bool
	dir       string
}

// demoSide is one of the two sides, leaky or fixed: its shops' switches
// and what its drills found.
type demoSide struct {
	name                 string
	leaks, fixes         []string
	grpcLeaks, grpcFixes []string
	results              []*runner.Result
	err                  error
}

func runDemo(ctx context.Context, g *globalOptions, o demoOptions, stdout, stderr io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return withCode(exitCouldNotRun, fmt.Errorf("find own binary: %w", err))
	}
	sides := []*demoSide{
		{name: "leaky", leaks: o.leaks, grpcLeaks: o.grpcLeaks},
		{name: "fixed", leaks: o.leaks, fixes: []string{shop.All}, grpcLeaks: o.grpcLeaks, grpcFixes: []string{grpcshop.All}},
	}
	var wg sync.WaitGroup
	for _, s := range sides {
		wg.Go(func() { s.results, s.err = s.run(ctx, g, o, self, stderr) })
	}
	wg.Wait()
	for _, s := range sides {
		if s.err != nil {
			if ctx.Err() != nil {
				return withCode(exitInterrupted, s.err)
			}
			if _, ok := experiments.AsProblems(s.err); ok {
				return withCode(exitBadInput, s.err)
			}
			return withCode(exitCouldNotRun, fmt.Errorf("%s shop: %w", s.name, s.err))
		}
	}
	// The demo makes its point when aftershock tells the two shops apart:
	// that is its verdict, and its artifacts follow the drill's rule.
	out := &outcome{stderr: stderr}
	for i, r := range sides[0].results {
		if r.Verdict != runner.Fail || sides[1].results[i].Verdict != runner.Pass {
			out.code = exitFailed
			out.errs = []error{errors.New("the demo did not tell the leaky shop from the fixed one")}
			break
		}
	}
	if g.output == "json" {
		if err := printResults(stdout, "json", append(sides[0].results, sides[1].results...)); err != nil {
			out.artifactFailed(fmt.Errorf("writing the results to stdout: %w", err))
		}
	} else {
		printDemo(stdout, sides[0], sides[1], o.grpc)
	}
	if g.report != "" {
		// One page, both shops: each drill named with its shop.
		var all []*runner.Result
		for _, s := range sides {
			for _, r := range s.results {
				c := *r
				c.Drill += " (" + s.name + " shop)"
				all = append(all, &c)
			}
		}
		if err := writeFile("--report", g.report, all, htmlReport); err != nil {
			out.artifactFailed(err)
		}
	}
	return out.err()
}

// run drills the side's shop, then its gRPC shop.
func (s *demoSide) run(ctx context.Context, g *globalOptions, o demoOptions, self string, stderr io.Writer) ([]*runner.Result, error) {
	progress := &prefixWriter{w: stderr, prefix: "[" + s.name + " shop] "}
	results, err := s.runShop(ctx, g, o, self, progress)
	if err != nil || !o.grpc {
		return results, err
	}
	more, err := s.runGRPCShop(ctx, g, o, self, &prefixWriter{w: stderr, prefix: "[" + s.name + " gRPC shop] "})
	return append(results, more...), err
}

// runShop starts the shop stack, runs every drill against it and stops it.
func (s *demoSide) runShop(ctx context.Context, g *globalOptions, o demoOptions, self string, progress io.Writer) ([]*runner.Result, error) {
	st, err := stack.Start(ctx, stack.Config{
		Shop:   []string{self, "fixture", "shop"},
		Leaks:  s.leaks,
		Fixes:  s.fixes,
		Launch: []launch.Option{launch.WithOutput(io.Discard)},
	})
	if err != nil {
		return nil, err
	}
	defer st.Stop()
	fmt.Fprintf(progress, "shop at %s (leaks: %s; fixes: %s), payments at %s\n",
		st.Shop.URL, strings.Join(s.leaks, ","), cmpOr(strings.Join(s.fixes, ","), "none"), st.Payments.URL())
	var drills []*experiments.Drill
	if o.dir != "" {
		drills, err = experiments.Drills(o.dir, experiments.WithVars(st.Vars()))
	} else {
		drills, err = experiments.DemoDrills(experiments.WithVars(st.Vars()))
	}
	if err != nil {
		return nil, err
	}
	return s.drill(ctx, g, o, drills, progress)
}

// runGRPCShop starts the gRPC shop stack, runs the gRPC drills against it
// and stops it.
func (s *demoSide) runGRPCShop(ctx context.Context, g *globalOptions, o demoOptions, self string, progress io.Writer) ([]*runner.Result, error) {
	st, err := stack.StartGRPC(ctx, stack.Config{
		Shop:   []string{self, "fixture", "grpcshop"},
		Leaks:  s.grpcLeaks,
		Fixes:  s.grpcFixes,
		Launch: []launch.Option{launch.WithOutput(io.Discard)},
	})
	if err != nil {
		return nil, err
	}
	defer st.Stop()
	fmt.Fprintf(progress, "gRPC shop at %s (leaks: %s; fixes: %s), inventory at %s\n",
		st.Shop.URL, strings.Join(s.grpcLeaks, ","), cmpOr(strings.Join(s.grpcFixes, ","), "none"), st.Inventory.Addr())
	drills, err := experiments.GRPCDrills(experiments.WithVars(st.Vars()))
	if err != nil {
		return nil, err
	}
	return s.drill(ctx, g, o, drills, progress)
}

// drill runs drills one after the other.
func (s *demoSide) drill(ctx context.Context, g *globalOptions, o demoOptions, drills []*experiments.Drill, progress io.Writer) ([]*runner.Result, error) {
	var results []*runner.Result
	for _, d := range drills {
		opts := []runner.Option{runner.WithProgress(progress), runner.WithSettle(o.settle)}
		if g.artifacts != "" {
			opts = append(opts, runner.WithArtifacts(filepath.Join(g.artifacts, s.name, d.Metadata.Name)), report.Charts())
		}
		res, err := runner.Run(ctx, d, opts...)
		if err != nil {
			return results, err
		}
		results = append(results, res)
	}
	return results, nil
}

func printDemo(w io.Writer, leaky, fixed *demoSide, grpc bool) {
	fmt.Fprintf(w, "aftershock demo: the shop with leaks %s, beside the same shop with every fix on\n", strings.Join(leaky.leaks, ","))
	if grpc {
		fmt.Fprintf(w, "                 the gRPC shop with leaks %s, beside the same gRPC shop with every fix on\n", strings.Join(leaky.grpcLeaks, ","))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DRILL\tFAULT\tLEAKY SHOP\tFIXED SHOP")
	for i, lr := range leaky.results {
		fr := fixed.results[i]
		for j, lf := range lr.Faults {
			var ff *runner.FaultResult
			if j < len(fr.Faults) {
				ff = &fr.Faults[j]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", lr.Drill, lf.Name, faultCell(&lf), faultCell(ff))
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "\nWhat aftershock found in the leaky shop:")
	for _, r := range leaky.results {
		for _, f := range r.Faults {
			if len(f.Culprits) == 0 && f.Passed() {
				continue
			}
			fmt.Fprintf(w, "  %s / %s:\n", r.Drill, f.Name)
			for _, c := range f.Culprits {
				fmt.Fprintf(w, "    - %s\n", c)
			}
			for _, c := range f.SLOs {
				if !c.OK {
					fmt.Fprintf(w, "    - slo %s\n", c)
				}
			}
		}
	}
	fmt.Fprintln(w, "\nRun one drill by hand: aftershock drill FILE (see experiments/drills/README.md).")
}

func faultCell(f *runner.FaultResult) string {
	switch {
	case f == nil:
		return "-"
	case f.Passed():
		return fmt.Sprintf("PASS (back in %s)", f.Settle.Round(time.Millisecond))
	case !f.Returned:
		return fmt.Sprintf("FAIL (%d culprits after %s)", len(f.Culprits), f.Settle.Round(time.Second))
	}
	return "FAIL (SLO broken)"
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// prefixWriter prefixes every line, so that the progress of the two shops
// can be told apart on one stderr.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    bytes.Buffer
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Write(b)
	for {
		line, err := p.buf.ReadBytes('\n')
		if err != nil {
			p.buf.Write(line) // incomplete: keep for the next write
			return len(b), nil
		}
		if _, err := io.WriteString(p.w, p.prefix+string(line)); err != nil {
			return len(b), err
		}
	}
}
