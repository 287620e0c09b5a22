package proxy

import (
	"fmt"
	"time"
)

// SlowClose holds the close of a direction for Delay: when one side closes
// (sends its FIN), the proxy waits Delay before passing the FIN on. Bytes
// still flow untouched; only the end of the stream is late.
type SlowClose struct {
	Direction Direction
	Delay     time.Duration
}

// Validate checks that the delay is positive.
func (f SlowClose) Validate() error {
	if f.Delay <= 0 {
		return fmt.Errorf("slow close: delay %v is not positive", f.Delay)
	}
	return f.Direction.validate()
}

func (f SlowClose) String() string { return fmt.Sprintf("slow close %v %v", f.Delay, f.Direction) }

func (f SlowClose) shape(pl *plan, d Direction, _ time.Time, _ uint64) {
	if f.Direction.covers(d) && f.Delay > pl.slowClose {
		pl.slowClose = f.Delay
	}
}
