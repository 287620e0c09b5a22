package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/load"
	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// Prepare runs the phases before the first fault: preflight (the blast
// radius, the engines, the target and its pprof endpoints, the proxies'
// ports, every fault's injector), warmup under load, quiesce and the
// baseline. Nothing is injected before it returns nil.
func (r *Runner) Prepare(ctx context.Context) error {
	if r.prepared || r.tried {
		return r.record(errors.New("runner: Prepare is called once per Runner; make a new one to try again"))
	}
	r.tried = true
	r.beginPhase("preflight", "")
	if err := r.preflight(ctx); err != nil {
		return r.record(err)
	}
	spec := &r.d.Spec
	if r.gen != nil && spec.Warmup.Duration > 0 {
		r.beginPhase("warmup", "")
		r.expect(spec.Warmup.Duration)
		r.gen.Start("warmup")
		if err := r.observe(ctx, spec.Warmup.Duration); err != nil {
			return r.record(err)
		}
	}
	r.beginPhase("quiesce", "")
	r.expect(cmp.Or(r.d.Spec.Verify.Quiesce.Duration, experiments.DefaultQuiesce))
	if err := r.quiesce(ctx); err != nil {
		return r.record(err)
	}
	r.beginPhase("baseline", "")
	for _, rep := range r.reps {
		if err := r.baseline(ctx, rep); err != nil {
			return r.record(err)
		}
	}
	r.endPhase()
	r.prepared = true
	return nil
}

// baseline takes rep's baseline: the goroutineleak profile's proof, where
// the target serves it, and a full snapshot. Its heap is read drained,
// after two GCs (see drainBaseline): the goroutineleak profile's GC is
// the first, read as it left the heap, so that the baseline of such a
// target forces two GCs in all, not three.
func (r *Runner) baseline(ctx context.Context, rep *replica) error {
	if n := rep.watch.count(); n > 0 {
		r.warnf("%s: the baseline is of the process that answers now", rep.restarts()[n-1])
	}
	if rep.Identity != nil {
		rec, err := rep.Identity(ctx)
		if err != nil {
			return couldNotRun("the process of replica %s: %w", rep.Name, err)
		}
		rep.record = &rec
	}
	leaked, once, err := r.leakedOnce(ctx, rep)
	switch {
	case err == nil:
		rep.leakBase = leaked
		r.mu.Lock()
		r.res.LeakProfile = true
		r.mu.Unlock()
	case errors.Is(err, snapshot.ErrNoLeakProfile):
		// The usual case today: judged on counts, as always.
	default:
		r.warnf("the goroutineleak profile%s: %v", rep.label(), err)
	}
	base, err := r.capture(ctx, rep, "full")
	if err != nil {
		return couldNotRun("baseline snapshot of %s: %w", rep.client.BaseURL(), err)
	}
	r.drainBaseline(ctx, rep, base, once)
	rep.judged = rep.watch.count()
	rep.base = base
	r.save(base, "baseline"+rep.fileTag())
	sum := base.Summary()
	b := baselineOf(base)
	r.mu.Lock()
	if r.res.Baseline == nil {
		r.res.Baseline = b
	}
	rep.curBase, rep.first = b, b
	r.mu.Unlock()
	r.progressf("baseline%s: %d goroutines, heap %s", rep.label(), sum.Goroutines, matchers.BytesText(int64(sum.HeapAlloc)))
	if rep.leakBase != nil {
		r.progressf("the target%s serves the goroutineleak profile: leaks the Go runtime can prove will be marked proved", rep.label())
	}
	return nil
}

// baselineOf is what a baseline snapshot holds, for results and charts.
func baselineOf(s *snapshot.Snapshot) *Baseline {
	sum := s.Summary()
	b := &Baseline{Time: s.Time, Goroutines: sum.Goroutines, Heap: sum.HeapAlloc, Connections: map[snapshot.ConnClass]int{}, Pooled: -1}
	for class, st := range sum.Connections {
		b.Connections[class] = st.Count
	}
	return b
}

