package proxy

import "time"

// Partition cuts the upstream off from the service in Direction (Both, or
// one way as Chaos Mesh's NetworkChaos does it: To, the default, cuts what
// the upstream sends — the requests arrive, the answers do not), the way a
// network partition does, not the way a crashed process does:
//
//   - no byte flows in a cut direction; what is sent meanwhile is held (up to
//     partitionHold bytes per direction and connection, then the sender
//     feels back-pressure) and delivered when the partition is cleared;
//   - no FIN and no RST is delivered: when one side closes during the
//     partition, it has given up on the connection, and neither what it
//     sent during the partition nor its FIN is ever delivered (as when a
//     peer's kernel stops retransmitting): the other side stays open,
//     waiting; when it sends data after the clear, it gets a RST — the
//     half-open connection a real partition leaves behind;
//   - new connections are accepted and held without dialing the upstream,
//     whatever the direction (a handshake needs both ways), so a connect
//     seems to hang instead of being refused; on clear they are dialed and
//     proceed.
type Partition struct {
	Direction Direction
}

// Validate checks the direction.
func (f Partition) Validate() error { return f.Direction.validate() }

func (f Partition) String() string { return "partition " + f.Direction.String() }

func (f Partition) shape(pl *plan, d Direction, _ time.Time, _ uint64) {
	if f.Direction.covers(d) {
		pl.partitioned = true
	}
	if d == To {
		pl.holdNew = true
	}
}

// partitionHold bounds what a pump reads and holds during a partition. It
// keeps reading (rather than stopping) so that it sees a FIN or RST arrive
// during the partition and can swallow it.
const partitionHold = 256 << 10
