// Package netns injects kernel faults: packets dropped, lost or throttled by
// the kernel itself (nftables, tc), not by a userspace proxy.
//
// A [Host] is a test host in a network namespace of its own, joined to this
// machine by a veth pair: the service under test dials the Host's address
// (one of a /30 in 198.18.0.0/15, the benchmarking range), and a relay
// inside the namespace forwards every connection to the real upstream on
// this machine's loopback. Faults act on the veth between the two:
//
//	service ──▶ host veth ══ ns veth ──▶ relay (in the namespace) ──▶ upstream
//	  from:     tbf (egress)   nft drop (ingress)
//	  to:       nft drop (ingress)   tbf (egress)   ◀── the relay's answers
//
// Directions read as in the proxy and in Chaos Mesh with the upstream as the
// selected side: to is the packets the upstream side sends the service (they
// leave the namespace), from is the packets the service sends it (they enter
// the namespace).
//
//   - [Partition] and [Loss] are nftables rules at the ingress of the end
//     that receives the direction's packets, each in a netdev table of its
//     own: a packet vanishes on the wire, as on a real network, and the
//     sender's TCP detects the loss and retransmits. (Dropped on its way
//     out instead, a send fails with EPERM and TCP retries at once.) The
//     veth sends wire-sized packets, so loss is drawn per packet.
//   - [Bandwidth] is a tbf qdisc on the sending end of the veth.
//   - [Delay] needs the netem qdisc. Not every kernel has it (this project's
//     CI machine does not); [NetemSupport] says so, and a Delay is refused
//     with that reason rather than left out.
//
// Nothing outlives the process: the namespace is anonymous, held only by
// the Host's handle and the relay's sockets, so when the process ends,
// however it ends, the kernel destroys the namespace, its rules, its
// qdiscs and both ends of the veth. In this machine's namespace live only
// the veth's host end with its /30 route and qdiscs, which go with the
// veth, and the tables dropping to-packets, which the kernel removes with
// the netlink socket that owns them. Leases cover the other case, a live
// process that stopped looking after its faults.
//
// Everything here needs CAP_NET_ADMIN (root).
package netns
