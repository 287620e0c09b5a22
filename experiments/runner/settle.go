package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// tolerances are the matcher options of this run's verdicts: the drill's
// verify block, with the idle allowance measured from what the target
// pools unless the drill sets one.
func (r *Runner) tolerances(rep *replica) []matchers.Option {
	v := r.d.Spec.Verify
	measured := 0
	if rep.pooled >= 0 && rep.base != nil {
		measured = max(0, rep.pooled-rep.base.Summary().Pooled())
	}
	idle := v.IdleAllowance(measured)
	r.mu.Lock()
	if b := rep.first; b != nil {
		b.Pooled, b.IdleAllowance = rep.pooled, idle
	}
	r.mu.Unlock()
	return v.MatcherOptions(idle)
}

// settle polls a replica of the target until it is back within tolerance
// of its baseline, or the settle deadline passes, and judges it: fr gets the
// findings, the culprits and the settle time. It returns the snapshot the
// verdict was taken on.
//
// The polls cost the target as little as the verdict allows:
//   - every poll is light (the goroutine profile and MemStats, no GC),
//     paced by its own cost, and judged on goroutine groups (by culprit)
//     and connection classes;
//   - only when a light poll says the service is back is the debug=2 dump
//     taken, to judge goroutines and connections with creators and wait
//     states (also, a few times per settle, when light polls keep
//     failing: a rule on wait states or creators can only be applied to a
//     dump);
//   - only when that dump says goroutines and connections are back is one
//     GC forced, for the heap verdict; should the heap still be over,
//     another is forced once the uncollected heap (an upper bound of the
//     live one) is within tolerance, or once half way to the deadline, and
//     at the deadline.
//
// A target that serves the goroutineleak profile is asked it while
// goroutines are over (the first light poll over, then at most once per
// quarter of the settle), and a leak it proves ends the settle as soon as
// the connections are back, and at the latest proofGrace after the proof:
// the verdict fails on the proof whatever the settle waits for.
//
// Every forced GC counts against one ceiling, FaultGCs per fault and
// replica, enforced here: the settle's heap readings and goroutineleak
// reads (each runs a GC) share what the verdict's GC and the drained
// heap reading after it (judgeHeap, a target of one process) leave, and
// readings that keep coming back and going again cannot make the settle
// collect at every poll. Once the settle's share is spent, a dump whose
// uncollected heap (an upper bound) is within tolerance passes without a
// GC, and no goroutineleak profile is read. A healthy service thus costs
// one dump and one forced GC; a leaking one a few dumps and a forced GC
// at the deadline, or a goroutineleak read and a GC when the runtime
// proves it.
// At 50,000 goroutines (BenchmarkSettleAtScale, docs/performance.md) the
// proof is read 0.2-0.3 s into the settle, the settle ends half a second
// after it at the latest, and the fault forces two GCs (the proof and the
// verdict's), the drill four with its baseline's.
//
// A replica whose process restarted since its baseline (caught by any
// capture, the hold's too, or by the platform's record) is not compared
// with it: the settle ends at once with the restart as its finding. One
// that does not answer at the deadline stopped answering: that is its
// finding.
func (r *Runner) settle(ctx context.Context, rep *replica, fr *FaultResult) (*snapshot.Snapshot, error) {
	opts := r.tolerances(rep)
	base := rep.base
	start := time.Now()
	rep.gcs, rep.carried = rep.carried, 0 // a read before the fault started is its own
	deadline := start.Add(r.settleTime())
	if x := r.restart(ctx, rep); x != nil || base == nil {
		if x == nil {
			fault, phase := r.stand()
			x = &matchers.Restart{Replica: rep.Name, Fault: fault, Phase: phase, At: start, Gone: true,
				Why: "no baseline of the process that serves it now could be taken after it restarted"}
		}
		return nil, r.restarted(fr, rep, x, start)
	}
	var (
		lastDump    = start // the last debug=2 dump, or the start
		dumpCost    time.Duration
		heapPending bool // at the last dump goroutines and connections were back, the heap was not
		collected   int  // GCs forced for the heap in this settle
		lastErr     error
		lastLeak    time.Time                 // the last goroutineleak profile read
		proved      map[snapshot.GroupKey]int // leaked goroutines by light group key, once the runtime proved some
		provedAt    time.Time
	)
	// captureCtx bounds one capture: a hung pprof endpoint must not hold
	// the verdict far past the deadline.
	captureCtx := func() (context.Context, context.CancelFunc) {
		return context.WithDeadline(ctx, later(deadline, time.Now()).Add(5*time.Second))
	}
	judge := func(now *snapshot.Snapshot) (*matchers.Findings, error) {
		f, err := matchers.Judge(base, now, opts...)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		if f.Restart != nil && len(rep.watch.since(rep.judged)) == 0 {
			x := *f.Restart
			x.Fault, x.Phase = r.stand()
			rep.watch.add(x)
		}
		f.Replica = rep.Name
		return f, nil
	}
	// restarted ends the settle when a capture caught a restart.
	restarted := func() bool { return len(rep.watch.since(rep.judged)) > 0 }
	pass := func(now *snapshot.Snapshot, f *matchers.Findings) (*snapshot.Snapshot, error) {
		fr.Returned, fr.Settle, fr.Findings, fr.ProvedAfter = true, time.Since(start), f, 0
		return now, nil
	}
	for {
		cctx, cancel := captureCtx()
		if proved != nil {
			// After a proof only the connections are waited for, and
			// no longer than the grace: a light poll that would run
			// past it (a slow capture at 50,000 goroutines, or under
			// the race detector) is cut off, and the connections are
			// judged on the verdict's own dump.
			cancel()
			cctx, cancel = context.WithDeadline(ctx, provedAt.Add(proofGrace))
		}
		light, err := r.capture(cctx, rep, "light")
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if restarted() {
			return nil, r.restarted(fr, rep, r.restart(ctx, rep), start)
		}
		wait := r.cfg.pollFloor
		if proved != nil && !time.Now().Before(provedAt.Add(proofGrace)) {
			break
		}
		if err != nil {
			lastErr = err
		} else {
			wait = snapshot.Pace(light.Cost, r.cfg.pollFloor, r.settleBudget())
			lf, err := judge(light)
			if err != nil {
				return light, err
			}
			// Goroutines over: ask the runtime whether it can prove them
			// leaked (a GC each time: the first soon, then at most every
			// quarter of the settle). A group with more goroutines proved
			// leaked than its tolerance can never return: the goroutines
			// are judged, and the settle waits only for the connections.
			if proved == nil && rep.leakBase != nil && !lf.OK(matchers.Goroutines) && time.Since(lastLeak) >= r.settleTime()/4 && r.gcsLeft(rep) > 1 {
				lastLeak = time.Now()
				cctx, cancel := captureCtx()
				p, err := r.provedLeaks(cctx, rep)
				cancel()
				if lf.MarkProved(p); err == nil && lf.Proved() {
					proved, provedAt = p, time.Now()
					fr.ProvedAfter = time.Since(start)
					// One bounded line, however many groups: a verdict on
					// 50,000 goroutines may prove eighty.
					head := fmt.Sprintf("%s: the Go runtime proved goroutines leaked after %s: ", fr.Name, fr.ProvedAfter.Round(time.Millisecond))
					r.progressf("%s%s", head, lf.ProvedShort(max(maxProgress-len([]rune(head)), 40)))
				}
			}
			// The verdict: the heap after a forced GC, the goroutines as
			// proved; connections still over when no further poll fits in
			// the grace are judged as they stand (one more reading
			// confirms them).
			if proved != nil && (lf.OK(matchers.Connections) || time.Since(provedAt)+light.Cost >= proofGrace) {
				break
			}
			since := time.Since(lastDump)
			paced := since >= snapshot.Pace(dumpCost, 0, r.settleBudget())
			gc := r.gcsLeft(rep) > 1
			var dump bool
			switch {
			case proved != nil:
				// Only the connections are waited for, and no longer
				// than the grace: the verdict's own dump follows.
				wait = min(wait, time.Until(provedAt.Add(proofGrace))-light.Cost)
			case heapPending:
				// Force another GC only when the uncollected heap is
				// within tolerance (the live heap then surely is; with
				// no GC left, that dump passes on it), or once, half
				// way to the deadline, for a heap that shrinks without
				// a collection to show it.
				dump = paced && (lf.OK() || (gc && collected < 2 && time.Since(start) >= r.settleTime()/2))
			case lf.OK(matchers.Goroutines, matchers.Connections):
				dump = paced
			default:
				// Light polls keep failing; a rule on wait states or
				// creators applies only to a dump: check with one now
				// and then.
				dump = since >= max(snapshot.Pace(dumpCost, 0, r.settleBudget()), r.settleTime()/4)
			}
			if dump {
				now, f, forced, err := r.judgeFull(captureCtx, rep, judge, false, gc)
				collected += forced
				switch {
				case ctx.Err() != nil:
					return nil, ctx.Err()
				case restarted():
					return nil, r.restarted(fr, rep, r.restart(ctx, rep), start)
				case err != nil:
					lastErr = err
				case f.OK():
					return pass(now, f)
				default:
					heapPending = f.OK(matchers.Goroutines, matchers.Connections)
				}
				if now != nil {
					lastDump, dumpCost = time.Now(), now.Cost
				}
			}
		}
		if time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, min(wait, time.Until(deadline)+time.Millisecond)); err != nil {
			return nil, err
		}
	}
	// The deadline: the verdict on a full snapshot, heap collected (the
	// settle left the verdict its GC).
	fr.Settle = time.Since(start)
	now, f, _, err := r.judgeFull(captureCtx, rep, judge, true, r.gcsLeft(rep) > 0)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if x := r.restart(ctx, rep); x != nil {
		return nil, r.restarted(fr, rep, x, start)
	}
	if err != nil {
		// It answered at the baseline: a service that stops answering
		// under a fault is a finding, never a pass.
		why := fmt.Sprintf("no snapshot at the settle deadline: %v", err)
		if lastErr != nil && lastErr.Error() != err.Error() {
			why += fmt.Sprintf(" (and earlier in the settle: %v)", lastErr)
		}
		fault, phase := r.stand()
		return nil, r.restarted(fr, rep, &matchers.Restart{Replica: rep.Name, Fault: fault, Phase: phase, At: time.Now(), Why: why, Gone: true}, start)
	}
	if !f.OK(matchers.Goroutines, matchers.Connections) {
		// What one reading caught must hold in the next to count: a
		// goroutine writing a response, a connection closing, at the
		// moment of the dump is not a leak.
		cctx, cancel := captureCtx()
		again, err := r.capture(cctx, rep, "light")
		cancel()
		if err == nil {
			if af, err := judge(again); err == nil {
				f.Confirm(af)
			}
		}
	}
	if f.OK() {
		return pass(now, f)
	}
	// The dump's own "(leaked)" marks may prove the groups already: no
	// goroutineleak read (a forced GC) is needed then.
	// Read only when the ceiling leaves a GC for it.
	if proved == nil && rep.leakBase != nil && !f.OK(matchers.Goroutines) && !f.Proved() && r.gcsLeft(rep) > 0 {
		cctx, cancel := captureCtx()
		proved, err = r.provedLeaks(cctx, rep)
		cancel()
		if err != nil {
			r.warnf("fault %s: reading the goroutineleak profile for the verdict: %v", fr.Name, err)
		}
	}
	if f.MarkProved(proved); !f.Proved() {
		fr.ProvedAfter = 0 // the verdict's own dump does not bear the proof out
	}
	fr.Findings, fr.Culprits = f, f.Culprits()
	return now, nil
}