// preflight checks everything a drill needs before anything is injected.
func (r *Runner) preflight(ctx context.Context) error {
	d := r.d
	if err := d.CheckBlastRadius(r.cfg.allowHosts...); err != nil {
		return err
	}
	if err := d.CheckEngines(r.cfg.cluster != nil); err != nil {
		if _, ok := experiments.AsProblems(err); ok {
			return err
		}
		return couldNotRun("%w", err)
	}
	if r.cfg.cluster != nil && d.HasClusterFaults() {
		if err := r.cfg.cluster.Check(ctx, cmp.Or(d.Metadata.Namespace, "default")); err != nil {
			return couldNotRun("%w", err)
		}
	}
	find := r.cfg.replicas
	switch {
	case find != nil:
	case d.Spec.Target.Pods != nil:
		find = r.podReplicas
	default:
		find = drillReplicas
	}
	reps, err := find(ctx, d)
	if err != nil {
		return couldNotRun("the target's replicas: %w", err)
	}
	if len(reps) == 0 {
		return couldNotRun("the target has no replica to judge")
	}
	for _, x := range reps {
		rep := &replica{Replica: x, pooled: -1}
		opts := []snapshot.Option{snapshot.WithHeaders(x.Headers),
			snapshot.WithObserver(func(s *snapshot.Snapshot, kind string) { r.sampled(rep, s, kind) })}
		if x.HTTPClient != nil {
			opts = append(opts, snapshot.WithHTTPClient(x.HTTPClient))
		}
		client, err := snapshot.NewClient(x.Pprof, opts...)
		if err != nil {
			return couldNotRun("pprof%s %s: %w", rep.label(), x.Pprof, err)
		}
		rep.client = client
		r.reps = append(r.reps, rep)
		r.onCleanup(func(context.Context) error { client.Close(); return nil })
	}
	if err := reachable(ctx, d.Spec.Target.URL); err != nil {
		return couldNotRun("target %s does not answer: %w", d.Spec.Target.URL, err)
	}
	// Every profile a drill reads, without forcing a GC: the goroutine
	// profile and MemStats (light), the heap profile.
	for _, rep := range r.reps {
		if _, err := r.capture(ctx, rep, "light"); err != nil {
			return couldNotRun("pprof of the target%s: %w", rep.label(), err)
		}
		if err := rep.client.CheckHeapProfile(ctx); err != nil {
			return couldNotRun("pprof of the target%s: %w", rep.label(), err)
		}
	}
	for _, rep := range r.reps {
		r.startSampler(rep)
	}

	local := newLocalEngine(d)
	r.local = local
	r.onCleanup(local.close)
	if err := local.start(); err != nil {
		return couldNotRun("%w", err)
	}
	// Build every injector now, so that a fault the engine cannot honour
	// fails the drill before anything is injected.
	r.injectors = map[string]injectors.Injector{}
	objects := d.ChaosObjects()
	for i := range d.Spec.Faults {
		f := &d.Spec.Faults[i]
		if f.Engine == experiments.EngineChaosMesh && f.Kind() != experiments.KindStall {
			r.injectors[f.Name] = r.cfg.cluster.Injector(objects[f.Name])
			continue
		}
		inj, err := local.injector(f)
		if err != nil {
			return err
		}
		r.injectors[f.Name] = inj
	}

	if l := d.Spec.Load; l != nil {
		cfg := load.Config{Target: d.Spec.Target.URL, Rate: l.Rate, Timeout: l.Timeout.Duration}
		for _, q := range l.Requests {
			cfg.Requests = append(cfg.Requests, load.Request{Method: q.Method, Path: q.Path, Header: header(q.Headers), Body: []byte(q.Body)})
		}
		for _, g := range l.GRPC {
			cfg.GRPC = append(cfg.GRPC, load.GRPCCall{Method: g.Method, Message: g.Message, DescriptorSet: g.DescriptorSet, Metadata: g.Metadata})
		}
		gen, err := load.New(cfg)
		if err != nil {
			return couldNotRun("%w", err)
		}
		r.gen = gen
		r.onCleanup(func(context.Context) error { gen.Pause(); return nil })
	}
	return nil
}

// quiesce waits until the target's goroutine count holds still for the
// quiesce window, so that a service still winding down from the warmup
// (workers idling out, requests finishing) does not set the baseline.
// It gives up at the settle deadline: the baseline is then taken anyway,
// and the result's warnings record that it was not quiet.
func (r *Runner) quiesce(ctx context.Context) error {
	if r.gen != nil {
		r.gen.Pause()
	}
	window := cmp.Or(r.d.Spec.Verify.Quiesce.Duration, experiments.DefaultQuiesce)
	qctx, cancel := context.WithTimeout(ctx, window+r.settleTime())
	defer cancel()
	// Each replica quiesces on its own, at once: N replicas take as long
	// as the slowest, each polled at its own pace.
	errs := make([]error, len(r.reps))
	var wg sync.WaitGroup
	for i, rep := range r.reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = rep.client.Quiesce(qctx, window, r.cfg.pollFloor)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		rep := r.reps[i]
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, snapshot.ErrNotQuiet):
			r.warnf("baseline%s taken while the service was not quiet: %v", rep.label(), err)
		default:
			return couldNotRun("pprof of the target%s while quiescing: %w", rep.label(), err)
		}
	}
	return nil
}

