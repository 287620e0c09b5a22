package experiments

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/aftershock/aftershock/experiments/load"
	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/injectors/chaosmesh"
	"github.com/aftershock/aftershock/snapshot"
)

// RunOption configures Run.
type RunOption func(*runConfig)

type runConfig struct {
	progress   io.Writer
	artifacts  string
	allowHosts []string
	// recovery is how long the load keeps running after a fault clears
	// when the drill sets no recovery SLO: long enough to see the service
	// serve again in the timeline.
	recovery time.Duration
	// pollEvery is the quiesce's polling interval.
	pollEvery time.Duration
	// lead is how long the load runs before each fault is injected.
	lead time.Duration
	// settle overrides the drill's settle deadline when positive.
	settle time.Duration
	// cluster submits the faults on engine chaos-mesh; nil refuses them.
	cluster *chaosmesh.Cluster
}

// WithCluster gives the runner a cluster for the faults on engine
// chaos-mesh (aftershock drill connects to the kubeconfig's cluster when a
// drill has such faults). Without one those faults are refused before
// anything is injected.
func WithCluster(k *chaosmesh.Cluster) RunOption { return func(c *runConfig) { c.cluster = k } }

// WithSettle overrides the drill's settle deadline (the demo shortens it;
// a pipeline with a slow-idling service may lengthen it).
func WithSettle(d time.Duration) RunOption { return func(c *runConfig) { c.settle = d } }

// WithProgress writes a line per phase, as it happens, to w (the CLI
// passes stderr).
func WithProgress(w io.Writer) RunOption { return func(c *runConfig) { c.progress = w } }

// WithArtifacts keeps the snapshot bundles of every phase (pprof files
// that `go tool pprof` opens), the load timeline and journal.json in dir.
func WithArtifacts(dir string) RunOption { return func(c *runConfig) { c.artifacts = dir } }

// WithAllowHosts lets the drill reach these non-loopback hosts (the
// `--allow-host` flag); see Drill.CheckBlastRadius.
func WithAllowHosts(hosts ...string) RunOption {
	return func(c *runConfig) { c.allowHosts = append(c.allowHosts, hosts...) }
}

// Run executes a drill: preflight → warmup → quiesce → baseline, then for
// every fault lead (load, no fault) → inject → hold under load → clear →
// recovery → settle, and the verdict.
//
// Every fault is cleared and every proxy closed before Run returns,
// whatever happens: an error, a panic, or ctx being cancelled (which is how
// SIGINT, SIGTERM and Ginkgo interrupts arrive). Each local fault also
// carries a lease, so it clears itself if this process dies.
//
// Run returns a Result whenever the drill ran to its verdict (err nil,
// even when the verdict is Fail). Otherwise err is Problems (bad input),
// wraps ErrCouldNotRun (preflight) or ErrInterrupted, and the Result holds
// what was done so far.
func Run(ctx context.Context, d *Drill, opts ...RunOption) (res *Result, err error) {
	cfg := runConfig{progress: io.Discard, recovery: time.Second, pollEvery: 250 * time.Millisecond, lead: time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	r := &run{d: d, cfg: cfg, res: &Result{Drill: d.Metadata.Name, File: d.File, Start: time.Now(), Verdict: Fail}}
	if cfg.artifacts != "" {
		r.res.Artifacts = cfg.artifacts
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in drill %s: %v\n%s", d.Metadata.Name, p, debug.Stack())
		}
		// Cleanup gets a context of its own: the run's may be cancelled
		// already, and clearing must still happen.
		cctx := context.WithoutCancel(ctx)
		if cerr := r.cleanup(cctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
		}
		if err != nil && ctx.Err() != nil && !errors.Is(err, ErrInterrupted) {
			err = fmt.Errorf("%w: %w", ErrInterrupted, err)
		}
		r.endPhase()
		res = r.res
		res.Wall = time.Since(res.Start)
		if r.gen != nil {
			rep := r.gen.Report()
			res.Load = &rep
		}
		if err != nil {
			res.Verdict, res.Error = Fail, err.Error()
		}
		if jerr := r.writeJournal(); jerr != nil && err == nil {
			err = jerr
		}
	}()
	return r.res, r.execute(ctx)
}

// run is the state of one drill execution.
type run struct {
	d   *Drill
	cfg runConfig
	res *Result

	client    *snapshot.Client
	gen       *load.Generator
	local     *localEngine
	injectors map[string]injectors.Injector // by fault name, built in the preflight

	mu       sync.Mutex
	cleanups []func(context.Context) error // run in reverse order
	phase    *PhaseTime
}

func (r *run) progressf(format string, args ...any) {
	fmt.Fprintf(r.cfg.progress, "[%s] "+format+"\n", append([]any{r.d.Metadata.Name}, args...)...)
}

// beginPhase ends the current phase and starts the next one.
func (r *run) beginPhase(name, fault string) {
	r.endPhase()
	r.phase = &PhaseTime{Phase: name, Fault: fault, Start: time.Now()}
	if fault != "" {
		r.progressf("%s %s", name, fault)
	} else {
		r.progressf("%s", name)
	}
}

func (r *run) endPhase() {
	if r.phase == nil {
		return
	}
	r.phase.Duration = time.Since(r.phase.Start)
	r.res.Phases = append(r.res.Phases, *r.phase)
	r.phase = nil
}