// maxProgress bounds a progress line, in characters.
const maxProgress = 200

// joinShort joins items with "; " in at most limit characters: the items
// that fit whole, then how many more there are ("; … and 78 more").
func joinShort(items []string, limit int) string {
	out := ""
	for i, it := range items {
		next := it
		if i > 0 {
			next = out + "; " + it
		}
		more := ""
		if rest := len(items) - i - 1; rest > 0 {
			more = fmt.Sprintf("; … and %d more", rest)
		}
		if len([]rune(next+more)) <= limit {
			out = next
			continue
		}
		if i > 0 {
			// It fitted with this tail when item i-1 was taken.
			return out + fmt.Sprintf("; … and %d more", len(items)-i)
		}
		r := []rune(it)
		return string(r[:max(0, min(len(r), limit-len([]rune(more))-1))]) + "…" + more
	}
	return out
}

// FaultGCs is the most GCs a drill forces on one replica of the target
// for one fault held (each cycle of verify.cycles holds it again),
// goroutineleak reads included (each runs a GC): the settle's heap
// readings and proofs, the verdict's collected heap, the drained heap
// reading after it, and the goroutineleak read that rebases a failed
// fault's successor. The baseline's GCs are the drill's, once.
const FaultGCs = 4

// proofGrace is how long a settle whose goroutines the runtime proved
// leaked still waits for its connections: the verdict fails on the proof,
// and what is left to learn is whether the connections return too. A
// light poll after the proof is cut off at the grace, however slow the
// capture (under the race detector at 50,000 goroutines, a poll that
// started within the grace ended the settle 1.23 s after the proof), so
// the settle ends half a second after the proof, plus scheduling.
const proofGrace = 500 * time.Millisecond

