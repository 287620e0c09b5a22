package experiments

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"

	"github.com/aftershock/aftershock/experiments/load"
	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/injectors/netns"
	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// preflight checks everything a drill needs before anything is injected:
// the blast radius, the engines, the target and its pprof endpoints, and
// the fault proxies' listen ports.
func (r *run) preflight(ctx context.Context) error {
	d := r.d
	if err := d.CheckBlastRadius(r.cfg.allowHosts...); err != nil {
		return err
	}
	if err := d.checkEngines(r.cfg.cluster != nil); err != nil {
		return err
	}
	if r.cfg.cluster != nil && d.NeedsCluster() {
		if err := r.cfg.cluster.Check(ctx, cmp.Or(d.Metadata.Namespace, "default")); err != nil {
			return couldNotRun("%w", err)
		}
	}
	client, err := snapshot.NewClient(d.Spec.Target.Pprof, snapshot.WithHeaders(header(d.Spec.Target.Headers)))
	if err != nil {
		return couldNotRun("pprof %s: %w", d.Spec.Target.Pprof, err)
	}
	r.client = client
	r.onCleanup(func(context.Context) error { client.Close(); return nil })
	if err := reachable(ctx, d.Spec.Target.URL); err != nil {
		return couldNotRun("target %s does not answer HTTP: %w", d.Spec.Target.URL, err)
	}
	if _, err := client.CaptureLight(ctx); err != nil {
		return couldNotRun("pprof of the target: %w", err)
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
	objects := d.chaosObjects()
	for i := range d.Spec.Faults {
		f := &d.Spec.Faults[i]
		if f.Engine == EngineChaosMesh && f.Kind() != KindStall {
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
		gen, err := load.New(cfg)
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		r.gen = gen
		r.onCleanup(func(context.Context) error { gen.Pause(); return nil })
	}
	return nil
}

// DefaultQuiesce is how long the goroutine count must hold still before
// the baseline, unless the drill says otherwise (verify.quiesce).
const DefaultQuiesce = 3 * time.Second

// quiesce waits until the target's goroutine count holds still for the
// quiesce window, so that a service still winding down from the warmup
// (workers idling out, requests finishing) does not set the baseline.
// It gives up at the settle deadline: the baseline is then taken anyway,
// and the result's warnings record that it was not quiet.
func (r *run) quiesce(ctx context.Context) error {
	if r.gen != nil {
		r.gen.Pause()
	}
	window := r.d.Spec.Verify.Quiesce.Duration
	if window <= 0 {
		window = DefaultQuiesce
	}
	qctx, cancel := context.WithTimeout(ctx, window+r.settleTime())
	defer cancel()
	_, err := r.client.Quiesce(qctx, window, r.cfg.pollEvery)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, snapshot.ErrNotQuiet):
		r.warnf("baseline taken while the service was not quiet: %v", err)
		return nil
	}
	return couldNotRun("pprof of the target while quiescing: %w", err)
}

func (r *run) settleTime() time.Duration {
	if r.cfg.settle > 0 {
		return r.cfg.settle
	}
	if s := r.d.Spec.Verify.Settle.Duration; s > 0 {
		return s
	}
	return DefaultSettle
}

// matcherOptions turns the drill's verify block into matcher tolerances.
func (r *run) matcherOptions() []matchers.Option {
	v := r.d.Spec.Verify
	opts := []matchers.Option{
		matchers.MaxExtraGoroutines(v.Goroutines.MaxExtra),
		matchers.MaxExtraConnections(v.Connections.MaxExtra),
		matchers.MaxExtraIdleConnections(v.Connections.MaxIdleExtra),
	}
	g := v.Heap.MaxGrowth
	if g.IsZero() {
		g = DefaultHeapGrowth()
	}
	opts = append(opts, matchers.MaxHeapGrowth(g.Bytes.Bytes))
	if g.Percent != nil {
		opts = append(opts, matchers.MaxHeapGrowthRatio(g.Percent.Fraction()))
	} else {
		opts = append(opts, matchers.MaxHeapGrowthRatio(0))
	}
	if len(v.Ignore) > 0 {
		var fs []any
		for _, p := range v.Ignore {
			fs = append(fs, p)
		}
		opts = append(opts, matchers.Ignoring(fs...))
	}
	return opts
}

// settle polls full snapshots until the service is back within tolerance
// of base, or the settle deadline passes. It passes as soon as the
// condition holds: a healthy service gets its verdict within one poll.
// Polls are spaced at least five times the capture's own duration apart,
// so that the stop-the-world of the goroutine dump costs the target at
// most a fifth of its time even with 100,000 goroutines.
func (r *run) settle(ctx context.Context, base *snapshot.Snapshot, fr *FaultResult) (*snapshot.Snapshot, error) {
	m := matchers.ReturnToBaseline(base, r.matcherOptions()...)
	start := time.Now()
	deadline := start.Add(r.settleTime())
	var last *snapshot.Snapshot
	var lastErr error
	for {
		t0 := time.Now()
		// A hung pprof endpoint must not hold the verdict far past the
		// deadline: the capture gets until then, plus a grace.
		until := deadline
		if t0.After(until) {
			until = t0
		}
		cctx, cancel := context.WithDeadline(ctx, until.Add(5*time.Second))
		s, err := r.client.Capture(cctx)
		cancel()
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		if err != nil {
			lastErr = err
		} else {
			last, lastErr = s, nil
			ok, merr := m.Match(s)
			if merr != nil {
				return s, fmt.Errorf("verify: %w", merr)
			}
			if ok {
				fr.Returned, fr.Settle = true, time.Since(start)
				fr.Diff = r.diff(s, base)
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			fr.Settle = time.Since(start)
			if last == nil {
				fr.Leak = fmt.Sprintf("could not snapshot the target during the settle: %v", lastErr)
				return nil, nil
			}
			fr.Leak = m.FailureMessage(last)
			if lastErr != nil {
				fr.Leak = fmt.Sprintf("the last snapshot failed (%v); the one before it:\n%s", lastErr, fr.Leak)
			}
			fr.Diff = r.diff(last, base)
			fr.Culprits = r.d.Spec.Verify.Culprits(fr.Diff)
			return last, nil
		}
		wait := max(500*time.Millisecond, 5*time.Since(t0))
		if err := sleep(ctx, min(wait, time.Until(deadline)+time.Millisecond)); err != nil {
			return last, err
		}
	}
}

// diff compares now with base for the result; a diff that cannot be
// computed (a heap profile that does not merge) is a warning, not a
// verdict: the matcher has judged already.
func (r *run) diff(now, base *snapshot.Snapshot) *snapshot.Diff {
	d, err := now.Diff(base)
	if err != nil {
		r.warnf("diff against the baseline: %v", err)
	}
	return d
}

// warnf records a warning in the result and on the progress stream.
func (r *run) warnf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.res.Warnings = append(r.res.Warnings, msg)
	r.progressf("warning: %s", msg)
}

