package proxy

import (
	"fmt"
	"time"
)

// Bandwidth limits a direction to Rate bytes per second, per connection.
// With several limits on one direction the smallest wins.
type Bandwidth struct {
	Direction Direction
	// Rate is in bytes per second.
	Rate int64
}

// Validate checks that the rate is positive.
func (f Bandwidth) Validate() error {
	if f.Rate <= 0 {
		return fmt.Errorf("bandwidth: rate %d bytes/s is not positive", f.Rate)
	}
	return f.Direction.validate()
}

func (f Bandwidth) String() string {
	return fmt.Sprintf("bandwidth %d B/s %v", f.Rate, f.Direction)
}

func (f Bandwidth) shape(pl *plan, d Direction, _ time.Time, _ uint64) {
	if f.Direction.covers(d) && (pl.rate == 0 || f.Rate < pl.rate) {
		pl.rate = f.Rate
	}
}

// chunkSize is how much a pump reads at once under pl: small enough that a
// bandwidth limit paces about 50 chunks a second, so the rate holds over
// short transfers too.
func (pl *plan) chunkSize(size int) int {
	if pl.rate == 0 {
		return size
	}
	return min(max(int(pl.rate/50), 1), size)
}

// paceFor is how long n bytes take at the plan's rate.
func (pl *plan) paceFor(n int) time.Duration {
	return time.Duration(int64(n) * int64(time.Second) / pl.rate)
}
