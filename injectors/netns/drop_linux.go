//go:build linux

package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

func (p Partition) apply(h *Host, id string) (func() error, error) {
	return h.dropTable(id, p.Direction, 0)
}

func (l Loss) apply(h *Host, id string) (func() error, error) {
	return h.dropTable(id, l.Direction, l.Percent)
}

// lossScale is numgen's modulus: percentages to a hundredth.
const lossScale = 10000

// dropTable drops the direction's packets where they arrive, at the
// ingress of the receiving end of the veth, each with probability
// percent/100 (all of them for 0): to arrives at this machine's end, from
// at the namespace's. Dropping on arrival, not on departure, is what makes
// it loss: a packet dropped on its way out fails its send with EPERM, and
// TCP retries at once instead of detecting a loss and retransmitting.
//
// Each direction is a netdev table of its own, owned by a netlink socket
// the fault holds open (ownedIngressDrop): removing the fault closes the
// socket, which removes the table, and a process that dies takes its
// tables with it.
func (h *Host) dropTable(id string, d Direction, percent float64) (func() error, error) {
	ends := []struct {
		dir   Direction
		dev   string
		netns int
	}{
		{To, h.hostLink.Attrs().Name, 0},         // the service's end, on this machine
		{From, h.nsLink.Attrs().Name, int(h.ns)}, // the namespace's end
	}
	var owners []io.Closer
	undo := func() error { // may be called again after it failed
		var errs []error
		for i, c := range owners {
			if c == nil {
				continue
			}
			if err := c.Close(); err != nil {
				errs = append(errs, err)
				continue
			}
			owners[i] = nil
		}
		return errors.Join(errs...)
	}
	for _, e := range ends {
		if !covers(d, e.dir) {
			continue
		}
		// Named after the Host's device too: the tables on this machine
		// are shared by every Host of every process.
		name := fmt.Sprintf("aftershock_%s_%s_%s", h.hostLink.Attrs().Name, id, e.dir)
		c, err := ownedIngressDrop(e.netns, name, e.dev, dropRule(percent))
		if err != nil {
			return nil, errors.Join(err, undo())
		}
		owners = append(owners, c)
	}
	return undo, nil
}

// dropRule drops IPv4 packets, a percent of them at random or all for 0.
// ARP passes: a partition must not also cut the neighbour resolution
// that the other direction needs.
func dropRule(percent float64) []expr.Any {
	exprs := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, unix.ETH_P_IP)},
	}
	if percent > 0 && percent < 100 {
		// nft compares registers as big-endian bytes, so the random
		// number is turned around before the comparison, as the nft
		// command does for "numgen random mod N < M".
		exprs = append(exprs,
			&expr.Numgen{Register: 1, Modulus: lossScale, Type: unix.NFT_NG_RANDOM},
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
			&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binary.BigEndian.AppendUint32(nil, uint32(math.Round(percent*lossScale/100)))},
		)
	}
	return append(exprs, &expr.Verdict{Kind: expr.VerdictDrop})
}
