package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/report"
	"github.com/aftershock/aftershock/injectors/chaosmesh"
)

func init() { commands = append(commands, newDrillCommand) }

func newDrillCommand(g *globalOptions) *cobra.Command {
	var allowHosts []string
	var settle time.Duration
	cmd := &cobra.Command{
		Use:   "drill FILE...",
		Short: "Run drills; exit 0 pass, 1 verdict failed, 2 bad input, 3 could not run, 130 interrupted",
		Long: `Run each Drill file in turn: preflight, warmup, quiesce, baseline, then for
every fault inject, hold under load, clear, recover and settle, and the
verdict. Progress goes to stderr, the verdict and each culprit to stdout.

Every fault is cleared on every exit path (error, SIGINT, SIGTERM), and each
carries a lease so that it clears itself if this process dies.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			// All files are loaded (and every problem reported) before
			// anything runs.
			drills, err := experiments.LoadAll(files...)
			if err != nil {
				return withCode(exitBadInput, err)
			}
			ctx, stop := signalContext(cmd.Context(), cmd.ErrOrStderr())
			defer stop()
			return runDrills(ctx, g, drills, runFlags{allowHosts: allowHosts, settle: settle}, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringSliceVar(&allowHosts, "allow-host", nil, "let drills reach this non-loopback host (repeatable)")
	cmd.Flags().DurationVar(&settle, "settle", 0, "override every drill's settle deadline")
	return cmd
}

// signalContext is cancelled by the first SIGINT or SIGTERM, which makes
// the runner clear every fault and return; a second signal exits at once.
func signalContext(parent context.Context, stderr io.Writer) (context.Context, func()) {
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			fmt.Fprintf(stderr, "aftershock: %v: clearing faults (again to quit at once)\n", s)
			cancel()
		case <-done:
			return
		}
		select {
		case <-ch:
			os.Exit(exitInterrupted)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}

// runDrills runs the drills in order and maps the outcome to an exit code:
// the worst of all drills wins (interrupted, could not run, failed).
// runFlags are the drill command's flags that shape every run.
type runFlags struct {
	allowHosts []string
	settle     time.Duration
}

func runDrills(ctx context.Context, g *globalOptions, drills []*experiments.Drill, f runFlags, stdout, stderr io.Writer) error {
	var results []*experiments.Result
	var errs []error
	code := exitPass
	var cluster *chaosmesh.Cluster
	var clusterErr error
	for _, d := range drills {
		opts := []experiments.RunOption{experiments.WithProgress(stderr), experiments.WithAllowHosts(f.allowHosts...), experiments.WithSettle(f.settle)}
		if d.NeedsCluster() {
			// Connect once, and only for a drill with faults on engine
			// chaos-mesh: the others run without a kubeconfig.
			if cluster == nil && clusterErr == nil {
				cluster, clusterErr = chaosmesh.FromKubeconfig()
			}
			if clusterErr != nil {
				err := fmt.Errorf("drill %s: faults on engine chaos-mesh: %w", d.Metadata.Name, clusterErr)
				results = append(results, &experiments.Result{Drill: d.Metadata.Name, File: d.File, Verdict: experiments.Fail, Start: time.Now(), Error: err.Error()})
				errs = append(errs, err)
				code = worse(code, exitCouldNotRun)
				continue
			}
			opts = append(opts, experiments.WithCluster(cluster))
		}
		if g.artifacts != "" {
			dir := g.artifacts
			if len(drills) > 1 {
				dir = filepath.Join(dir, d.Metadata.Name)
			}
			opts = append(opts, experiments.WithArtifacts(dir))
		}
		res, err := experiments.Run(ctx, d, opts...)
		results = append(results, res)
		c := exitPass
		switch {
		case err == nil && res.Verdict == experiments.Pass:
		case err == nil:
			c = exitFailed
		case errors.Is(err, experiments.ErrInterrupted):
			c = exitInterrupted
		case isProblems(err):
			c = exitBadInput
		case errors.Is(err, experiments.ErrCouldNotRun):
			c = exitCouldNotRun
		default:
			c = exitCouldNotRun
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("drill %s: %w", d.Metadata.Name, err))
		}
		code = worse(code, c)
		if c == exitInterrupted {
			break
		}
	}
	if err := printResults(stdout, g.output, results); err != nil {
		return err
	}
	if g.report != "" {
		if err := writeReport(g.report, results); err != nil {
			errs = append(errs, err)
			code = worse(code, exitCouldNotRun)
		}
	}
	if code == exitPass {
		return nil
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("verdict: fail"))
	}
	return withCode(code, errors.Join(errs...))
}

func isProblems(err error) bool {
	_, ok := experiments.AsProblems(err)
	return ok
}

// worse orders exit codes by how bad they are.
func worse(a, b int) int {
	rank := map[int]int{exitPass: 0, exitFailed: 1, exitCouldNotRun: 2, exitBadInput: 3, exitInterrupted: 4}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func printResults(w io.Writer, format string, results []*experiments.Result) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	for _, r := range results {
		printResult(w, r)
	}
	return nil
}

// printResult writes the verdict, each fault's outcome with its culprits,
// and the wall time per phase.
func printResult(w io.Writer, r *experiments.Result) {
	fmt.Fprintf(w, "drill %s: %s (%s)\n", r.Drill, strings.ToUpper(string(r.Verdict)), r.Wall.Round(10*time.Millisecond))
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", indent(r.Error, "    "))
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
	for _, f := range r.Faults {
		status := "PASS"
		if !f.Passed() {
			status = "FAIL"
		}
		fmt.Fprintf(w, "  fault %s [%s]: %s\n", f.Name, f.Injected, status)
		if f.Returned {
			fmt.Fprintf(w, "    back to baseline after %s\n", f.Settle.Round(time.Millisecond))
		} else {
			fmt.Fprintf(w, "    did not return to baseline within %s; culprits:\n", f.Settle.Round(time.Millisecond))
			for _, c := range f.Culprits {
				fmt.Fprintf(w, "      - %s\n", c)
			}
			fmt.Fprintf(w, "    details:\n      %s\n", indent(strings.TrimSpace(f.Leak), "      "))
		}
		if s := f.DuringFault; s != nil {
			fmt.Fprintf(w, "    load during fault: %d requests, %.1f%% ok, p50 %s, p99 %s\n", s.Requests, 100*s.SuccessRate, s.P50.Round(time.Millisecond), s.P99.Round(time.Millisecond))
		}
		for _, c := range f.SLOs {
			mark := "ok"
			if !c.OK {
				mark = "BROKEN"
			}
			fmt.Fprintf(w, "    slo %s: want %s, got %s: %s\n", c.Name, c.Want, c.Got, mark)
		}
	}
	var phases []string
	for _, p := range r.Phases {
		name := p.Phase
		if p.Fault != "" {
			name += " " + p.Fault
		}
		phases = append(phases, fmt.Sprintf("%s %s", name, p.Duration.Round(time.Millisecond)))
	}
	if len(phases) > 0 {
		fmt.Fprintf(w, "  phases: %s\n", strings.Join(phases, ", "))
	}
	if r.Artifacts != "" {
		fmt.Fprintf(w, "  artifacts: %s\n", r.Artifacts)
	}
}

func indent(s, prefix string) string {
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// writeReport writes the HTML report of results to file.
func writeReport(file string, results []*experiments.Result) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	if err := report.Write(f, results, time.Now()); err != nil {
		f.Close()
		return fmt.Errorf("--report %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--report %s: %w", file, err)
	}
	return nil
}
