package runner

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aftershock/aftershock/experiments/load"
	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// Verdict is the outcome of a drill.
type Verdict string

// Verdicts.
const (
	// Pass: every fault cleared, the service returned to its baseline and
	// every SLO it declares held.
	Pass Verdict = "pass"
	// Fail: a leak stayed past the settle deadline, a declared SLO broke,
	// or the drill could not run to its end.
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
	// Baseline is what the target held when the baseline was taken, and
	// the idle allowance the verdicts used (of its first replica, for a
	// target of several: Replicas has each one's).
	Baseline *Baseline `json:"baseline,omitempty"`
	// Replicas are the target's replicas and their baselines, for a target
	// of several (spec.target.replicas, or pods).
	Replicas []ReplicaInfo `json:"replicas,omitempty"`
	// Restarts are every restart caught during the drill, in whichever
	// phase: the report marks them on the timeline. One caught after a
	// baseline also fails the fault it came in (its findings say it).
	Restarts []matchers.Restart `json:"restarts,omitempty"`
	// Load is what the steady load saw, per phase and as a timeline (nil
	// when the drill has no load).
	Load *load.Report `json:"load,omitempty"`
	// LeakProfile tells that the target serves the goroutineleak profile,
	// so that leaks the Go runtime can prove were marked proved.
	LeakProfile bool `json:"leakProfile,omitempty"`
	// Resources is the target's resource timeline over the whole drill:
	// every capture the drill took, and light samples between them.
	Resources []Sample `json:"resources,omitempty"`
	// Cost is what the drill asked of the target.
	Cost Cost `json:"cost"`
	// Artifacts is the directory of the snapshot bundles, if kept.
	Artifacts string `json:"artifacts,omitempty"`
	// Warnings are things that did not stop the drill but weaken what it
	// says: a baseline taken while the service was still winding down, a
	// bundle that could not be saved.
	Warnings []string `json:"warnings,omitempty"`
}

// Baseline describes the baseline snapshot.
type Baseline struct {
	Time        time.Time                  `json:"time"`
	Goroutines  int                        `json:"goroutines"`
	Connections map[snapshot.ConnClass]int `json:"connections,omitempty"`
	Heap        uint64                     `json:"heap"`
	// Pooled is the most HTTP/1 client connections the target held under
	// the steady load of the warmup and the leads before the faults (idle
	// and busy), -1 when nothing was measured (no load).
	Pooled int `json:"pooled"`
	// IdleAllowance is the growth allowed in idle pooled HTTP/1 client
	// connections: verify.connections.maxIdleExtra, or what the target
	// pools (Pooled less the baseline's), at least net/http's default.
	IdleAllowance int `json:"idleAllowance"`
}

// ReplicaInfo is a replica of the target and its baseline.
type ReplicaInfo struct {
	Name     string    `json:"name"`
	Pprof    string    `json:"pprof"`
	Baseline *Baseline `json:"baseline,omitempty"`
}