// header turns a drill's header map into an http.Header.
func header(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

// sloChecks judges the drill's SLOs for one fault from the load report.
func (r *run) sloChecks(fr *FaultResult, f *Fault, cleared, until time.Time) {
	rep := r.gen.Report()
	if st, ok := rep.Phase("fault:" + f.Name); ok {
		fr.DuringFault = &st
	}
	if st, ok := rep.Phase("recovery:" + f.Name); ok {
		fr.Recovery = &st
	}
	slo := r.d.Spec.Verify.SLO
	if slo == nil {
		return
	}
	if df := slo.DuringFault; df != nil && fr.DuringFault != nil {
		st := fr.DuringFault
		for _, q := range []struct {
			name string
			want Duration
			got  time.Duration
		}{{"p50", df.P50, st.P50}, {"p95", df.P95, st.P95}, {"p99", df.P99, st.P99}, {"max", df.Max, st.Max}} {
			if q.want.Duration > 0 {
				fr.SLOs = append(fr.SLOs, SLOCheck{
					Name: "latency " + q.name + " during the fault",
					Want: "≤ " + q.want.String(), Got: q.got.Round(time.Millisecond).String(),
					OK: q.got <= q.want.Duration,
				})
			}
		}
		if df.ErrorRate != nil {
			rate := 1 - st.SuccessRate
			fr.SLOs = append(fr.SLOs, SLOCheck{
				Name: "error rate during the fault",
				Want: "≤ " + df.ErrorRate.String(), Got: fmt.Sprintf("%.1f%% of %d", 100*rate, st.Requests),
				OK: rate <= df.ErrorRate.Fraction(),
			})
		}
	}
	if rc := slo.Recovery; rc != nil {
		d, ok := rep.Recovery(cleared, until, rc.SuccessRate.Fraction())
		c := SLOCheck{
			Name: fmt.Sprintf("recovery to %s success", rc.SuccessRate),
			Want: "within " + rc.Within.String(),
		}
		if ok {
			c.Got, c.OK = d.Round(time.Millisecond).String(), d <= rc.Within.Duration
		} else {
			c.Got = "not recovered"
		}
		fr.SLOs = append(fr.SLOs, c)
	}
}

// save writes a snapshot bundle into the artifacts directory, if any.
func (r *run) save(s *snapshot.Snapshot, phase string) {
	if r.cfg.artifacts == "" || s == nil {
		return
	}
	if err := s.Save(r.cfg.artifacts, phase); err != nil {
		r.warnf("saving %s snapshot: %v", phase, err)
	}
}

// writeJournal writes journal.json (the Result, with the load's phases and
// timeline) into the artifacts directory.
func (r *run) writeJournal() error {
	if r.cfg.artifacts == "" {
		return nil
	}
	if err := os.MkdirAll(r.cfg.artifacts, 0o755); err != nil {
		return fmt.Errorf("artifacts: %w", err)
	}
	b, err := json.MarshalIndent(r.res, "", "  ")
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := os.WriteFile(filepath.Join(r.cfg.artifacts, "journal.json"), b, 0o644); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// checkEngines refuses, before anything is injected, faults that need an
// engine this runner cannot drive — chaos-mesh without a cluster — and
// kernel delays on a kernel without netem.
func (d *Drill) checkEngines(cluster bool) error {
	var ps Problems
	for i := range d.Spec.Faults {
		f := &d.Spec.Faults[i]
		e := f.Engine
		if e == "" && f.Upstream != "" {
			if u := d.Upstream(f.Upstream); u != nil {
				e = u.Engine
			}
		}
		if e == EngineNetns && f.NetworkChaos != nil && f.NetworkChaos.Action == v1alpha1.DelayAction {
			if err := netns.NetemSupport(); err != nil {
				path := fmt.Sprintf("spec.faults[%d].networkChaos.action", i)
				return couldNotRun("%s: %s: fault %s: %w", d.Where(path), path, f.Name, err)
			}
		}
		if e == EngineChaosMesh && !cluster {
			path := fmt.Sprintf("spec.faults[%d]", i)
			ps = append(ps, &Problem{
				File: d.File, Pos: d.pos.at(path + ".engine"), Path: path + ".engine",
				Detail:  fmt.Sprintf("fault %s needs engine %q, and this run has no cluster to submit it to", f.Name, e),
				Allowed: []string{string(EngineProxy), string(EngineNetns)},
			})
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return ps
}