// settleTime is the settle deadline: the override, or the drill's.
func (r *Runner) settleTime() time.Duration {
	if r.cfg.settle > 0 {
		return r.cfg.settle
	}
	return cmp.Or(r.d.Spec.Verify.Settle.Duration, experiments.DefaultSettle)
}

// observe keeps the load running for d while it samples the target with
// light snapshots, paced by their cost and the last one at the end of d
// (the first after a poll interval: the load needs a moment to open the
// target's connections), to learn how many HTTP/1 client connections the
// target pools under its steady load.
func (r *Runner) observe(ctx context.Context, d time.Duration) error {
	end := time.Now().Add(d)
	wait := r.cfg.pollFloor
	for {
		if err := sleep(ctx, min(wait, time.Until(end))); err != nil {
			return err
		}
		// Every replica, each paced by its own cost: the slowest sets
		// the interval, so none is polled more than its budget allows.
		wait = r.cfg.pollFloor
		for _, rep := range r.reps {
			s, err := r.capture(ctx, rep, "light")
			switch {
			case err == nil:
				rep.pooled = max(rep.pooled, s.Summary().Pooled())
				wait = max(wait, snapshot.Pace(s.Cost, r.cfg.pollFloor, r.cfg.budget))
			case ctx.Err() != nil:
				return ctx.Err()
			}
		}
		if time.Until(end) <= 0 {
			return nil
		}
	}
}

// capture takes a snapshot of the given kind: "full" (debug=2, one
// forced GC), "goroutines" (debug=2, no GC) or "light" (the goroutine
// profile and MemStats, no GC). The client tallies what each cost the
// target.
func (r *Runner) capture(ctx context.Context, rep *replica, kind string) (*snapshot.Snapshot, error) {
	switch kind {
	case "full":
		return rep.client.Capture(ctx)
	case "goroutines":
		return rep.client.CaptureGoroutines(ctx)
	}
	return rep.client.CaptureLight(ctx)
}

// Fault runs one fault of the drill, by name: lead (load, no fault) →
// inject → hold under load → clear → recovery → settle, and judges it.
// A fault that others overlap runs with them, as one episode (see
// experiments.Overlap), judged once; naming a fault that overlaps another
// is an error that names the episode's first fault.
// It returns the fault's result whenever the fault ran to its verdict
// (err nil, even when the verdict is Fail); an error means the fault could
// not run (it is cleared all the same, with every fault of its episode).
func (r *Runner) Fault(ctx context.Context, name string) (*FaultResult, error) {
	if !r.prepared {
		return nil, r.record(errors.New("runner: Fault before a successful Prepare"))
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, errors.New("runner: Fault after Close")
	}
	ep, ok := r.d.Episode(name)
	if !ok {
		return nil, r.record(fmt.Errorf("drill %s has no fault %q", r.d.Metadata.Name, name))
	}
	if ep.Name() != name {
		return nil, r.record(fmt.Errorf("fault %s of drill %s overlaps %s: it runs in the episode %s leads; run Fault(%q)",
			name, r.d.Metadata.Name, ep.Name(), ep.Name(), ep.Name()))
	}
	fr, now, err := r.drillEpisode(ctx, ep)
	r.newPods(ctx, name)
	r.mu.Lock()
	r.res.Faults = append(r.res.Faults, *fr)
	r.mu.Unlock()
	r.endPhase()
	if err != nil {
		return fr, r.record(err)
	}
	for i, rep := range r.reps {
		if i >= len(now) {
			break
		}
		o := now[i]
		switch {
		case o.restarted:
			// The next fault is judged against the process that
			// serves now, if one does.
			if err := r.rebase(ctx, rep); err != nil {
				r.warnf("%v; the faults after %s cannot be judged on it", err, name)
			}
		case !o.returned && o.now != nil:
			// Judge the next fault on its own: its baseline is where this
			// one left the service, its leaked goroutines included (the
			// runtime never frees them).
			rep.base = o.now
			r.mu.Lock()
			rep.curBase = baselineOf(o.now)
			r.mu.Unlock()
			// Drained, and the goroutines it leaked read again, only
			// when another fault follows: see rebaseAfterFailed.
			rep.failed = o.now
		}
	}
	return fr, nil
}

