package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/report"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/injectors/chaosmesh"
)

func init() { commands = append(commands, newDrillCommand) }

func newDrillCommand(g *globalOptions) *cobra.Command {
	var allowHosts []string
	var settle time.Duration
	var cycles int
	var kubeContext, junit, terminationLog, metricsPush string
	var perRun bool
	cmd := &cobra.Command{
		Use:   "drill FILE...",
		Short: "Run drills; exit 0 pass, 1 verdict failed, 2 bad input, 3 could not run, 130 interrupted",
		Long: `Run each Drill file in turn: preflight, warmup, quiesce, baseline, then for
every fault inject, hold under load, clear, recover and settle, and the
verdict. Progress goes to stderr, the verdict and each culprit to stdout.

Every fault is cleared on every exit path (error, SIGINT, SIGTERM), and each
carries a lease so that it clears itself if this process dies. A second
signal exits at once (130): local faults end with this process, and each
cluster is asked to delete the Chaos Mesh objects this process still
holds there (not waiting for Chaos Mesh to recover them); stderr says
what was asked, and the aftershock cleanup command that removes the rest.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			// All files are loaded (and every problem reported) before
			// anything runs.
			drills, err := experiments.LoadAll(files...)
			if err != nil {
				return withCode(exitBadInput, err)
			}
			if cycles < 0 || cycles > experiments.MaxCycles {
				return withCode(exitBadInput, fmt.Errorf("--cycles %d: want 1 to %d (how many times each fault is held)", cycles, experiments.MaxCycles))
			}
			ctx, stop := signalContext(cmd.Context(), cmd.ErrOrStderr())
			defer stop()
			return runDrills(ctx, g, drills, runFlags{allowHosts: allowHosts, settle: settle, cycles: cycles, context: kubeContext, junit: junit,
				perRun: perRun, terminationLog: terminationLog, metricsPush: metricsPush}, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addDrillOutputFlags(cmd, g)
	cmd.Flags().StringSliceVar(&allowHosts, "allow-host", nil, "let drills reach this non-loopback host (repeatable)")
	cmd.Flags().DurationVar(&settle, "settle", 0, "override every drill's settle deadline")
	cmd.Flags().IntVar(&cycles, "cycles", 0, "hold each fault this many times, the later ones three times as long, judging the heap's growth in each cycle (overrides verify.cycles; default: once, and confirmed when the heap grew)")
	cmd.Flags().StringVar(&junit, "junit", "", "write the verdicts as JUnit XML to this file: one test case per fault and resource, and per declared SLO")
	cmd.Flags().StringVar(&kubeContext, "context", "", `the kube context of the cluster for faults on engine chaos-mesh ("in-cluster" in a pod); must match the drill's spec.cluster.context if it names one`)
	cmd.Flags().BoolVar(&perRun, "per-run", false, "with --artifacts DIR: write each run to DIR/<drill>/<UTC time>-<run ID>/, never over an earlier run (aftershock report DIR reads them back as history)")
	cmd.Flags().StringVar(&terminationLog, "termination-log", "", "write a short verdict (drill, verdict, first culprits; at most 4 KiB) to this file, e.g. /dev/termination-log in a pod")
	cmd.Flags().StringVar(&metricsPush, "metrics-push", "", "push each drill's results to the Prometheus Pushgateway at this URL (job aftershock, grouped by drill)")
	return cmd
}

// runDrills runs the drills in order and maps the outcome to an exit code:
// the worst of all drills wins (interrupted, bad input, failed, could not run).
// runFlags are the drill command's flags that shape every run.
type runFlags struct {
	allowHosts []string
	settle     time.Duration
	cycles     int
	context    string
	junit      string // JUnit XML file, "" for none
	// perRun gives each run an artifacts directory of its own.
	perRun bool
	// terminationLog is where the short verdict goes, "" for nowhere.
	terminationLog string
	// metricsPush is a Pushgateway URL, "" for none.
	metricsPush string
}

// clusterContext is the kube context a drill's Chaos Mesh faults go to:
// --context, else the drill's spec.cluster.context. A drill that names
// neither, or names another than --context, is bad input: aftershock never
// submits to whatever context happens to be current.
func clusterContext(d *experiments.Drill, flag string) (string, error) {
	var drill string
	if d.Spec.Cluster != nil {
		drill = d.Spec.Cluster.Context
	}
	switch {
	case flag != "" && drill != "" && flag != drill:
		return "", fmt.Errorf("%s: spec.cluster.context: drill %s is for kube context %q, and --context names %q: run it with its own context, or change the drill",
			d.Where("spec.cluster.context"), d.Metadata.Name, drill, flag)
	case flag != "":
		return flag, nil
	case drill != "":
		return drill, nil
	}
	why := "has faults on engine chaos-mesh"
	if d.Spec.Target.Pods != nil {
		why = "has target pods (found through the API server)"
	}
	return "", fmt.Errorf("%s: drill %s %s and names no cluster: set spec.cluster.context (a kubeconfig context, or %q in a pod), or give --context",
		d.Where("spec"), d.Metadata.Name, why, chaosmesh.InCluster)
}

// connect connects to the cluster of context name once, and checks the
// drill's spec.cluster.server against it.
func connect(clusters map[string]*chaosmesh.Cluster, name string, d *experiments.Drill) (*chaosmesh.Cluster, error) {
	k, ok := clusters[name]
	if !ok {
		var err error
		if k, err = chaosmesh.Connect(name); err != nil {
			return nil, err
		}
		clusters[name] = k
		// What a second signal asks to delete before it exits.
		leftovers.add(name, k)
	}
	if c := d.Spec.Cluster; c != nil && c.Server != "" && strings.TrimSuffix(c.Server, "/") != strings.TrimSuffix(k.Server, "/") {
		return nil, withCode(exitBadInput, fmt.Errorf("%s: spec.cluster.server is %s, and kube context %q points at %s", d.Where("spec.cluster.server"), c.Server, name, k.Server))
	}
	return k, nil
}

func runDrills(ctx context.Context, g *globalOptions, drills []*experiments.Drill, f runFlags, stdout, stderr io.Writer) error {
	var results []*runner.Result
	var errs []error
	code := exitPass
	// Which cluster each drill's Chaos Mesh faults go to is explicit, and
	// checked for every drill before any runs.
	contexts := map[*experiments.Drill]string{}
	var bad []error
	for _, d := range drills {
		if d.NeedsCluster() {
			name, err := clusterContext(d, f.context)
			if err != nil {
				bad = append(bad, err)
			}
			contexts[d] = name
		}
	}
	if len(bad) > 0 {
		return withCode(exitBadInput, errors.Join(bad...))
	}
	// On a terminal, one live status line under the progress lines.
	log, live := stderr, []runner.Option(nil)
	sl := newStatusLine(stderr)
	if sl != nil {
		defer sl.Close()
		log, live = sl, []runner.Option{runner.WithStatus(sl.update)}
	}
	clusters := map[string]*chaosmesh.Cluster{}
	for _, d := range drills {
		opts := append([]runner.Option{runner.WithProgress(log), runner.WithAllowHosts(f.allowHosts...), runner.WithSettle(f.settle), runner.WithCycles(f.cycles)}, live...)
		if name, ok := contexts[d]; ok {
			// Connect once per context, and only for drills with faults
			// on engine chaos-mesh: the others run without a kubeconfig.
			cluster, err := connect(clusters, name, d)
			if err != nil {
				err = fmt.Errorf("drill %s: faults on engine chaos-mesh: %w", d.Metadata.Name, err)
				results = append(results, &runner.Result{Drill: d.Metadata.Name, File: d.File, Verdict: runner.Fail, Start: time.Now(), Error: err.Error()})
				errs = append(errs, err)
				c := exitCouldNotRun
				var e *exitError
				if errors.As(err, &e) {
					c = e.code
				}
				code = worse(code, c)
				continue
			}
			progress := fmt.Sprintf("[%s] cluster %s; run %s (aftershock cleanup --context %s --run %s removes its objects should this process die)\n",
				d.Metadata.Name, cluster.Name, cluster.RunID(), contexts[d], cluster.RunID())
			io.WriteString(log, progress)
			opts = append(opts, runner.WithCluster(cluster))
		}
		var cluster *chaosmesh.Cluster
		if name, ok := contexts[d]; ok {
			cluster = clusters[name]
		}
		if g.artifacts != "" {
			dir := g.artifacts
			switch {
			case f.perRun:
				dir = filepath.Join(dir, d.Metadata.Name, runDir(time.Now(), cluster))
			case len(drills) > 1:
				dir = filepath.Join(dir, d.Metadata.Name)
			}
			opts = append(opts, runner.WithArtifacts(dir), report.Charts())
		}
		res, err := runner.Run(ctx, d, opts...)
		results = append(results, res)
		if cluster != nil && res != nil {
			// The verdict where the cluster's own tools look: an Event
			// on the drill's namespace. Not being able to record it
			// changes no verdict: a warning.
			ns := d.Metadata.Namespace
			if ns == "" {
				ns = "default"
			}
			if eerr := cluster.Event(ctx, ns, d.Metadata.Name, err == nil && res.Verdict == runner.Pass,
				report.Short([]*runner.Result{res}, 1024)); eerr != nil {
				fmt.Fprintf(log, "[%s] warning: %v\n", d.Metadata.Name, eerr)
			}
		}
		c := exitPass
		switch {
		case err == nil && res.Verdict == runner.Pass:
		case err == nil:
			c = exitFailed
		case errors.Is(err, runner.ErrInterrupted):
			c = exitInterrupted
		case isProblems(err):
			c = exitBadInput
		case errors.Is(err, runner.ErrCouldNotRun):
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
	if sl != nil {
		sl.Close() // before the verdicts reach the same screen
	}
	out := &outcome{code: code, errs: errs, stderr: stderr}
	if err := printResults(stdout, g.output, results); err != nil {
		out.artifactFailed(fmt.Errorf("writing the results to stdout: %w", err))
	}
	if f.terminationLog != "" {
		if err := os.WriteFile(f.terminationLog, []byte(report.Short(results, report.TerminationLimit)), 0o644); err != nil {
			out.artifactFailed(fmt.Errorf("--termination-log: %w", err))
		}
	}
	if f.metricsPush != "" && len(results) > 0 {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := report.Push(pctx, f.metricsPush, results)
		cancel()
		if err != nil {
			out.artifactFailed(fmt.Errorf("--metrics-push: %w", err))
		}
	}
	for _, a := range []struct {
		flag, file string
		write      func(io.Writer, []*runner.Result) error
	}{
		{"--report", g.report, htmlReport},
		{"--junit", f.junit, report.WriteJUnit},
	} {
		if a.file == "" {
			continue
		}
		if err := writeFile(a.flag, a.file, results, a.write); err != nil {
			out.artifactFailed(err)
		}
	}
	return out.err()
}

// outcome is a command's exit code and its errors while its artifacts are
// written. Artifacts follow one rule, the verdict wins: a failed verdict
// stays 1 (a pipeline must not retry it as an infrastructure flake); only
// a passed one becomes 3, as nothing else would say the artifact is
// missing. The verdict printed to stdout is one of them: a write that
// fails there is neither bad input nor a reason to skip the others.
type outcome struct {
	code   int
	errs   []error
	stderr io.Writer
}

func (o *outcome) artifactFailed(err error) {
	if o.code == exitPass {
		o.code = exitCouldNotRun
		o.errs = append(o.errs, err)
		return
	}
	fmt.Fprintf(o.stderr, "aftershock: %v (the exit code stays the verdict's)\n", err)
}

func (o *outcome) err() error {
	if o.code == exitPass {
		return nil
	}
	if len(o.errs) == 0 {
		o.errs = append(o.errs, errors.New("verdict: fail"))
	}
	return withCode(o.code, errors.Join(o.errs...))
}

// runDir names one run's artifacts directory: its UTC start time (so that
// a listing sorts by time) and its run ID, the cluster engine's when it
// has one (the ID its Chaos Mesh objects are labelled with), else a fresh
// one.
func runDir(start time.Time, cluster *chaosmesh.Cluster) string {
	id := ""
	if cluster != nil {
		id = cluster.RunID()
	} else {
		var b [4]byte
		rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	return start.UTC().Format("20060102T150405Z") + "-" + id
}

func isProblems(err error) bool {
	_, ok := experiments.AsProblems(err)
	return ok
}

// worse orders exit codes by how bad they are: a failed verdict outranks
// a drill that could not run, which a pipeline may retry as an
// infrastructure flake; the verdict wins.
func worse(a, b int) int {
	rank := map[int]int{exitPass: 0, exitCouldNotRun: 1, exitFailed: 2, exitBadInput: 3, exitInterrupted: 4}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func printResults(w io.Writer, format string, results []*runner.Result) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	for _, r := range results {
		runner.WriteText(w, r)
	}
	return nil
}

// htmlReport renders the HTML report of results, generated now.
func htmlReport(w io.Writer, results []*runner.Result) error {
	return report.Write(w, results, time.Now())
}

// writeFile writes results to file with write (the flag names the file in
// errors).
func writeFile(flag, file string, results []*runner.Result, write func(io.Writer, []*runner.Result) error) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	if err := write(f, results); err != nil {
		f.Close()
		return fmt.Errorf("%s %s: %w", flag, file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s %s: %w", flag, file, err)
	}
	return nil
}
