package runner

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/load"
	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// Slow leaks (a few hundred bytes per failed request) are judged on exact
// post-GC figures, HeapAlloc and HeapObjects, against a noise floor, and
// confirmed by holding the fault again. See docs/slow-leaks.md.
//
// The readings: the baseline is read twice after a forced GC, the second
// time (drained) once the first GC has moved sync.Pool caches to their
// victim lists and the second has freed them: what a healthy warmup left
// behind that is not live (warm). A verdict is read after one forced GC,
// as always; only when it is above the noise floor is it read once more,
// drained, and judged on that reading (a first cycle that failed on its
// goroutines or connections is read drained only before a fault that
// follows it: see rebaseAfterFailed).

// WithCycles holds each fault n times (n > 0), overriding verify.cycles:
// see experiments.Verify.Cycles.
func WithCycles(n int) Option { return func(c *config) { c.cycles = n } }

// cycles is how many cycles each fault is asked for up front (0: one,
// and more when the heap is a suspect; 1: one, never more).
func (r *Runner) cycles() int {
	if r.cfg.cycles > 0 {
		return r.cfg.cycles
	}
	return r.d.Spec.Verify.Cycles
}

// heapFigures are post-GC HeapAlloc and HeapObjects.
type heapFigures struct{ bytes, objects int64 }

func figuresOf(s *snapshot.Snapshot) heapFigures {
	return heapFigures{int64(s.MemStats.HeapAlloc), int64(s.MemStats.HeapObjects)}
}

// drainBaseline makes the baseline's heap reading a drained one, after
// two GCs: the first moves the pools' caches to their victim lists (still
// live), the second frees them. once, when not nil, was read just after a
// GC forced before base's (the goroutineleak profile's): base's own
// reading is then the drained one. Otherwise the heap is read again after
// a second forced GC. The baseline keeps the drained figures and profile;
// warm is what the warmup had left that the second GC freed.
func (r *Runner) drainBaseline(ctx context.Context, rep *replica, base *snapshot.Snapshot, once *snapshot.MemStats) {
	first := figuresOf(base)
	switch {
	case once != nil && once.HeapObjects > 0:
		first = heapFigures{int64(once.HeapAlloc), int64(once.HeapObjects)}
	default:
		if err := rep.client.CollectHeap(ctx, base); err != nil {
			r.warnf("reading the baseline heap a second time: %v; slow heap growth is judged against the first reading", err)
			return
		}
	}
	drained := figuresOf(base)
	rep.warm = heapFigures{max(first.bytes-drained.bytes, 0), max(first.objects-drained.objects, 0)}
	r.progressf("baseline heap%s, drained: %s in %d objects (the warmup left %s in %d objects to the second GC)",
		rep.label(), matchers.BytesText(drained.bytes), drained.objects, matchers.BytesText(rep.warm.bytes), rep.warm.objects)
}

// Floors of the noise floor: a reading's own resolution, growth per
// faulted request under which a fault's growth is not told from noise,
// and the share of the live heap a drained reading moves by on its own (a
// buffer or two: about 100 KiB on a 400 MiB heap).
const (
	floorObjects          = 16
	floorBytes            = 8 << 10
	floorObjectsPerFailed = 0.25
	floorBytesPerFailed   = 16
	floorHeapShare        = 2048 // 1/2048 of the live heap
)

// noiseFloor is the noise floor of a fault that failed (or touched)
// faulted requests: at least the resolution of a drained reading, a
// quarter of an object or 16 B per faulted request, and 1/2048 of the
// live heap in bytes.
func (r *Runner) noiseFloor(rep *replica, faulted int) *matchers.NoiseFloor {
	live := heapFigures{}
	if rep.base != nil {
		live = figuresOf(rep.base)
	}
	n := &matchers.NoiseFloor{
		Objects: max(floorObjects, int64(floorObjectsPerFailed*float64(faulted))),
		Bytes:   max(floorBytes, int64(floorBytesPerFailed*faulted), live.bytes/floorHeapShare),
	}
	n.Basis = fmt.Sprintf("drained post-GC readings of a %s heap; the warmup moved the quiet baseline by %s, %d objects",
		matchers.BytesText(live.bytes), matchers.BytesText(rep.warm.bytes), rep.warm.objects)
	if faulted > 0 {
		n.Basis += fmt.Sprintf("; at least %.2f objects and %d B per faulted request", floorObjectsPerFailed, floorBytesPerFailed)
	}
	return n
}