// drillEpisode injects an episode's faults under load, each at its
// offset and for its duration, clears them, and settles once.
func (r *Runner) drillEpisode(ctx context.Context, ep experiments.Episode) (*FaultResult, []settled, error) {
	lead := ep.Faults[0]
	fr := &FaultResult{Name: lead.Name, Injected: r.injectors[lead.Name].String(), Upstream: lead.Upstream, NotJudged: r.notJudged(ep.Faults)}
	r.mu.Lock()
	if rep := r.reps[0]; rep.curBase != rep.first {
		fr.Base = rep.curBase // judged against where the fault before it left the service
	}
	r.mu.Unlock()
	for _, f := range ep.Faults[1:] {
		fr.With = append(fr.With, HeldWith{Name: f.Name, Injected: r.injectors[f.Name].String(), Upstream: f.Upstream})
	}
	// Clear is idempotent: the cleanup at exit clears again, which also
	// retries a clear that failed in the clear phase.
	for _, f := range ep.Faults {
		r.onCleanup(r.injectors[f.Name].Clear)
	}
	for _, rep := range r.reps {
		r.rebaseAfterFailed(ctx, rep, ep.Name())
	}
	rep := r.reps[0]
	base := rep.base
	r.cycleN = 0
	now, err := r.cycle(ctx, ep, fr)
	// The heap's noise floor and confirmation cycles judge a target of
	// one process; replicas are judged by their tolerances alone.
	if err != nil || fr.Findings == nil || len(r.reps) > 1 || now[0].now == nil {
		r.settledText(lead.Name, fr)
		return fr, now, err
	}
	c1, err := r.judgeHeap(ctx, rep, base, now[0].now, fr, r.tolerances(rep), 1)
	if err != nil {
		return fr, now, err
	}
	last, err := r.confirm(ctx, rep, ep, fr, now[0].now, c1)
	if last != nil {
		now = []settled{{now: last, returned: fr.Returned, restarted: len(fr.Findings.Restarts()) > 0}}
	}
	if err != nil {
		return fr, now, err
	}
	r.settledText(lead.Name, fr)
	return fr, now, nil
}

// settledText says how an episode ended, on the progress stream.
func (r *Runner) settledText(lead string, fr *FaultResult) {
	switch {
	case fr.Findings == nil:
	case len(fr.Findings.Restarts()) > 0:
		// One bounded line: beside a restart, the other replicas'
		// culprits may be eighty groups.
		head := fmt.Sprintf("[%s] %s: FAILED: ", r.d.Metadata.Name, lead)
		r.progressf("%s: FAILED: %s", lead, joinShort(fr.Culprits, maxProgress-len([]rune(head))))
	case fr.Returned:
		r.progressf("%s: back to baseline after %s", lead, fr.Settle.Round(time.Millisecond))
	default:
		r.progressf("%s: did NOT return to baseline within %s", lead, fr.Settle.Round(time.Millisecond))
	}
}

