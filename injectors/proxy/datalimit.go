package proxy

import (
	"fmt"
	"time"
)

// DataLimit closes each connection once Bytes bytes have passed in its
// direction since the fault reached the connection (like Toxiproxy's
// limit_data): the bytes up to the limit are delivered, then both sockets
// are closed. With several limits on one direction the smallest wins.
type DataLimit struct {
	Direction Direction
	Bytes     int64
}

// Validate checks that the limit is positive.
func (f DataLimit) Validate() error {
	if f.Bytes <= 0 {
		return fmt.Errorf("data limit: bytes %d is not positive", f.Bytes)
	}
	return f.Direction.validate()
}

func (f DataLimit) String() string { return fmt.Sprintf("data limit %d B %v", f.Bytes, f.Direction) }

func (f DataLimit) shape(pl *plan, d Direction, _ time.Time, seq uint64) {
	if f.Direction.covers(d) && (pl.limit == 0 || f.Bytes < pl.limit) {
		pl.limit, pl.limitSeq = f.Bytes, seq
	}
}
