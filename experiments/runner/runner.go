// Package runner runs drills: the one phase machine of aftershock.
//
//	preflight → warmup → quiesce → baseline → for each fault:
//	    lead → inject → hold → clear → recovery → settle
//	→ verdict
//
// `aftershock drill` drives it end to end (Run); a Ginkgo suite drives it
// step by step from an Ordered container (New, Prepare, Fault, Close), so
// that each resource and each declared SLO is a spec of its own that
// fails with its own findings while the others still report:
//
//	var fault *runner.FaultResult
//	BeforeAll(func(ctx SpecContext) {
//		r := runner.New(drill, runner.WithProgress(GinkgoWriter))
//		DeferCleanup(r.Close)
//		Expect(r.Prepare(ctx)).To(Succeed())
//		var err error
//		fault, err = r.Fault(ctx, "slow-payments")
//		Expect(err).NotTo(HaveOccurred())
//	})
//	It("returns its goroutines", func() {
//		Expect(fault.Findings).To(matchers.HaveReturned(matchers.Goroutines))
//	})
//
// Either way the same code polls, paces, injects, clears and judges, so a
// Drill file gives the same verdict and culprits through both.
//
// The target is measured without being burdened: polls read the
// goroutine profile and force no GC; two GCs are forced for the baseline
// (the second drains the pools: see cycles.go) and one for each fault's
// heap verdict, and one more when that verdict is above the heap's noise
// floor and the fault did not fail on its goroutines or connections (a
// failed fault's reading is drained only before a fault that follows it,
// with the goroutineleak read where there is one); the debug=2 dump is
// taken only when a
// cheap poll says the service may be back (or, rarely, to check one that
// says it is not); every poll is paced by its own cost (snapshot.Pace).
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/load"
	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/injectors/chaosmesh"
	"github.com/aftershock/aftershock/snapshot"
)

// Option configures a Runner.
type Option func(*config)

type config struct {
	progress   io.Writer
	artifacts  string
	allowHosts []string
	// recovery is how long the load keeps running after a fault clears
	// when the drill sets no recovery SLO: long enough to see the service
	// serve again in the timeline.
	recovery time.Duration
	// lead is how long the load runs before each fault is injected.
	lead time.Duration
	// settle overrides the drill's settle deadline when positive.
	settle time.Duration
	// pollFloor is the shortest time between two polls of the target.
	pollFloor time.Duration
	// budget is the share of a core polls may cost the target.
	budget float64
	// cluster submits the faults on engine chaos-mesh; nil refuses them.
	cluster *chaosmesh.Cluster
	// status receives the drill's status (WithStatus).
	status func(Status)
	// artifactHooks write more artifacts beside the journal.
	artifactHooks []func(dir string, res *Result) error
	// cycles overrides verify.cycles when positive.
	cycles int
	// replicas finds the target's replicas at the preflight
	// (WithReplicas); nil: the drill's.
	replicas func(ctx context.Context, d *experiments.Drill) ([]Replica, error)
}

// WithArtifactHook has f write more files into the artifacts directory
// when the journal is written (report.Charts writes the charts as SVG):
// the runner cannot render its own charts without importing the report,
// which renders its results.
func WithArtifactHook(f func(dir string, res *Result) error) Option {
	return func(c *config) { c.artifactHooks = append(c.artifactHooks, f) }
}

// WithCluster gives the runner a cluster for the faults on engine
// chaos-mesh (aftershock drill connects to the kubeconfig's cluster when a
// drill has such faults). Without one those faults are refused before
// anything is injected.
func WithCluster(k *chaosmesh.Cluster) Option { return func(c *config) { c.cluster = k } }

// WithSettle overrides the drill's settle deadline when d > 0 (the demo
// shortens it; a pipeline with a slow-idling service may lengthen it).
func WithSettle(d time.Duration) Option { return func(c *config) { c.settle = d } }

// WithLead sets how long the load runs on the healthy service before each
// fault, so that the fault meets it in its steady state (default 1s).
func WithLead(d time.Duration) Option { return func(c *config) { c.lead = d } }

// WithRecovery sets how long the load keeps running after each clear when
// the drill declares no recovery SLO (default 1s; with one, its window
// plus a second).
func WithRecovery(d time.Duration) Option { return func(c *config) { c.recovery = d } }