// cycle holds the episode's faults once under load: lead, inject, hold,
// clear, recovery, settle. It returns the snapshot its verdict was taken
// on (nil when none could be taken).
func (r *Runner) cycle(ctx context.Context, ep experiments.Episode, fr *FaultResult) ([]settled, error) {
	lead := ep.Faults[0]
	if r.gen != nil {
		// The fault lands on a service under steady load, with its
		// connections open, as in production: not on one that has just
		// been quiet for its baseline.
		r.beginPhase("lead", lead.Name)
		r.expect(r.cfg.lead)
		r.gen.Start("lead:" + lead.Name)
		if err := r.observe(ctx, r.cfg.lead); err != nil {
			return nil, err
		}
	}
	cleared, upstreamCalls, err := r.hold(ctx, ep, fr)
	if err != nil {
		return nil, err
	}
	if rep, ok := r.injectors[lead.Name].(injectors.Reporter); ok {
		fr.Effect = rep.Report()
	}
	for i, f := range ep.Faults[1:] {
		if rep, ok := r.injectors[f.Name].(injectors.Reporter); ok {
			fr.With[i].Effect = rep.Report()
		}
	}

	if r.gen != nil {
		r.beginPhase("recovery", lead.Name)
		r.gen.Mark("recovery:" + lead.Name)
		window := r.cfg.recovery
		if slo := r.d.Spec.Verify.SLO; slo != nil && slo.Recovery != nil {
			window = max(window, slo.Recovery.Within.Duration+time.Second)
		}
		r.expect(window)
		if err := sleep(ctx, window); err != nil {
			return nil, err
		}
		// Snapshots are compared on a quiet service: stop the load and
		// close its connections, or they would count as extra server
		// connections.
		r.gen.Pause()
		r.sloChecks(fr, ep.Faults, cleared, time.Now(), upstreamCalls)
	}

	r.beginPhase("settle", lead.Name)
	r.expect(r.settleTime())
	now, err := r.settleAll(ctx, fr)
	if err != nil {
		return now, err
	}
	r.cycleN++
	for i, o := range now {
		if o.now != nil {
			name := "after-" + lead.Name
			if r.cycleN > 1 {
				name += fmt.Sprintf("-cycle%d", r.cycleN)
			}
			r.save(o.now, name+r.reps[i].fileTag())
		}
	}
	if fr.Findings == nil {
		r.progressf("%s: could not be judged: %s", lead.Name, fr.Error)
	}
	return now, nil
}

// hold injects the episode's faults and clears them: each fault that
// overlaps another is injected its After past the moment that one took
// effect, and each is cleared its own duration past the moment it took
// effect, so that a slow injection (a cluster's) shifts a fault's window
// but never shortens it. It returns when the last clear is done: with its
// time, and the upstream's calls the breaker's window saw (see
// watchCalls). The episode's window runs from its first fault in effect
// to the moment its last clear began. On an error every fault it injected
// and has not cleared is cleared before it returns.
func (r *Runner) hold(ctx context.Context, ep experiments.Episode, fr *FaultResult) (last time.Time, upstreamCalls int64, err error) {
	n := len(ep.Faults)
	index := map[string]int{}
	for i, f := range ep.Faults {
		index[f.Name] = i
	}
	fr.windows = make([][2]time.Time, n)
	upstreamCalls = -1
	defer func() {
		if err == nil {
			return
		}
		// Nothing stays injected after a failed step: clear what is held.
		for i, w := range fr.windows {
			if !w[0].IsZero() && w[1].IsZero() {
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.clearTimeout())
				if cerr := r.injectors[ep.Faults[i].Name].Clear(cctx); cerr != nil {
					err = errors.Join(err, fmt.Errorf("clear %s: %w", ep.Faults[i].Name, cerr))
				}
				cancel()
			}
		}
	}()
	breaker := -1 // the first fault, in time, that makes calls fail, if a breaker is declared
	calls := func() int64 { return -1 }
	// due holds the planned time of each fault's next step: its inject
	// until it is in effect, then its clear; zero while not yet known.
	due := make([]time.Time, n)
	done := make([]bool, n)
	held := 0
	lead := ep.Faults[0]
	for {
		// The next step: the earliest due; a clear before an inject at
		// the same time.
		next := -1
		for i := range n {
			if done[i] || (due[i].IsZero() && i != 0) {
				continue
			}
			if next < 0 || due[i].Before(due[next]) || (due[i].Equal(due[next]) && !fr.windows[i][0].IsZero() && fr.windows[next][0].IsZero()) {
				next = i
			}
		}
		if next < 0 {
			break
		}
		if err := sleep(ctx, time.Until(due[next])); err != nil {
			return last, upstreamCalls, err
		}
		f := ep.Faults[next]
		inj := r.injectors[f.Name]
		if fr.windows[next][0].IsZero() {
			if next == 0 {
				r.beginPhase("inject", f.Name)
			} else {
				r.progressf("inject %s (held with %s, %s after %s took effect)", f.Name, lead.Name, f.Overlap.After, f.Overlap.With)
			}
			// The lease outlives the planned hold a little, so that
			// only a runner that is gone lets it run out.
			if err := inj.Inject(ctx, f.Duration.Duration+10*time.Second); err != nil {
				if ctx.Err() != nil {
					return last, upstreamCalls, fmt.Errorf("inject %s: %w", f.Name, errors.Join(ctx.Err(), err))
				}
				return last, upstreamCalls, couldNotRun("inject %s: %w", f.Name, err)
			}
			// The fault's window starts now that it is in effect, after
			// any wait for a cluster to inject it.
			now := time.Now()
			fr.windows[next][0] = now
			due[next] = now.Add(f.Duration.Duration)
			for j, g := range ep.Faults {
				if g.Overlap != nil && index[g.Overlap.With] == next {
					due[j] = now.Add(g.Overlap.After.Duration)
				}
			}
			held++
			if next == 0 {
				fr.InEffect = now
				r.mark("fault:" + f.Name)
				r.beginPhase("hold", f.Name)
				r.expect(ep.End())
			} else {
				fr.With[next-1].InEffect = now
			}
			if slo := r.d.Spec.Verify.SLO; breaker < 0 && slo != nil && slo.Breaker != nil && slo.Breaker.FailsCalls(f) {
				breaker = next
				calls = r.watchCalls(f, now)
			}
			continue
		}
		held--
		if held == 0 {
			r.beginPhase("clear", lead.Name)
			r.mark("clear:" + lead.Name)
		} else {
			r.progressf("clear %s", f.Name)
		}
		now := time.Now()
		fr.windows[next][1] = now
		if next == 0 {
			fr.Cleared = now
		} else {
			fr.With[next-1].Cleared = now
		}
		if next == breaker {
			upstreamCalls = calls()
		}
		done[next] = true
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.clearTimeout())
		err := inj.Clear(cctx)
		cancel()
		if err != nil {
			return last, upstreamCalls, fmt.Errorf("clear %s: %w", f.Name, err)
		}
		last = time.Now()
	}
	// The episode's window closes when its last clear began.
	for _, w := range fr.windows {
		fr.Cleared = maxTime(fr.Cleared, w[1])
	}
	if breaker >= 0 {
		fr.breakerWindow = fr.windows[breaker]
	}
	// A fault injected late (a slow injection of the one it overlaps)
	// is held as long as planned, but not where planned: say so.
	for i, f := range ep.Faults[1:] {
		planned := fr.InEffect.Add(ep.Offsets[i+1])
		if slip := fr.windows[i+1][0].Sub(planned); slip > slipWarning {
			r.warnf("fault %s took effect %s after its planned %s into the episode (its injection, or the one it overlaps, was slow)",
				f.Name, slip.Round(time.Millisecond), ep.Offsets[i+1])
		}
	}
	return last, upstreamCalls, nil
}

