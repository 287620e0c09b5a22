package experiments

import (
	"errors"
	"fmt"
	"time"

	"github.com/aftershock/aftershock/experiments/load"
	"github.com/aftershock/aftershock/snapshot"
)

// Verdict is the outcome of a drill that ran to the end.
type Verdict string

// Verdicts.
const (
	// Pass: every fault cleared, the service returned to its baseline and
	// every SLO held.
	Pass Verdict = "pass"
	// Fail: a leak stayed past the settle deadline or an SLO broke.
	Fail Verdict = "fail"
)

// Result is everything a drill found. It is also the body of journal.json
// and of `--output json`.
type Result struct {
	Drill   string  `json:"drill"`
	File    string  `json:"file,omitempty"`
	Verdict Verdict `json:"verdict"`
	// Error is set when the drill could not run to the end; Verdict is
	// then Fail.
	Error  string        `json:"error,omitempty"`
	Start  time.Time     `json:"start"`
	Wall   time.Duration `json:"wall"`
	Phases []PhaseTime   `json:"phases"`
	Faults []FaultResult `json:"faults"`
	// Load is what the steady load saw, per phase and as a timeline (nil
	// when the drill has no load).
	Load *load.Report `json:"load,omitempty"`
	// Artifacts is the directory of the snapshot bundles, if kept.
	Artifacts string `json:"artifacts,omitempty"`
	// Warnings are things that did not stop the drill but weaken what it
	// says: a baseline taken while the service was still winding down, a
	// bundle that could not be saved.
	Warnings []string `json:"warnings,omitempty"`
}

// PhaseTime is one phase of the run and its wall time.
type PhaseTime struct {
	Phase    string        `json:"phase"`
	Fault    string        `json:"fault,omitempty"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"`
}

// FaultResult is the outcome of one fault.
type FaultResult struct {
	Name string `json:"name"`
	// Injected describes the fault as the injector applied it.
	Injected string `json:"injected"`
	// Returned tells whether the service returned to the baseline before
	// the settle deadline, and Settle how long that took (or the deadline).
	Returned bool          `json:"returned"`
	Settle   time.Duration `json:"settle"`
	// Leak is the matcher's failure message when the service did not
	// return: what grew, by how much, where it was created and parked.
	Leak string `json:"leak,omitempty"`
	// Culprits is one line per finding over tolerance (see
	// Verify.Culprits); empty when the service returned.
	Culprits []string `json:"culprits,omitempty"`
	// Diff is the growth against the baseline at the verdict.
	Diff *snapshot.Diff `json:"diff,omitempty"`
	// SLOs are the circuit-breaker and timeout checks of this fault.
	SLOs []SLOCheck `json:"slos,omitempty"`
	// DuringFault and Recovery are the load's statistics in those phases.
	DuringFault *load.PhaseStats `json:"duringFault,omitempty"`
	Recovery    *load.PhaseStats `json:"recovery,omitempty"`
}

// Passed tells whether the fault left no leak and broke no SLO.
func (f *FaultResult) Passed() bool {
	if !f.Returned {
		return false
	}
	for _, s := range f.SLOs {
		if !s.OK {
			return false
		}
	}
	return true
}

// SLOCheck is one SLO assertion and what was measured.
type SLOCheck struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	OK   bool   `json:"ok"`
}

// Errors a run returns besides Problems (bad input): the command maps them
// to exit codes.
var (
	// ErrCouldNotRun wraps failures of the preflight: target or pprof
	// unreachable, profiles missing, a listen port busy.
	ErrCouldNotRun = errors.New("could not run")
	// ErrInterrupted is returned when the run's context was cancelled
	// (SIGINT, SIGTERM, a Ginkgo interrupt); every fault was cleared.
	ErrInterrupted = errors.New("interrupted")
)

func couldNotRun(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCouldNotRun}, args...)...)
}
