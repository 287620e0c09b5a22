package proxy

import "time"

// Partition cuts the upstream off from the service both ways, the way a
// network partition does, not the way a crashed process does:
//
//   - no byte flows either way; what is sent meanwhile is held (up to
//     partitionHold bytes per direction and connection, then the sender
//     feels back-pressure) and delivered when the partition is cleared;
//   - no FIN and no RST is delivered: when one side closes during the
//     partition, its FIN is swallowed and the other side stays open; when
//     that side sends data after the clear, it gets a RST — the half-open
//     connection a real partition leaves behind;
//   - new connections are accepted and held without dialing the upstream,
//     so a connect seems to hang instead of being refused; on clear they are
//     dialed and proceed.
type Partition struct{}

// Validate never fails: a partition has no parameters.
func (Partition) Validate() error { return nil }

func (Partition) String() string { return "partition both" }

func (Partition) shape(pl *plan, _ Direction, _ time.Time, _ uint64) { pl.partitioned = true }

// partitionHold bounds what a pump reads and holds during a partition. It
// keeps reading (rather than stopping) so that it sees a FIN or RST arrive
// during the partition and can swallow it.
const partitionHold = 256 << 10
