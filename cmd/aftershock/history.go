package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/aftershock/aftershock/experiments/report"
	"github.com/aftershock/aftershock/experiments/runner"
)

func init() { commands = append(commands, newReportCommand) }

func newReportCommand(g *globalOptions) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "report -o PAGE.html DIR...",
		Short: "Merge the journals of many drill runs into one page of trends",
		Long: `Find every journal.json under each DIR (as --artifacts writes them, at any
depth: one directory per scheduled run is the usual layout) and write one
self-contained HTML page: per drill, the verdict of each run over time, each
fault's time back to baseline and its load's p99 during the fault as
trends, and, listed first, the drills whose verdict flips between pass and
fail. Runs are grouped by drill name: give each drill (and each service it
runs against) a name of its own.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, dirs []string) error {
			if out == "" {
				return withCode(exitBadInput, errors.New("-o PAGE.html is required"))
			}
			results, err := report.ReadJournals(dirs...)
			if err != nil {
				return withCode(exitBadInput, err)
			}
			if len(results) == 0 {
				return withCode(exitBadInput, fmt.Errorf("no journal.json under %q: run drills with --artifacts DIR", dirs))
			}
			if err := writeFile("-o", out, results, func(w io.Writer, rs []*runner.Result) error {
				return report.WriteHistory(w, rs, time.Now())
			}); err != nil {
				return withCode(exitCouldNotRun, err)
			}
			if g.output == "json" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(struct {
					Runs int    `json:"runs"`
					File string `json:"file"`
				}{len(results), out})
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d run(s) of drills written to %s\n", len(results), out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "the HTML page to write")
	return cmd
}