// WithBudget sets the share of one core that polling may cost the target
// (default snapshot.DefaultBudget, 1 %).
func WithBudget(share float64) Option { return func(c *config) { c.budget = share } }

// WithProgress writes a line per phase, as it happens, to w (the CLI
// passes stderr, the suites GinkgoWriter).
func WithProgress(w io.Writer) Option { return func(c *config) { c.progress = w } }

// WithArtifacts keeps the snapshot bundles of every phase (pprof files
// that `go tool pprof` opens), the load timeline and journal.json in dir.
func WithArtifacts(dir string) Option { return func(c *config) { c.artifacts = dir } }

// WithAllowHosts lets the drill reach these non-loopback hosts (the
// `--allow-host` flag); see experiments.Drill.CheckBlastRadius.
func WithAllowHosts(hosts ...string) Option {
	return func(c *config) { c.allowHosts = append(c.allowHosts, hosts...) }
}

// Runner is one execution of a drill. Its methods are called from one
// goroutine, in order: Prepare, then Fault for each fault to run, then
// Close (always, also after an error).
type Runner struct {
	d   *experiments.Drill
	cfg config
	res *Result

	// reps are the target's replicas, each judged on its own (one for a
	// target of one process); fixed in the preflight.
	reps []*replica
	// pods is the target's pods (spec.target.pods), nil for another target.
	pods      *podTarget
	gen       *load.Generator
	local     *localEngine
	injectors map[string]injectors.Injector // by fault name, built in the preflight
	series    series                        // the resource timeline
	cycleN    int                           // cycles of the current fault run so far

	prepared bool // Prepare succeeded
	tried    bool // Prepare was called
	mu       sync.Mutex
	cleanups []func(context.Context) error // run in reverse order
	phase    *PhaseTime
	phaseLen time.Duration // how long the current phase is planned to last
	closed   bool
}

// New prepares a run of d; it touches nothing until Prepare.
func New(d *experiments.Drill, opts ...Option) *Runner {
	cfg := config{
		progress: io.Discard, recovery: time.Second, lead: time.Second,
		pollFloor: 250 * time.Millisecond, budget: snapshot.DefaultBudget,
	}
	for _, o := range opts {
		o(&cfg)
	}
	r := &Runner{d: d, cfg: cfg, res: &Result{
		Drill: d.Metadata.Name, File: d.File, Start: time.Now(), Verdict: Fail,
		Artifacts: cfg.artifacts, Cost: Cost{Captures: map[string]int{}},
	}}
	return r
}

// Run executes a drill end to end: Prepare, every fault in order (the
// faults that overlap another within its episode), Close.
//
// Every fault is cleared and every proxy closed before Run returns,
// whatever happens: an error, a panic, or ctx being cancelled (which is how
// SIGINT, SIGTERM and Ginkgo interrupts arrive). Each local fault also
// carries a lease, so it clears itself if this process dies.
//
// Run returns a Result whenever the drill ran to its verdict (err nil,
// even when the verdict is Fail). Otherwise err is experiments.Problems
// (bad input), wraps ErrCouldNotRun or ErrInterrupted, and the Result
// holds what was done so far.
func Run(ctx context.Context, d *experiments.Drill, opts ...Option) (res *Result, err error) {
	r := New(d, opts...)
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in drill %s: %v\n%s", d.Metadata.Name, p, debug.Stack())
			r.record(err)
		}
		// Clearing gets a context of its own: the run's may be cancelled
		// already, and clearing must still happen.
		if cerr := r.Close(context.WithoutCancel(ctx)); cerr != nil {
			err = errors.Join(err, cerr)
		}
		if err != nil && ctx.Err() != nil && !errors.Is(err, ErrInterrupted) {
			err = fmt.Errorf("%w: %w", ErrInterrupted, err)
		}
		res = r.Result()
		if err != nil {
			res.Verdict, res.Error = Fail, err.Error()
		}
	}()
	if err := r.Prepare(ctx); err != nil {
		return nil, err
	}
	for _, ep := range d.Episodes() {
		if _, err := r.Fault(ctx, ep.Name()); err != nil {
			return nil, err
		}
	}
	r.progressf("verdict: %s", r.Result().Verdict)
	return nil, nil
}

