package runner

import (
	"context"
	"sync"
	"time"

	"github.com/aftershock/aftershock/snapshot"
)

// Sample is one reading of the target's resources during a drill: the
// resource timeline the report charts and the journal keeps.
type Sample struct {
	// Replica is the replica read, for a target of several (the timeline
	// has a line per replica).
	Replica    string    `json:"replica,omitempty"`
	At         time.Time `json:"at"`
	Goroutines int       `json:"goroutines"`
	// Connections counts the target's connections by class.
	Connections map[snapshot.ConnClass]int `json:"connections,omitempty"`
	// Heap is HeapAlloc, 0 when the capture did not read it: without a
	// forced GC (garbage included, an upper bound of the live heap)
	// unless Collected.
	Heap      uint64 `json:"heap,omitempty"`
	Collected bool   `json:"collected,omitempty"`
	// Kind is the capture it was read from, as Cost names them: the
	// sampler's and the settle's polls are "light", the quiesce's "count",
	// the verdicts' "goroutines", "heap" and "full".
	Kind string `json:"kind"`
}

// maxSamples bounds the timeline of a long drill: past it, every other
// sample is dropped and the sampler slows down by half.
const maxSamples = 4096

// series is the resource timeline of a run. Every capture the runner
// takes feeds it (snapshot.WithObserver); the sampler fills the gaps
// between them, so the timeline costs the target nothing more where the
// drill polls anyway.
type series struct {
	mu      sync.Mutex
	samples []Sample
	last    map[string]time.Time // when the last capture of any kind was taken, by replica
	thinned int                  // how many times the samples were halved
}

func (s *series) observe(replica string, snap *snapshot.Snapshot, kind string) {
	sum := snap.Summary()
	sm := Sample{Replica: replica, At: snap.Time, Goroutines: sum.Goroutines, Heap: snap.MemStats.HeapAlloc, Collected: snap.Collected, Kind: kind}
	if len(sum.Connections) > 0 {
		sm.Connections = make(map[snapshot.ConnClass]int, len(sum.Connections))
		for c, st := range sum.Connections {
			sm.Connections[c] = st.Count
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touchLocked(replica)
	s.samples = append(s.samples, sm)
	if len(s.samples) > maxSamples {
		// Keep the first and every other one after it, and the verdicts'
		// (collected) figures.
		kept := s.samples[:1]
		for i, x := range s.samples[1:] {
			if i%2 == 1 || x.Collected {
				kept = append(kept, x)
			}
		}
		s.samples = kept
		s.thinned++
	}
}

// since is how long ago the last capture of a replica was taken, and the
// factor the sampler's interval is stretched by after thinning.
func (s *series) since(replica string) (time.Duration, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Since(s.last[replica]), 1 << s.thinned
}

// touch counts a failed capture as a capture for the spacing.
func (s *series) touch(replica string) {
	s.mu.Lock()
	s.touchLocked(replica)
	s.mu.Unlock()
}

func (s *series) touchLocked(replica string) {
	if s.last == nil {
		s.last = map[string]time.Time{}
	}
	s.last[replica] = time.Now()
}

func (s *series) snapshot() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Sample, len(s.samples))
	copy(out, s.samples)
	return out
}

// startSampler samples a replica with light captures (the goroutine
// profile and MemStats, no GC) until the run closes, each spaced by its
// own cost so that sampling takes at most half the run's budget of a core
// on the target (snapshot.Pace), and skipped while the drill's own polls
// keep the timeline fresh.
func (r *Runner) startSampler(rep *replica) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// interval is the spacing the last capture's cost asks for; the
		// sampler sleeps what is left of it since the last capture of
		// any kind.
		interval := r.cfg.pollFloor
		for {
			since, stretch := r.series.since(rep.Name)
			if left := interval*time.Duration(stretch) - since; left > 0 {
				if sleep(ctx, left) != nil {
					return
				}
				continue
			}
			// A target that hangs must not hold the sampler (and the
			// client's one connection) for the client's whole timeout.
			cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
			s, err := rep.client.CaptureLight(cctx)
			ccancel()
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				// The target is busy or gone: the drill's own captures
				// will say; try again later.
				interval = max(time.Second, r.cfg.pollFloor)
				r.series.touch(rep.Name)
			default:
				// Half the budget: a capture's wall time, which paces it,
				// understates its CPU time when the target answers on
				// more than one core, and the drill's own polls share the
				// budget.
				interval = snapshot.Pace(s.Cost, r.cfg.pollFloor, r.cfg.budget/2)
			}
		}
	}()
	r.onCleanup(func(context.Context) error {
		cancel()
		<-done
		return nil
	})
}
