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
//	            from: tbf     from: nft input drop
//	            to:  ◀── nft output drop / tbf on the ns veth ◀──
//
// Directions read as in the proxy and in Chaos Mesh with the upstream as the
// selected side: to is the packets the upstream side sends the service (they
// leave the namespace), from is the packets the service sends it (they enter
// the namespace).
//
//   - [Partition] and [Loss] are nftables rules in a table of their own
//     inside the namespace, so removing a fault is deleting its table.
//   - [Bandwidth] is a tbf qdisc on the sending end of the veth.
//   - [Delay] needs the netem qdisc. Not every kernel has it (this project's
//     CI machine does not); [NetemSupport] says so, and a Delay is refused
//     with that reason rather than left out.
//
// Nothing outlives the process: the namespace is anonymous, held only by
// the Host's handle and the relay's sockets, so when the process ends,
// however it ends, the kernel destroys the namespace, its rules, its
// qdiscs and both ends of the veth. Leases cover the other case, a live
// process that stopped looking after its faults. Only the veth's host end
// and its /30 route live in this machine's namespace, and both go with the
// Host.
//
// Everything here needs CAP_NET_ADMIN (root).
package netns