// Result is what the drill found so far: its verdict is Pass only when it
// was prepared, no step failed and every fault run so far passed. Like the
// Runner's other methods, it is called from the goroutine that drives it.
func (r *Runner) Result() *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := *r.res
	res.Phases = slices.Clone(res.Phases)
	res.Faults = slices.Clone(res.Faults)
	res.Warnings = slices.Clone(res.Warnings)
	if b := res.Baseline; b != nil {
		c := *b
		res.Baseline = &c
	}
	res.Wall = time.Since(res.Start)
	if r.gen != nil {
		rep := r.gen.Report()
		res.Load = &rep
	}
	res.Resources = r.series.snapshot()
	res.Replicas, res.Restarts = nil, nil
	res.Cost = Cost{Captures: map[string]int{}}
	for _, rep := range r.reps {
		if rep.client == nil {
			continue
		}
		t := rep.client.Tally()
		for k, n := range t.Captures {
			res.Cost.Captures[k] += n
		}
		res.Cost.ForcedGCs += t.ForcedGCs
		res.Cost.CaptureTime += t.Time
		res.Restarts = append(res.Restarts, rep.restarts()...)
		if rep.Name != "" {
			info := ReplicaInfo{Name: rep.Name, Pprof: rep.Pprof}
			if rep.first != nil {
				c := *rep.first
				info.Baseline = &c
			}
			res.Replicas = append(res.Replicas, info)
		}
	}
	res.Verdict = Fail
	if r.prepared && res.Error == "" {
		res.Verdict = Pass
		for i := range res.Faults {
			if !res.Faults[i].Passed() {
				res.Verdict = Fail
			}
		}
	}
	return &res
}

// Close clears every fault, closes every proxy and the snapshot client,
// and writes journal.json into the artifacts directory. It is idempotent,
// and safe to call after any error. ctx bounds nothing but each cleanup's
// own timeout; pass a context that is not cancelled.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	err := r.cleanup(ctx)
	if err != nil {
		err = fmt.Errorf("cleanup: %w", err)
		r.record(err)
	}
	r.endPhase()
	if jerr := r.writeJournal(); jerr != nil {
		err = errors.Join(err, jerr)
	}
	return err
}

// record keeps the first error a step returned in the result.
func (r *Runner) record(err error) error {
	if err == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.res.Error == "" {
		r.res.Error = err.Error()
	}
	return err
}

func (r *Runner) progressf(format string, args ...any) {
	fmt.Fprintf(r.cfg.progress, "[%s] "+format+"\n", append([]any{r.d.Metadata.Name}, args...)...)
}

// beginPhase ends the current phase and starts the next one.
func (r *Runner) beginPhase(name, fault string) {
	r.endPhase()
	r.mu.Lock()
	r.phase = &PhaseTime{Phase: name, Fault: fault, Start: time.Now()}
	r.phaseLen = 0
	r.mu.Unlock()
	r.reportStatus()
	if fault != "" {
		r.progressf("%s %s", name, fault)
	} else {
		r.progressf("%s", name)
	}
}

func (r *Runner) endPhase() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.phase == nil {
		return
	}
	r.phase.Duration = time.Since(r.phase.Start)
	r.res.Phases = append(r.res.Phases, *r.phase)
	r.phase = nil
}

// onCleanup registers f to run when the drill ends, however it ends.
func (r *Runner) onCleanup(f func(context.Context) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// cleanup runs the cleanups, last registered first, each with a timeout
// of its own: one that hangs must not leave the others no time to clear
// their faults.
func (r *Runner) cleanup(ctx context.Context) error {
	r.mu.Lock()
	cs := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	var errs []error
	for i := len(cs) - 1; i >= 0; i-- {
		cctx, cancel := context.WithTimeout(ctx, r.clearTimeout())
		errs = append(errs, cs[i](cctx))
		cancel()
	}
	return errors.Join(errs...)
}

// clearTimeout bounds clearing one fault: a local fault clears in
// milliseconds, while Chaos Mesh has to recover every selected pod before
// it lets its object go.
func (r *Runner) clearTimeout() time.Duration {
	if r.cfg.cluster != nil {
		return 2 * time.Minute
	}
	return 15 * time.Second
}

// warnf records a warning in the result and on the progress stream.
func (r *Runner) warnf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.res.Warnings = append(r.res.Warnings, msg)
	r.mu.Unlock()
	r.progressf("warning: %s", msg)
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