// slipWarning is how late a fault of an episode may take effect before
// the result warns that the schedule slipped.
const slipWarning = 100 * time.Millisecond

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// mark starts a phase of the load, if there is one.
func (r *Runner) mark(phase string) {
	if r.gen != nil {
		r.gen.Mark(phase)
	}
}

// reachable checks that something answers HTTP at url (for a grpc://
// target: that it accepts a connection).
func reachable(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if addr, ok := strings.CutPrefix(url, experiments.GRPCScheme); ok {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", strings.TrimSuffix(addr, "/"))
		if err != nil {
			return err
		}
		return c.Close()
	}
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

// header turns a drill's header map into an http.Header.
func header(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

// save writes a snapshot bundle into the artifacts directory, if any.
func (r *Runner) save(s *snapshot.Snapshot, phase string) {
	if r.cfg.artifacts == "" || s == nil {
		return
	}
	if err := s.Save(r.cfg.artifacts, phase); err != nil {
		r.warnf("saving %s snapshot: %v", phase, err)
	}
}

// writeJournal writes journal.json (the Result, with the load's phases and
// timeline) into the artifacts directory.
func (r *Runner) writeJournal() error {
	if r.cfg.artifacts == "" {
		return nil
	}
	if err := os.MkdirAll(r.cfg.artifacts, 0o755); err != nil {
		return fmt.Errorf("artifacts: %w", err)
	}
	// The hooks' artifacts (charts) are a convenience: one that cannot be
	// written is a warning in the journal, never a failed drill.
	for _, f := range r.cfg.artifactHooks {
		if err := f(r.cfg.artifacts, r.Result()); err != nil {
			r.warnf("artifacts: %v", err)
		}
	}
	b, err := json.MarshalIndent(r.Result(), "", "  ")
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := os.WriteFile(filepath.Join(r.cfg.artifacts, "journal.json"), b, 0o644); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}
