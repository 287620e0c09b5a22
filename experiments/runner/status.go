package runner

import (
	"time"

	"github.com/aftershock/aftershock/snapshot"
)

// Status is where a drill stands, for a live status line: its phase, how
// long the phase is planned to last, and the target's goroutines and
// connections at the last capture against the baseline's.
type Status struct {
	Drill, Phase, Fault string
	// PhaseStart is when the phase began; PhaseLength how long it is
	// planned to last (0: as long as it takes, e.g. the baseline).
	PhaseStart  time.Time
	PhaseLength time.Duration
	// At is when the figures were read (zero: not yet).
	At                time.Time
	Goroutines, Conns int
	Baseline          bool // BaseGoroutines and BaseConns are set
	BaseGoroutines    int
	BaseConns         int
}

// Left is how much of the phase is planned to remain at now (0 when the
// phase has no planned length or has run past it).
func (s Status) Left(now time.Time) time.Duration {
	if s.PhaseLength <= 0 {
		return 0
	}
	return max(0, s.PhaseStart.Add(s.PhaseLength).Sub(now))
}

// WithStatus calls f with the drill's status whenever a phase begins and
// whenever the target is read (every poll and sample): the CLI's live
// status line. f runs on the runner's goroutines; it must not block.
func WithStatus(f func(Status)) Option { return func(c *config) { c.status = f } }

// expect records how long the current phase is planned to last.
func (r *Runner) expect(d time.Duration) {
	r.mu.Lock()
	r.phaseLen = d
	r.mu.Unlock()
	r.reportStatus()
}

// reportStatus hands the current status to the WithStatus callback.
func (r *Runner) reportStatus() {
	if r.cfg.status == nil {
		return
	}
	r.mu.Lock()
	st := Status{Drill: r.d.Metadata.Name, PhaseLength: r.phaseLen}
	if r.phase != nil {
		st.Phase, st.Fault, st.PhaseStart = r.phase.Phase, r.phase.Fault, r.phase.Start
	}
	if b := r.firstBase(); b != nil {
		st.Baseline, st.BaseGoroutines = true, b.Goroutines
		for _, n := range b.Connections {
			st.BaseConns += n
		}
	}
	r.mu.Unlock()
	if s, ok := r.series.latest(); ok {
		st.At, st.Goroutines = s.At, s.Goroutines
		for _, n := range s.Connections {
			st.Conns += n
		}
	}
	r.cfg.status(st)
}

// latest is the last sample of the timeline.
func (s *series) latest() (Sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return Sample{}, false
	}
	return s.samples[len(s.samples)-1], true
}

// sampled records a capture in the timeline and reports the new figures.
// It also follows the process that answered (replica.watch): a
// restart is caught by whichever capture comes first after it.
func (r *Runner) sampled(rep *replica, snap *snapshot.Snapshot, kind string) {
	rep.watch.see(snap.Process(), snap.Time, r.stand)
	r.series.observe(rep.Name, snap, kind)
	r.reportStatus()
}

// firstBase is the first replica's current baseline (r.mu held).
func (r *Runner) firstBase() *Baseline {
	if len(r.reps) == 0 {
		return nil
	}
	return r.reps[0].curBase
}
