// Command aftershock runs chaos drills against Go services and verifies,
// through the services' own pprof endpoints, that goroutines, connections
// and heap return to their baseline once a fault clears.
//
// Exit codes: 0 pass, 1 verdict failed, 2 bad input or usage, 3 could not
// run (target unreachable, pprof missing, port busy), 130 interrupted.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes, as documented in the README and in `aftershock --help`.
const (
	exitPass        = 0
	exitFailed      = 1
	exitBadInput    = 2
	exitCouldNotRun = 3
	exitInterrupted = 130
)

// exitError carries the exit code a failure maps to.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// globalOptions are the flags every command shares, and the few that the
// commands running drills (drill, demo) set for themselves.
type globalOptions struct {
	output string // text | json: every command honours it
	// artifacts and report are flags of drill and demo only
	// (addDrillOutputFlags): a command that would ignore them has none.
	artifacts string
	report    string // HTML file, "" for none
}

// addDrillOutputFlags gives a command that runs drills its --artifacts and
// --report flags.
func addDrillOutputFlags(cmd *cobra.Command, g *globalOptions) {
	cmd.Flags().StringVar(&g.artifacts, "artifacts", "", "directory for snapshot bundles, the load timeline, the journal and the charts")
	cmd.Flags().StringVar(&g.report, "report", "", "write an HTML report of the drills (verdicts, culprits, load and resource charts) to this file")
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	opts := &globalOptions{}
	root := &cobra.Command{
		Use:   "aftershock",
		Short: "Chaos drills that prove a Go service returns to baseline after a fault",
		Long: `aftershock takes a baseline of a running Go service through its pprof
endpoints, injects a fault (slow upstream, partition, HTTP errors, stalled
clients) under steady load, clears it, and verifies that goroutines,
connections and heap return to the baseline. When they do not, it names the
culprit.

Exit codes: 0 pass, 1 verdict failed, 2 bad input or usage,
3 could not run, 130 interrupted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if opts.output != "text" && opts.output != "json" {
				return withCode(exitBadInput, fmt.Errorf("--output must be text or json, got %q", opts.output))
			}
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return withCode(exitBadInput, fmt.Errorf("%w\nsee '%s --help'", err, cmd.CommandPath()))
	})
	root.PersistentFlags().StringVar(&opts.output, "output", "text", "what goes to stdout: text, or json for machines")
	for _, add := range commands {
		root.AddCommand(add(opts))
	}
	return root
}

// commands registers the subcommands; each lives in a file of its own and
// appends its constructor in an init function.
var commands []func(*globalOptions) *cobra.Command

func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitPass
	}
	fmt.Fprintln(stderr, "aftershock:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// cobra's own errors (unknown command, wrong number of arguments) are
	// usage errors.
	return exitBadInput
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
