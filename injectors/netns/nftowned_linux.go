//go:build linux

package netns

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nftTableOwner is NFT_TABLE_F_OWNER (Linux 5.12): the kernel removes a
// table with this flag when the netlink socket that made it closes, and
// no other socket may change it.
const nftTableOwner = 0x2

// ownedIngressDrop makes, in the namespace netnsFD (0: this thread's), a
// netdev table called name whose chain at dev's ingress runs exprs, and
// returns the socket that owns it: closing the socket removes the table,
// and so does the end of the process, however it ends. google/nftables
// sends every table with flags 0, so the batch is built here; the
// expressions are still marshalled by google/nftables.
func ownedIngressDrop(netnsFD int, name, dev string, exprs []expr.Any) (*netlink.Conn, error) {
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netnsFD})
	if err != nil {
		return nil, fmt.Errorf("nftables socket: %w", err)
	}
	const family = unix.NFPROTO_NETDEV
	var merr error
	attrs := func(as ...netlink.Attribute) []byte {
		b, err := netlink.MarshalAttributes(as)
		if err != nil && merr == nil {
			merr = err
		}
		return b
	}
	str := func(s string) []byte { return append([]byte(s), 0) }
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	// nfgenmsg: family, version, resource id (big endian).
	nfgen := func(fam uint8, res uint16) []byte {
		return binary.BigEndian.AppendUint16([]byte{fam, unix.NFNETLINK_V0}, res)
	}
	op := func(typ uint16, flags netlink.HeaderFlags, data []byte) netlink.Message {
		return netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | typ), Flags: netlink.Request | netlink.Acknowledge | flags},
			Data:   append(nfgen(family, 0), data...),
		}
	}
	elems := make([]netlink.Attribute, len(exprs))
	for i, e := range exprs {
		b, err := expr.Marshal(family, e)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("nftables expression %T: %w", e, err)
		}
		elems[i] = netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: b}
	}
	ops := []netlink.Message{
		op(unix.NFT_MSG_NEWTABLE, netlink.Create, attrs(
			netlink.Attribute{Type: unix.NFTA_TABLE_NAME, Data: str(name)},
			netlink.Attribute{Type: unix.NFTA_TABLE_FLAGS, Data: be32(nftTableOwner)},
		)),
		op(unix.NFT_MSG_NEWCHAIN, netlink.Create, attrs(
			netlink.Attribute{Type: unix.NFTA_CHAIN_TABLE, Data: str(name)},
			netlink.Attribute{Type: unix.NFTA_CHAIN_NAME, Data: str("ingress")},
			netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_CHAIN_HOOK, Data: attrs(
				netlink.Attribute{Type: unix.NFTA_HOOK_HOOKNUM, Data: be32(unix.NF_NETDEV_INGRESS)},
				netlink.Attribute{Type: unix.NFTA_HOOK_PRIORITY, Data: be32(0)},
				netlink.Attribute{Type: unix.NFTA_HOOK_DEV, Data: str(dev)},
			)},
			netlink.Attribute{Type: unix.NFTA_CHAIN_TYPE, Data: str("filter")},
		)),
		op(unix.NFT_MSG_NEWRULE, netlink.Create|netlink.Append, attrs(
			netlink.Attribute{Type: unix.NFTA_RULE_TABLE, Data: str(name)},
			netlink.Attribute{Type: unix.NFTA_RULE_CHAIN, Data: str("ingress")},
			netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_RULE_EXPRESSIONS, Data: attrs(elems...)},
		)),
	}
	if merr != nil {
		conn.Close()
		return nil, fmt.Errorf("nftables batch: %w", merr)
	}
	batch := func(typ uint16) netlink.Message {
		return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request}, Data: nfgen(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)}
	}
	msgs := append(append([]netlink.Message{batch(unix.NFNL_MSG_BATCH_BEGIN)}, ops...), batch(unix.NFNL_MSG_BATCH_END))
	if _, err := conn.SendMessages(msgs); err != nil {
		conn.Close()
		return nil, fmt.Errorf("nftables batch: %w", err)
	}
	// One acknowledgement per operation; the kernel sends an error in
	// place of the first that failed, and the batch is undone.
	for acked := 0; acked < len(ops); {
		replies, err := conn.Receive()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("nftables table %s on %s: %w", name, dev, err)
		}
		for _, r := range replies {
			if r.Header.Type == netlink.Error {
				acked++
			}
		}
	}
	return conn, nil
}