// faulted is how many requests of the load the fault failed, or, when
// none failed, how many it touched; 0 without load.
func faulted(fr *FaultResult) (int, string) {
	switch s := fr.DuringFault; {
	case s == nil:
		return 0, ""
	case s.Errors > 0:
		return s.Errors, "failed"
	default:
		return s.Requests, "faulted"
	}
}

// judgeHeap completes a cycle's verdict on the heap: the growth per
// faulted request, and, when the one-GC reading is above the noise floor
// (by more than what the warmup left to a second GC), a drained reading
// that the heap is judged on instead. base is what the cycle is judged
// against. It returns the cycle's growth.
func (r *Runner) judgeHeap(ctx context.Context, rep *replica, base, now *snapshot.Snapshot, fr *FaultResult, opts []matchers.Option, cycle int) (matchers.HeapCycle, error) {
	n, kind := faulted(fr)
	floor := r.noiseFloor(rep, n)
	opts = append(opts, matchers.HeapNoiseFloor(floor.Bytes, floor.Objects, floor.Basis))
	f := fr.Findings
	// Over the floor on a one-GC reading: read again, drained, to tell
	// growth from what the pools hold after load. A first cycle that
	// failed on its goroutines or connections is not confirmed: its heap
	// stays judged on the one-GC reading (an upper bound), and the next
	// fault, should one follow, drains it before it starts, with the GC
	// that reads its leaked goroutines where the target proves them
	// (rebaseAfterFailed). A later cycle is judged against the drained
	// cycle before it, so it is always read drained.
	grown := func(f *matchers.Findings) bool {
		return floor.Below(f.Heap.Growth, f.Heap.ObjectGrowth)
	}
	if f != nil && now != nil && now.Collected && !f.Heap.Over && grown(f) && (cycle > 1 || f.OK(matchers.Goroutines, matchers.Connections)) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		rep.gcs++ // within FaultGCs: the settle leaves it one
		err := rep.client.CollectHeap(cctx, now)
		cancel()
		if err != nil {
			r.warnf("fault %s: reading the heap a second time after its verdict: %v", fr.Name, err)
		} else {
			rep.drainedSnap = now
		}
	}
	if f != nil && now != nil && f.Restart == nil {
		// Judged again with the noise floor (and the drained figures,
		// if read): goroutines and connections are as the settle found
		// them.
		g, err := matchers.Judge(base, now, opts...)
		if err != nil {
			return matchers.HeapCycle{}, fmt.Errorf("verify: %w", err)
		}
		if !f.OK(matchers.Goroutines, matchers.Connections) {
			g.Goroutines, g.Connections, g.Transient, g.Ignored = f.Goroutines, f.Connections, f.Transient, f.Ignored
		}
		g.SetFaulted(n, kind)
		g.Replica = rep.Name
		fr.Findings = g
		f = g
	}
	if f == nil {
		return matchers.HeapCycle{}, nil
	}
	return matchers.HeapCycle{Cycle: cycle, Growth: f.Heap.Growth, Objects: f.Heap.ObjectGrowth, Faulted: n, Conns: f.Heap.Conns}, nil
}

