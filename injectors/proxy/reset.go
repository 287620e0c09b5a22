package proxy

import (
	"fmt"
	"time"
)

// Reset is a partition that rejects, as Chaos Mesh's partition with
// partitionBehavior reject: the peers see connections reset rather than
// hang. While it is set, every new connection is reset right after it is
// accepted, without dialing the upstream (a handshake needs both ways).
// Both resets every open connection at once, with a RST to each side (as
// Toxiproxy's reset_peer); one direction resets an open connection when
// the first byte of that direction reaches the proxy, as a firewall's
// reject does, and leaves the other direction's traffic alone until then.
type Reset struct {
	Direction Direction
}

// Validate checks the direction.
func (f Reset) Validate() error { return f.Direction.validate() }

func (f Reset) String() string { return fmt.Sprintf("reset %v", f.Direction) }

func (f Reset) shape(pl *plan, d Direction, _ time.Time, _ uint64) {
	if d == To {
		pl.resetNew = true
	}
	switch {
	case f.Direction == Both:
		pl.reset = true
	case f.Direction == d:
		pl.rejected = true
	}
}
