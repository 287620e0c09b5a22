package proxy

import (
	"fmt"
	"time"
)

// Timeout works like Toxiproxy's timeout toxic: while it is set, the bytes of
// its direction are swallowed (read and dropped, so the sender is never held
// back and the receiver waits in vain), and each connection is closed After
// its arrival at the connection — the later of the connection's start and
// the fault's Add. After 0 never closes: the connection just goes silent.
// Bytes swallowed are lost; clearing the fault lets later bytes flow again.
type Timeout struct {
	Direction Direction
	After     time.Duration
}

// Validate checks that After is not negative.
func (f Timeout) Validate() error {
	if f.After < 0 {
		return fmt.Errorf("timeout: after %v is negative", f.After)
	}
	return f.Direction.validate()
}

func (f Timeout) String() string { return fmt.Sprintf("timeout %v %v", f.After, f.Direction) }

func (f Timeout) shape(pl *plan, d Direction, added time.Time, _ uint64) {
	if f.Direction.covers(d) {
		pl.drop = true
		pl.timeouts = append(pl.timeouts, timeoutRule{added: added, after: f.After})
	}
}
