package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/experiments/search"
)

// printResult prints a search's result as --output asks: JSON, or the
// text that write gives.
func printResult(w io.Writer, g *globalOptions, v any, write func(io.Writer)) error {
	if g.output != "json" {
		write(w)
		return nil
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// trialsEnded says how a search of trials (aftershock search, explore)
// ended, as an exit code: 1 when it found what it looked for (also when
// its budget ran out after that), 130 interrupted, 2 for bad input, 3
// when it could not run or its budget ran out before it found anything,
// nil (0) when it found nothing. found says what was found.
func trialsEnded(ctx context.Context, err error, found bool, what string) error {
	switch {
	case found && errors.Is(err, search.ErrBudget):
		return withCode(exitFailed, errors.New(what+", not narrowed further: "+err.Error()))
	case errors.Is(err, runner.ErrInterrupted) || ctx.Err() != nil:
		return withCode(exitInterrupted, err)
	case err != nil:
		var p experiments.Problems
		if errors.As(err, &p) {
			return withCode(exitBadInput, err)
		}
		return withCode(exitCouldNotRun, err)
	case found:
		return withCode(exitFailed, errors.New(what))
	}
	return nil
}
