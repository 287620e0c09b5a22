package proxy

import (
	"fmt"
	"time"
)

// Bandwidth limits a direction to Rate bytes per second, per connection,
// as a token bucket (tbf, Chaos Mesh's bandwidth) does. With several limits
// on one direction the smallest rate wins, with its bucket and queue.
type Bandwidth struct {
	Direction Direction
	// Rate is in bytes per second.
	Rate int64
	// Burst is the bucket (tbf's buffer): after an idle spell this many
	// bytes pass at once. Zero: no bucket; the pace only makes up for
	// falling behind it by at most 100 ms (a late timer, or an idle
	// spell that short), and a longer idle spell earns nothing.
	Burst int64
	// Queue bounds the bytes the proxy reads ahead of the pace (tbf's
	// limit, the bytes a link queues): beyond it the sender feels TCP's
	// back-pressure. A TCP proxy never drops bytes of a stream, so a full
	// queue slows the sender rather than losing data. Zero reads a
	// fiftieth of a second's worth at a time.
	Queue int64
}

// Validate checks that the rate is positive.
func (f Bandwidth) Validate() error {
	if f.Rate <= 0 {
		return fmt.Errorf("bandwidth: rate %d bytes/s is not positive", f.Rate)
	}
	if f.Burst < 0 || f.Queue < 0 {
		return fmt.Errorf("bandwidth: burst %d and queue %d bytes must not be negative", f.Burst, f.Queue)
	}
	return f.Direction.validate()
}

func (f Bandwidth) String() string {
	s := fmt.Sprintf("bandwidth %d B/s %v", f.Rate, f.Direction)
	if f.Burst > 0 || f.Queue > 0 {
		s += fmt.Sprintf(" (burst %d B, queue %d B)", f.Burst, f.Queue)
	}
	return s
}

func (f Bandwidth) shape(pl *plan, d Direction, _ time.Time, _ uint64) {
	if f.Direction.covers(d) && (pl.rate == 0 || f.Rate < pl.rate) {
		pl.rate, pl.burst, pl.queue = f.Rate, f.Burst, f.Queue
	}
}

// chunkSize is how much a pump reads at once under pl: small enough that a
// bandwidth limit paces about 50 chunks a second, so the rate holds over
// short transfers too.
func (pl *plan) chunkSize(size int) int {
	if pl.rate == 0 {
		return size
	}
	n := max(int(pl.rate/50), 1)
	if pl.queue > 0 {
		n = int(min(int64(n), pl.queue))
	}
	return min(n, size)
}

// paceFor is how long n bytes take at the plan's rate.
func (pl *plan) paceFor(n int) time.Duration {
	return time.Duration(int64(n) * int64(time.Second) / pl.rate)
}