// gcsLeft is how many GCs may still be forced on rep for the fault held
// now: FaultGCs less those forced, less, for a target of one process, the
// drained heap reading that may follow the verdict (judgeHeap). The
// settle forces one only when more than one is left: the last is the
// verdict's.
func (r *Runner) gcsLeft(rep *replica) int {
	n := FaultGCs - rep.gcs
	if len(r.reps) == 1 {
		n--
	}
	return n
}

// provedLeaks reads the target's goroutineleak profile and counts, by
// the light part of their group key, the goroutines the runtime proves
// leaked beyond the baseline's (leaked goroutines are never freed: the
// baseline's stay).
func (r *Runner) provedLeaks(ctx context.Context, rep *replica) (map[snapshot.GroupKey]int, error) {
	now, err := r.leaked(ctx, rep)
	if err != nil {
		return nil, err
	}
	for c, n := range rep.leakBase {
		now[c] -= n
	}
	return now, nil
}

// leaked counts the goroutines of the goroutineleak profile by the light
// part of their group key.
func (r *Runner) leaked(ctx context.Context, rep *replica) (map[snapshot.GroupKey]int, error) {
	rep.gcs++ // the profile runs a GC first, also when it fails later
	s, err := rep.client.CaptureLeaked(ctx)
	if err != nil {
		return nil, err
	}
	out := map[snapshot.GroupKey]int{}
	for _, g := range s.Summary().Groups {
		out[g.Key().Light()] += g.Count
	}
	return out, nil
}

