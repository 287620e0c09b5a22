package proxy

import (
	"fmt"
	"time"
)

// ResetPeer works like Toxiproxy's reset_peer toxic: the first byte of its
// direction that reaches the proxy on a connection starts a clock; that byte
// and every later one of the direction are swallowed, and After later the
// connection is reset, with a RST to both sides (After 0: at once). A
// connection that carries no byte of the direction is left alone. Once
// started, a clock runs out even if the fault is cleared meanwhile, as in
// Toxiproxy.
type ResetPeer struct {
	Direction Direction
	After     time.Duration
}

// Validate checks that After is not negative.
func (f ResetPeer) Validate() error {
	if f.After < 0 {
		return fmt.Errorf("reset peer: after %v is negative", f.After)
	}
	return f.Direction.validate()
}

func (f ResetPeer) String() string {
	return fmt.Sprintf("reset peer after %v %v", f.After, f.Direction)
}

func (f ResetPeer) shape(pl *plan, d Direction, _ time.Time, _ uint64) {
	if f.Direction.covers(d) && (!pl.resetPeer || f.After < pl.resetAfter) {
		pl.resetPeer, pl.resetAfter = true, f.After
	}
}