// confirm holds the episode's faults again, cycle after cycle, while the
// heap of the first is a suspect (above its noise floor, within tolerance)
// or verify.cycles asks for more: each cycle is judged against where the
// last left the service, drained. The fault fails when the heap grew in
// every cycle in proportion to the requests it failed (a slow leak), or
// when a later cycle leaves anything else over tolerance. first is the
// first cycle's verdict snapshot; confirm returns the last.
func (r *Runner) confirm(ctx context.Context, rep *replica, ep experiments.Episode, fr *FaultResult, first *snapshot.Snapshot, c1 matchers.HeapCycle) (*snapshot.Snapshot, error) {
	want := r.cycles()
	if fr.Findings == nil || !fr.Returned {
		return first, nil
	}
	auto := want == 0 && fr.Findings.Heap.Suspect
	if auto {
		want = 2
	}
	if want <= 1 {
		return first, nil
	}
	lead := ep.Faults[0]
	longer := ep.Stretched()
	cycles := []matchers.HeapCycle{c1}
	if fr.Findings.Heap.Suspect {
		r.progressf("%s: heap %s, over its noise floor %s: a suspect; confirming it with the fault held %s",
			lead.Name, c1, fr.Findings.Tolerances.HeapFloor, longer.End())
	}
	base, now := rep.base, first
	// The fault's window, load, effect and SLO checks stay the first
	// cycle's: the timeline and the report shade it, and a drill's SLO
	// is judged on the fault as written, whether or not its heap called
	// for confirmation (a stretched cycle's checks would be appended to
	// the first's, twice the same names); the later cycles are told by
	// the heap's cycles.
	window := struct {
		inEffect, cleared time.Time
		windows           [][2]time.Time
		breaker           [2]time.Time
		with              []HeldWith
		effect            any
		during, recovery  *load.PhaseStats
		slos              []SLOCheck
	}{fr.InEffect, fr.Cleared, fr.windows, fr.breakerWindow, slices.Clone(fr.With), fr.Effect, fr.DuringFault, fr.Recovery, slices.Clone(fr.SLOs)}
	defer func() {
		rep.base = base
		fr.InEffect, fr.Cleared, fr.windows, fr.breakerWindow = window.inEffect, window.cleared, window.windows, window.breaker
		fr.With, fr.Effect, fr.DuringFault, fr.Recovery = window.with, window.effect, window.during, window.recovery
		fr.SLOs = window.slos
	}()
	for k := 2; k <= want; k++ {
		prev := now
		rep.base = prev
		r.progressf("%s: cycle %d of %d", lead.Name, k, want)
		// The replicas' verdicts are the last cycle's, as the findings are.
		fr.Replicas = nil
		got, err := r.cycle(ctx, longer, fr)
		now = nil
		if len(got) > 0 {
			now = got[0].now
		}
		if err != nil {
			return now, err
		}
		if now == nil || fr.Findings == nil || fr.Findings.Restart != nil {
			return now, nil
		}
		c, err := r.judgeHeap(ctx, rep, prev, now, fr, r.tolerances(rep), k)
		if err != nil {
			return now, err
		}
		cycles = append(cycles, c)
		if !fr.Findings.OK(matchers.Goroutines, matchers.Connections) {
			// Anything else left over in a later cycle fails the fault
			// on its own.
			fr.Returned = false
			break
		}
		// An automatic confirmation that repeated the growth is held
		// once more, and the fault fails only when that one repeats it
		// too: a leak grows every time, where a bounded cache that the
		// first two cycles fill (a few hundred entries) and a healthy
		// service's rare excursion over the bar do not come twice.
		if objects, bytes := c.Repeats(fr.Findings.Tolerances.HeapFloor); auto && k == 2 && want == 2 && (objects || bytes) {
			want = 3
			r.progressf("%s: heap %s, over its bar: holding the fault once more to see it grow again", lead.Name, c)
		}
	}
	fr.Findings.JudgeCycles(cycles)
	if !fr.Findings.OK() {
		fr.Returned = false
	}
	fr.Culprits = nil
	if !fr.Returned {
		fr.Culprits = fr.Findings.Culprits()
	}
	// The progress line is short (the result carries the whole
	// judgement, Heap.Repeat): the verdict and the last cycle.
	last := cycles[len(cycles)-1]
	bytes, objects := matchers.RepeatBar(fr.Findings.Tolerances.HeapFloor, last.Faulted)
	verdict := "no slow leak, it did not grow again in proportion"
	if fr.Findings.Heap.Slow {
		verdict = "a slow leak, it grew again in proportion"
	}
	r.progressf("%s: heap: %s (%s; its bar %+d objects or +%s)", lead.Name, verdict, last, objects, matchers.BytesText(bytes))
	return now, nil
}
