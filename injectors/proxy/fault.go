package proxy

import (
	"slices"
	"time"
)

// Fault is one network fault. The concrete types of this package ([Delay],
// [Bandwidth], [Partition], [Reset], [SlowClose], [Timeout], [DataLimit],
// [ResetPeer], [Slicer], [Down], and [Sometimes] around one of them) are
// plain structs with time.Duration fields, so that a Drill file or a control
// API maps onto them directly; Validate says what is wrong with one.
type Fault interface {
	// Validate reports a fault that cannot be applied, naming the field.
	Validate() error
	// String describes the fault for progress lines and reports.
	String() string
	// shape adds the fault's effect on the bytes of direction d (To or
	// From) to pl. added is when the fault was set, seq its order.
	shape(pl *plan, d Direction, added time.Time, seq uint64)
}

// plan is what every active fault together does to one direction. It is
// immutable once published; a new plan replaces it when the faults change,
// and closing changed tells the pumps that wait on the old one.
type plan struct {
	latency, jitter time.Duration // Delay: summed
	rate            int64         // Bandwidth: bytes per second, the smallest; 0 = unlimited
	partitioned     bool          // Partition: hold every byte
	holdNew         bool          // Partition (any direction; on the To plan): new connections wait
	reset           bool          // Reset both: RST both sockets at once
	rejected        bool          // Reset one way: RST both sockets at this direction's first byte
	resetNew        bool          // Reset (any direction; on the To plan): new connections are reset
	burst           int64         // Bandwidth: the bucket of the limit that wins, in bytes; 0 = none (paceSlack of catch-up only)
	queue           int64         // Bandwidth: the most bytes read ahead of the pace; 0 = rate/50
	drop            bool          // Timeout: swallow the bytes
	timeouts        []timeoutRule // Timeout: close deadlines
	slowClose       time.Duration // SlowClose: hold the FIN; the longest
	limit           int64         // DataLimit: the smallest budget in bytes; 0 = none
	limitSeq        uint64        // DataLimit: which fault set limit, to restart the count
	resetPeer       bool          // ResetPeer: swallow, then RST resetAfter after the first byte
	resetAfter      time.Duration // ResetPeer: the shortest
	slice           Slicer        // Slicer: the one with the smallest average; zero = none
	down            bool          // Down: not listening, every connection closed
	partial         []partial     // Sometimes: faults each connection draws (see draws.plan)

	gen     uint64 // publication order, acknowledged by the pumps
	changed chan struct{}
}

// timeoutRule closes a connection after a time since the later of the
// connection's start and the fault's arrival.
type timeoutRule struct {
	added time.Time
	after time.Duration
}

func newPlan() *plan { return &plan{changed: make(chan struct{})} }

// passthrough reports whether the bytes can flow untouched (spliced). A slow
// close only acts at EOF, so it does not need the fault path.
func (pl *plan) passthrough() bool {
	return pl.latency == 0 && pl.jitter == 0 && pl.rate == 0 && !pl.partitioned &&
		!pl.reset && !pl.rejected && !pl.drop && len(pl.timeouts) == 0 && pl.limit == 0 &&
		!pl.resetPeer && pl.slice.AverageSize == 0 && !pl.down
}

// closeAt is when a connection started at start must be closed, or zero.
func (pl *plan) closeAt(start time.Time) time.Time {
	var at time.Time
	for _, r := range pl.timeouts {
		if r.after <= 0 {
			continue
		}
		from := r.added
		if start.After(from) {
			from = start
		}
		if t := from.Add(r.after); at.IsZero() || t.Before(at) {
			at = t
		}
	}
	return at
}

// same reports whether two plans act alike, so that a fault that does not
// change a direction does not wake its pumps.
func (pl *plan) same(o *plan) bool {
	return pl.latency == o.latency && pl.jitter == o.jitter && pl.rate == o.rate &&
		pl.partitioned == o.partitioned && pl.holdNew == o.holdNew && pl.reset == o.reset && pl.drop == o.drop &&
		pl.rejected == o.rejected && pl.resetNew == o.resetNew && pl.burst == o.burst && pl.queue == o.queue &&
		slices.Equal(pl.timeouts, o.timeouts) && pl.slowClose == o.slowClose &&
		pl.limit == o.limit && pl.limitSeq == o.limitSeq &&
		pl.resetPeer == o.resetPeer && pl.resetAfter == o.resetAfter && pl.slice == o.slice && pl.down == o.down &&
		slices.EqualFunc(pl.partial, o.partial, func(a, b partial) bool { return a.seq == b.seq })
}