// leakedOnce is leaked, followed by the MemStats figures the profile's GC
// left (nil when they could not be read): a reading after one more GC,
// which spares a caller that wants one a GC of its own.
func (r *Runner) leakedOnce(ctx context.Context, rep *replica) (map[snapshot.GroupKey]int, *snapshot.MemStats, error) {
	leaked, err := r.leaked(ctx, rep)
	if err != nil {
		return nil, nil, err
	}
	ms, err := rep.client.ReadMemStats(ctx)
	if err != nil {
		r.warnf("the heap%s after the goroutineleak profile's GC: %v", rep.label(), err)
		return leaked, nil, nil
	}
	return leaked, &ms, nil
}

// rebaseAfterFailed readies, before the fault named next starts, the
// baseline of a replica that did not return from the fault before it:
// that fault's verdict snapshot (rep.failed), read after one GC. It is
// read drained, as every baseline is, so that the next fault's drained
// reading is not compared with the pools' caches; and the goroutines the
// runtime proves leaked are read again (the runtime never frees them) so
// that the next fault's proofs count only its own. Where the target
// serves the goroutineleak profile, its GC is the one that drains the
// baseline: one GC does both. That GC is the next fault's, counted into
// its FaultGCs; a drill's last fault is followed by none. Should the
// profile not be read, the goroutines the last verdict's dump marked
// proved stand for it (those proved later are credited to the next
// fault, no further than that fault's own growth).
func (r *Runner) rebaseAfterFailed(ctx context.Context, rep *replica, next string) {
	rep.carried = 0
	base := rep.failed
	if base == nil || base != rep.base {
		rep.failed = nil
		return
	}
	rep.failed = nil
	rep.gcs = 0
	defer func() {
		rep.carried = rep.gcs
		r.mu.Lock()
		rep.curBase = baselineOf(base)
		r.mu.Unlock()
	}()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Replicas are judged by their tolerances alone, with no noise floor
	// (see drillEpisode): their baselines need no draining.
	drained := rep.drainedSnap == base || len(r.reps) > 1
	if rep.leakBase != nil {
		var (
			leaked map[snapshot.GroupKey]int
			ms     *snapshot.MemStats
			err    error
		)
		if drained {
			leaked, err = r.leaked(cctx, rep)
		} else {
			leaked, ms, err = r.leakedOnce(cctx, rep)
		}
		if err != nil {
			r.warnf("the goroutineleak profile%s before %s: %v; the leaks the last verdict's dump marked proved stand for it", rep.label(), next, err)
			leaked = map[snapshot.GroupKey]int{}
			for _, g := range base.Summary().Groups {
				if g.Leaked > 0 {
					leaked[g.Key().Light()] += g.Leaked
				}
			}
		}
		rep.leakBase = leaked
		if ms != nil && !drained {
			base.Redrained(*ms)
			drained = true
		}
	}
	if !drained {
		if err := rep.client.CollectHeap(cctx, base); err != nil {
			r.warnf("the heap%s before %s, drained: %v; %s is judged against a reading after one GC", rep.label(), next, err, next)
		}
	}
}

