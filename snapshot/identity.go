package snapshot

import (
	"fmt"
	"strings"

	"github.com/google/pprof/profile"
)

// Process is what a capture tells of the process that answered it: the
// runtime's counters that only grow while a process lives, and the binary
// it runs. Two captures whose readings cannot come from one process
// (Replaced) came from two: the service restarted between them, or
// another replica answered.
//
// A process that restarts and, before the next capture, allocates and
// collects more than the old one had is not told apart by its counters:
// captures taken a poll interval apart, of a process that ran through a
// warmup and a fault, leave it no time to. The baseline's forced GC makes
// it surer still: a fresh process has forced no GC until the drill forces
// one.
type Process struct {
	// Counters are the MemStats counters that only grow (see
	// GrowingCounters), nil when the capture read no MemStats.
	Counters map[string]uint64 `json:"counters,omitempty"`
	// BuildID and File are the main binary's, from the profile's first
	// mapping (empty when the profile does not say).
	BuildID string `json:"buildId,omitempty"`
	File    string `json:"file,omitempty"`
	// seq orders readings taken through one Client (0: unknown): a
	// capture finished on one goroutine may reach the observer after a
	// later one finished on another.
	seq uint64
}

// GrowingCounters are the runtime.MemStats figures that never go back in
// a living process, in the order a finding names the first that did.
var GrowingCounters = []string{"NumGC", "NumForcedGC", "Mallocs", "Frees", "TotalAlloc", "PauseTotalNs"}

// Process is what s tells of the process that answered it.
func (s *Snapshot) Process() Process {
	var p Process
	if s.MemStats.All != nil {
		p.Counters = make(map[string]uint64, len(GrowingCounters))
		for _, name := range GrowingCounters {
			if v, ok := s.MemStats.All[name]; ok {
				p.Counters[name] = v
			}
		}
		p.seq = s.MemStats.seq
	}
	for _, prof := range []*profile.Profile{s.GoroutineProfile, s.HeapProfile} {
		if prof != nil && len(prof.Mapping) > 0 {
			p.BuildID, p.File = prof.Mapping[0].BuildID, prof.Mapping[0].File
			break
		}
	}
	return p
}

// Before tells whether p was read before q through the same Client
// (false when the order is unknown).
func (p Process) Before(q Process) bool { return p.seq != 0 && q.seq != 0 && p.seq < q.seq }

// Replaced tells whether later, read after p, cannot come from the same
// process as p: a counter that only grows went back, or the binary
// differs. why says how it was told, as a finding quotes it: "counters
// went back (NumGC 212 → 3)".
func (p Process) Replaced(later Process) (why string, replaced bool) {
	if p.BuildID != "" && later.BuildID != "" && p.BuildID != later.BuildID {
		return fmt.Sprintf("another binary answered (build ID %s → %s)", short(p.BuildID), short(later.BuildID)), true
	}
	if p.File != "" && later.File != "" && p.File != later.File {
		return fmt.Sprintf("another binary answered (%s → %s)", p.File, later.File), true
	}
	var back []string
	for _, name := range GrowingCounters {
		a, okA := p.Counters[name]
		b, okB := later.Counters[name]
		if okA && okB && b < a {
			back = append(back, fmt.Sprintf("%s %d → %d", name, a, b))
		}
	}
	if len(back) == 0 {
		return "", false
	}
	return "counters went back (" + strings.Join(back[:min(len(back), 2)], ", ") + ")", true
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// WithOrder is p with q's place in the order of readings.
func (p Process) WithOrder(q Process) Process {
	p.seq = q.seq
	return p
}
