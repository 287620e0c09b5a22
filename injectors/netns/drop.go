package netns

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Partition drops every packet of its direction on the veth: new
// connections hang in their handshake, established ones stall and
// retransmit, and nobody sees a FIN or RST. On clear, TCP's retransmission
// resumes the connections that outlived it (after its backoff, as on a
// real network).
type Partition struct{ Direction Direction }

// Validate checks the direction.
func (p Partition) Validate() error { return validDirection(p.Direction) }

func (p Partition) String() string { return "partition " + p.Direction.String() }

func (p Partition) apply(h *Host, id string) (func() error, error) {
	return h.dropTable(id, p.Direction, 0)
}

// Loss drops each packet of its direction with probability Percent/100,
// drawn by the kernel per packet (nftables' numgen random), so no netem is
// needed.
type Loss struct {
	Direction Direction
	// Percent is 0 < Percent ≤ 100, to a hundredth.
	Percent float64
}

// Validate checks the direction and the percentage.
func (l Loss) Validate() error {
	if err := validDirection(l.Direction); err != nil {
		return err
	}
	if !(l.Percent > 0 && l.Percent <= 100) {
		return fmt.Errorf("loss %g%%: want more than 0 and at most 100", l.Percent)
	}
	return nil
}

func (l Loss) String() string { return fmt.Sprintf("loss %g%% %s", l.Percent, l.Direction) }

func (l Loss) apply(h *Host, id string) (func() error, error) {
	return h.dropTable(id, l.Direction, l.Percent)
}

// lossScale is numgen's modulus: percentages to a hundredth.
const lossScale = 10000

// dropTable installs, inside the namespace, a table of its own named after
// the fault, whose chains drop the direction's packets on the veth, each
// with probability percent/100 (all of them for 0). Removing the fault is
// deleting the table, which takes its chains and rules with it.
func (h *Host) dropTable(id string, d Direction, percent float64) (func() error, error) {
	conn, err := nftables.New(nftables.WithNetNSFd(int(h.ns)))
	if err != nil {
		return nil, fmt.Errorf("nftables in the namespace: %w", err)
	}
	table := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "aftershock_" + id})
	dev := h.nsLink.Attrs().Name
	hooks := []struct {
		dir  Direction
		hook *nftables.ChainHook
		key  expr.MetaKey
	}{
		{From, nftables.ChainHookInput, expr.MetaKeyIIFNAME}, // into the namespace
		{To, nftables.ChainHookOutput, expr.MetaKeyOIFNAME},  // out of it
	}
	for _, hk := range hooks {
		if !covers(d, hk.dir) {
			continue
		}
		chain := conn.AddChain(&nftables.Chain{
			Name: hk.dir.String(), Table: table, Type: nftables.ChainTypeFilter,
			Hooknum: hk.hook, Priority: nftables.ChainPriorityFilter,
		})
		exprs := []expr.Any{
			&expr.Meta{Key: hk.key, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(dev)},
		}
		if percent > 0 && percent < 100 {
			// nft compares registers as big-endian bytes, so the random
			// number is turned around before the comparison, as the nft
			// command does for "numgen random mod N < M".
			threshold := make([]byte, 4)
			binary.BigEndian.PutUint32(threshold, uint32(percent*lossScale/100+0.5))
			exprs = append(exprs,
				&expr.Numgen{Register: 1, Modulus: lossScale, Type: unix.NFT_NG_RANDOM},
				&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
				&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: threshold},
			)
		}
		exprs = append(exprs, &expr.Verdict{Kind: expr.VerdictDrop})
		conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: exprs})
	}
	if err := conn.Flush(); err != nil {
		return nil, fmt.Errorf("nftables table %s in the namespace: %w", table.Name, err)
	}
	return func() error {
		conn.DelTable(table)
		if err := conn.Flush(); err != nil {
			return fmt.Errorf("delete nftables table %s in the namespace: %w", table.Name, err)
		}
		return nil
	}, nil
}

// ifname pads a device name as the kernel stores it: IFNAMSIZ bytes.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}
