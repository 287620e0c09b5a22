package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aftershock/aftershock/experiments"
)

func init() { commands = append(commands, newValidateCommand) }

func newValidateCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check Drill files without contacting anything; exit 0 valid, 2 with every problem as file:line:col: field: what is wrong",
		Long: `Load and check every Drill file as 'aftershock drill' would, without
contacting the target, its upstreams or a cluster: the YAML, every field's
type and value, the fault blocks (with Chaos Mesh's own validation), the
tolerances and SLOs. Every problem of every file is listed, one a line, as

  file:line:col: field.path: what is wrong; allowed: …

A ${NAME} that is not set here is no problem: the addresses a drill names
are known where it runs. The fields that name one are listed and checked
when the drill runs.

Exit codes: 0 every file is valid, 2 a problem in any file.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			return runValidate(g, files, cmd.OutOrStdout())
		},
	}
}

// validateOutput is what --output json prints.
type validateOutput struct {
	Valid    bool              `json:"valid"`
	Files    []validatedFile   `json:"files"`
	Problems []validateProblem `json:"problems"`
}

type validatedFile struct {
	File  string `json:"file"`
	Valid bool   `json:"valid"`
	// Drill is the drill's metadata.name when the file is valid.
	Drill string `json:"drill,omitempty"`
	// Unchecked lists the fields whose ${NAME}s are not set here.
	Unchecked []string `json:"unchecked,omitempty"`
}

type validateProblem struct {
	File    string   `json:"file"`
	Line    int      `json:"line,omitempty"`
	Column  int      `json:"column,omitempty"`
	Field   string   `json:"field,omitempty"`
	Message string   `json:"message"`
	Allowed []string `json:"allowed,omitempty"`
}

func runValidate(g *globalOptions, files []string, stdout io.Writer) error {
	out := validateOutput{Valid: true, Files: []validatedFile{}, Problems: []validateProblem{}}
	var errs []error
	for _, file := range files {
		d, err := experiments.Load(file, experiments.ForChecking())
		vf := validatedFile{File: file, Valid: err == nil}
		if err == nil {
			vf.Drill, vf.Unchecked = d.Metadata.Name, d.Placeholders
		} else {
			out.Valid = false
			errs = append(errs, err)
			if ps, ok := experiments.AsProblems(err); ok {
				for _, p := range ps {
					out.Problems = append(out.Problems, validateProblem{
						File: p.File, Line: p.Pos.Line, Column: p.Pos.Column,
						Field: p.Path, Message: p.Detail, Allowed: p.Allowed,
					})
				}
			} else {
				// Not read at all: a missing file, a directory.
				out.Problems = append(out.Problems, validateProblem{File: file, Message: err.Error()})
			}
		}
		out.Files = append(out.Files, vf)
	}
	if g.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return withCode(exitCouldNotRun, err)
		}
		if !out.Valid {
			return withCode(exitBadInput, fmt.Errorf("%d problem(s) in %d file(s)", len(out.Problems), countInvalid(out.Files)))
		}
		return nil
	}
	for _, f := range out.Files {
		if !f.Valid {
			continue
		}
		line := fmt.Sprintf("%s: ok (drill %s)", f.File, f.Drill)
		if len(f.Unchecked) > 0 {
			line += "; not set here, so checked where it runs: " + strings.Join(f.Unchecked, ", ")
		}
		fmt.Fprintln(stdout, line)
	}
	if !out.Valid {
		// The problems are this command's output: one a line on stdout,
		// each starting with file:line:col, for editors and CI annotations.
		for _, err := range errs {
			fmt.Fprintln(stdout, err)
		}
		return withCode(exitBadInput, fmt.Errorf("%d problem(s) in %d file(s)", len(out.Problems), countInvalid(out.Files)))
	}
	return nil
}

func countInvalid(files []validatedFile) int {
	n := 0
	for _, f := range files {
		if !f.Valid {
			n++
		}
	}
	return n
}