// onCleanup registers f to run when the drill ends, however it ends.
func (r *run) onCleanup(f func(context.Context) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// cleanup runs the cleanups, last registered first, each with a timeout
// of its own: one that hangs must not leave the others no time to clear
// their faults.
func (r *run) cleanup(ctx context.Context) error {
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
func (r *run) clearTimeout() time.Duration {
	if r.cfg.cluster != nil {
		return 2 * time.Minute
	}
	return 15 * time.Second
}

func (r *run) execute(ctx context.Context) error {
	r.beginPhase("preflight", "")
	if err := r.preflight(ctx); err != nil {
		return err
	}
	spec := &r.d.Spec
	if r.gen != nil && spec.Warmup.Duration > 0 {
		r.beginPhase("warmup", "")
		r.gen.Start("warmup")
		if err := sleep(ctx, spec.Warmup.Duration); err != nil {
			return err
		}
	}
	r.beginPhase("quiesce", "")
	if err := r.quiesce(ctx); err != nil {
		return err
	}
	r.beginPhase("baseline", "")
	base, err := r.client.Capture(ctx)
	if err != nil {
		return couldNotRun("baseline snapshot of %s: %w", r.client.BaseURL(), err)
	}
	r.save(base, "baseline")
	r.progressf("baseline: %d goroutines, heap %s", base.Summary().Goroutines, bytesString(int64(base.MemStats.HeapAlloc)))

	for i := range spec.Faults {
		f := &spec.Faults[i]
		fr, now, err := r.drillFault(ctx, f, base)
		if fr != nil {
			r.res.Faults = append(r.res.Faults, *fr)
		}
		if err != nil {
			return err
		}
		if !fr.Returned && now != nil {
			// Judge the next fault on its own: its baseline is where this
			// one left the service.
			base = now
		}
	}
	r.endPhase()
	r.res.Verdict = Pass
	for i := range r.res.Faults {
		if !r.res.Faults[i].Passed() {
			r.res.Verdict = Fail
		}
	}
	r.progressf("verdict: %s", r.res.Verdict)
	return nil
}

// drillFault injects one fault under load, clears it, and settles.
func (r *run) drillFault(ctx context.Context, f *Fault, base *snapshot.Snapshot) (*FaultResult, *snapshot.Snapshot, error) {
	inj := r.injectors[f.Name]
	fr := &FaultResult{Name: f.Name, Injected: inj.String()}
	// The lease outlives the planned hold a little, so that only a runner
	// that is gone lets it run out.
	lease := f.Duration.Duration + 10*time.Second
	// Clear is idempotent: the cleanup at exit clears again, which also
	// retries a clear that failed in the clear phase.
	clear := inj.Clear
	r.onCleanup(clear)

	if r.gen != nil {
		// The fault lands on a service under steady load, with its
		// connections open, as in production: not on one that has just
		// been quiet for its baseline.
		r.beginPhase("lead", f.Name)
		r.gen.Start("lead:" + f.Name)
		if err := sleep(ctx, r.cfg.lead); err != nil {
			return fr, nil, err
		}
	}
	r.beginPhase("inject", f.Name)
	if r.gen != nil {
		r.gen.Mark("fault:" + f.Name)
	}
	if err := inj.Inject(ctx, lease); err != nil {
		if ctx.Err() != nil {
			return fr, nil, fmt.Errorf("inject %s: %w", f.Name, errors.Join(ctx.Err(), err))
		}
		return fr, nil, couldNotRun("inject %s: %w", f.Name, err)
	}
	r.beginPhase("hold", f.Name)
	if err := sleep(ctx, f.Duration.Duration); err != nil {
		return fr, nil, err
	}
	r.beginPhase("clear", f.Name)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.clearTimeout())
	err := clear(cctx)
	cancel()
	if err != nil {
		return fr, nil, fmt.Errorf("clear %s: %w", f.Name, err)
	}
	cleared := time.Now()

	if r.gen != nil {
		r.beginPhase("recovery", f.Name)
		r.gen.Mark("recovery:" + f.Name)
		window := r.cfg.recovery
		if slo := r.d.Spec.Verify.SLO; slo != nil && slo.Recovery != nil {
			window = max(window, slo.Recovery.Within.Duration+time.Second)
		}
		if err := sleep(ctx, window); err != nil {
			return fr, nil, err
		}
		// Snapshots are compared on a quiet service: stop the load and
		// close its connections, or they would count as extra server
		// connections.
		r.gen.Pause()
		r.sloChecks(fr, f, cleared, time.Now())
	}

	r.beginPhase("settle", f.Name)
	now, err := r.settle(ctx, base, fr)
	if err != nil {
		return fr, now, err
	}
	if now != nil {
		r.save(now, "after-"+f.Name)
	}
	if fr.Returned {
		r.progressf("%s: back to baseline after %s", f.Name, fr.Settle.Round(time.Millisecond))
	} else {
		r.progressf("%s: did NOT return to baseline within %s", f.Name, fr.Settle.Round(time.Millisecond))
	}
	return fr, now, nil
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

// reachable checks that something answers HTTP at url.
func reachable(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.Body.Close()
}

func bytesString(n int64) string {
	abs := n
	if abs < 0 {
		abs = -abs
	}
	switch {
	case abs >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case abs >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case abs >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