// ReplicaVerdict is the outcome of one fault on one replica of a target
// of several (its findings are in the fault's Findings.Replicas).
type ReplicaVerdict struct {
	Name        string        `json:"name"`
	Returned    bool          `json:"returned"`
	Settle      time.Duration `json:"settle"`
	ProvedAfter time.Duration `json:"provedAfter,omitempty"`
	// Restarted: the replica restarted or stopped answering (the
	// findings' Restart says how).
	Restarted bool   `json:"restarted,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Cost is what a drill asked of its target: how many captures of each
// kind, the GCs they forced, and their wall time (an upper bound of the
// target's time spent on them).
type Cost struct {
	Captures    map[string]int `json:"captures"`
	ForcedGCs   int            `json:"forcedGCs"`
	CaptureTime time.Duration  `json:"captureTime"`
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
	// Upstream is the upstream it acted on ("" for stalled clients).
	Upstream string `json:"upstream,omitempty"`
	// Base is what the fault was judged against when that is not the
	// drill's baseline: where the fault before it, which did not return,
	// left the service.
	Base *Baseline `json:"base,omitempty"`
	// InEffect and Cleared bound the fault's window: from the moment it
	// was in effect (after the wait for a cluster to inject it) to the
	// moment its clear began. SLOs are judged over this window, and the
	// report shades it. For an episode (faults held together, With) the
	// window runs from its first fault in effect to its last one's clear.
	InEffect time.Time `json:"inEffect"`
	Cleared  time.Time `json:"cleared"`
	// With are the faults held together with this one (they overlap it,
	// experiments.Overlap): the verdict is the episode's.
	With []HeldWith `json:"with,omitempty"`
	// windows are the windows of the episode's faults, the first's first;
	// breakerWindow is the window of its first fault (in time) that makes
	// calls fail, over which a declared breaker is judged.
	windows       [][2]time.Time
	breakerWindow [2]time.Time
	// Returned tells whether the service returned to the baseline before
	// the settle deadline, and Settle how long that took (or the deadline).
	Returned bool          `json:"returned"`
	Settle   time.Duration `json:"settle"`
	// ProvedAfter is when, after the settle began, the Go runtime proved
	// goroutines leaked, which ended the settle early (0: it did not).
	ProvedAfter time.Duration `json:"provedAfter,omitempty"`
	// Findings are the verdict on the last snapshot against the baseline:
	// what grew over tolerance, per resource.
	Findings *matchers.Findings `json:"findings,omitempty"`
	// Culprits is one line per finding over tolerance (Findings.Culprits);
	// empty when the service returned.
	Culprits []string `json:"culprits,omitempty"`
	// Effect is what the injection did, from injectors that report it
	// (stalled clients: connections opened, closed by the server,
	// requests abandoned).
	Effect any `json:"effect,omitempty"`
	// Error says why there are no findings: no snapshot could be taken.
	Error string `json:"error,omitempty"`
	// Replicas is the outcome on each replica, for a target of several:
	// the fault returned only when every one did.
	Replicas []ReplicaVerdict `json:"replicas,omitempty"`
	// SLOs are the declared SLOs judged for this fault; NotJudged says, for
	// each kind of SLO that was not, why (not declared, or not one that
	// applies to this fault).
	SLOs      []SLOCheck  `json:"slos,omitempty"`
	NotJudged []NotJudged `json:"notJudged,omitempty"`
	// DuringFault and Recovery are the load's statistics in the fault's
	// window and after its clear.
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

// ReturnedOn tells whether resource r came back within tolerance (false
// when nothing could be judged).
func (f *FaultResult) ReturnedOn(r matchers.Resource) bool {
	return f.Findings != nil && f.Findings.OK(r)
}

// SLO kinds, as SLOCheck.Kind names them and verify.slo declares them.
const (
	SLODuringFault = "duringFault"
	SLOIsolation   = "isolation"
	SLOBreaker     = "breaker"
	SLORecovery    = "recovery"
)

// SLOCheck is one declared SLO judged over its window.
type SLOCheck struct {
	// Kind is the verify.slo block it comes from.
	Kind string `json:"kind"`
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	// Window says which requests were judged: from when to when, and how
	// many.
	Window string `json:"window"`
	OK     bool   `json:"ok"`
}

// String is the check as every summary says it: "p99 during the fault:
// want ≤ 300ms, got 412ms".
func (c SLOCheck) String() string { return fmt.Sprintf("%s: want %s, got %s", c.Name, c.Want, c.Got) }

// NotJudged is a kind of SLO not judged for a fault, and why.
type NotJudged struct {
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

// SLOKinds are the kinds of SLO, in the order results list them.
var SLOKinds = []string{SLODuringFault, SLOIsolation, SLOBreaker, SLORecovery}

// Errors a run returns besides experiments.Problems (bad input): the
// command maps them to exit codes.
var (
	// ErrCouldNotRun wraps failures of the preflight: target or pprof
	// unreachable, profiles missing, a listen port busy, an engine this
	// machine lacks.
	ErrCouldNotRun = errors.New("could not run")
	// ErrInterrupted is returned when the run's context was cancelled
	// (SIGINT, SIGTERM, a Ginkgo interrupt); every fault was cleared.
	ErrInterrupted = errors.New("interrupted")
)

func couldNotRun(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCouldNotRun}, args...)...)
}

// HeldWith is a fault held together with the one that leads its episode:
// what was injected and its own window.
type HeldWith struct {
	Name     string    `json:"name"`
	Injected string    `json:"injected"`
	Upstream string    `json:"upstream,omitempty"`
	InEffect time.Time `json:"inEffect"`
	Cleared  time.Time `json:"cleared"`
	Effect   any       `json:"effect,omitempty"`
}

// HeldWithText says which faults were held together with f and when, as
// the CLI, the suites, the report and the JUnit file say it: "held with b
// [delay 1s] from 1s to 4s after a took effect; the verdict is theirs
// together".
// Empty for a fault held alone.
func (f *FaultResult) HeldWithText() string {
	if len(f.With) == 0 {
		return ""
	}
	parts := make([]string, len(f.With))
	for i, w := range f.With {
		parts[i] = fmt.Sprintf("%s [%s]", w.Name, w.Injected)
		if !w.InEffect.IsZero() {
			end := "the end"
			if !w.Cleared.IsZero() {
				end = offset(w.Cleared, f.InEffect)
			}
			parts[i] += fmt.Sprintf(" from %s to %s", offset(w.InEffect, f.InEffect), end)
		}
	}
	return fmt.Sprintf("held with %s after %s took effect; the verdict is theirs together", strings.Join(parts, ", "), f.Name)
}
