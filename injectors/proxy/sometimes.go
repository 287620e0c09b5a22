package proxy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Sometimes applies Fault to a share of the connections, as Toxiproxy's
// toxicity does: each connection draws once, when the fault reaches it (its
// start, or the Add of the fault if it was open then), whether the fault
// applies to it, with probability Toxicity. Setting the fault again (Replace)
// draws again. Fault must act per connection: not Down (the listener is one
// for all) and not another Sometimes.
type Sometimes struct {
	Fault    Fault
	Toxicity float64
}

// Validate checks the toxicity and the fault it wraps.
func (f Sometimes) Validate() error {
	switch f.Fault.(type) {
	case nil:
		return fmt.Errorf("sometimes: no fault")
	case Sometimes, *Sometimes:
		return fmt.Errorf("sometimes: a share of a share; set one toxicity")
	case Down, *Down:
		return fmt.Errorf("sometimes: down stops the listener for every connection; it cannot apply to a share of them")
	}
	if !(f.Toxicity >= 0 && f.Toxicity <= 1) {
		return fmt.Errorf("sometimes: toxicity %v is outside [0, 1]", f.Toxicity)
	}
	return f.Fault.Validate()
}

func (f Sometimes) String() string {
	return fmt.Sprintf("%v on %g%% of connections", f.Fault, 100*f.Toxicity)
}

// shape leaves the fault to each connection's own plan (see draws.plan).
func (f Sometimes) shape(pl *plan, _ Direction, added time.Time, seq uint64) {
	pl.partial = append(pl.partial, partial{f: f.Fault, toxicity: f.Toxicity, added: added, seq: seq})
}

// partial is a fault of a plan that applies to the connections that drew it.
type partial struct {
	f        Fault
	toxicity float64
	added    time.Time
	seq      uint64
}

// draws are one connection's draws of the Sometimes faults, by the seq of
// the fault: a fault set again has a new seq and is drawn again.
type draws struct {
	mu sync.Mutex
	m  map[uint64]bool
}

// plan is the connection's own plan for direction d: the proxy's plan plus
// the partial faults this connection drew. Without partial faults it is
// the proxy's plan itself, so the common case costs nothing.
func (dr *draws) plan(global *plan, d Direction) *plan {
	if len(global.partial) == 0 {
		return global
	}
	own := *global // shares gen and changed: it is the same publication
	own.partial = nil
	own.timeouts = slices.Clone(global.timeouts)
	for _, pf := range global.partial {
		if dr.applies(pf) {
			pf.f.shape(&own, d, pf.added, pf.seq)
		}
	}
	return &own
}

func (dr *draws) applies(pf partial) bool {
	dr.mu.Lock()
	defer dr.mu.Unlock()
	hit, ok := dr.m[pf.seq]
	if !ok {
		if dr.m == nil {
			dr.m = map[uint64]bool{}
		}
		// As Toxiproxy: a draw below the toxicity applies the fault, so 0
		// never applies and 1 always does.
		hit = rand.Float64() < pf.toxicity
		dr.m[pf.seq] = hit
	}
	return hit
}