// settleBudget is the share of a core the settle's polls may cost the
// target while it lasts: five times the sampling budget (a verdict is
// wanted soon, and a settle lasts seconds), the captures' wall time
// standing for their cost (it overstates it on a busy machine).
func (r *Runner) settleBudget() float64 { return min(5*r.cfg.budget, 1) }

// judgeFull takes the debug=2 dump and judges goroutines and connections
// on it; when they are back, or for the final verdict, it forces one GC
// for the heap (when gc allows one: otherwise the heap is judged on the
// uncollected figure, an upper bound of the live heap) and judges
// everything. It returns how many GCs it forced; the findings are nil
// only with an error.
func (r *Runner) judgeFull(captureCtx func() (context.Context, context.CancelFunc), rep *replica,
	judge func(*snapshot.Snapshot) (*matchers.Findings, error), final, gc bool) (*snapshot.Snapshot, *matchers.Findings, int, error) {
	cctx, cancel := captureCtx()
	defer cancel()
	now, err := r.capture(cctx, rep, "goroutines")
	if err != nil {
		return nil, nil, 0, err
	}
	f, err := judge(now)
	if err != nil {
		return now, nil, 0, err
	}
	if !gc || (!final && !f.OK(matchers.Goroutines, matchers.Connections)) || f.Restart != nil {
		return now, f, 0, nil
	}
	rep.gcs++
	if err := rep.client.CollectHeap(cctx, now); err != nil {
		// The heap stays judged on the uncollected figure, an upper bound.
		r.warnf("forcing a GC for the heap verdict: %v", err)
		return now, f, 1, nil
	}
	f, err = judge(now)
	return now, f, 1, err
}

// restarted ends a replica's settle on a restart (or a process that
// stopped answering): its finding is the restart, and nothing of the
// process is compared with the baseline.
func (r *Runner) restarted(fr *FaultResult, rep *replica, x *matchers.Restart, start time.Time) error {
	fr.Returned, fr.Settle, fr.ProvedAfter = false, time.Since(start), 0
	fr.Findings = &matchers.Findings{Tolerances: matchers.Tolerances{}, Replica: rep.Name, Restart: x}
	fr.Culprits = fr.Findings.Culprits()
	r.progressf("%s", x)
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
