// Package proxy is a userspace TCP fault proxy: it listens on one address,
// forwards every accepted connection to another, and applies network faults
// that are set and cleared at run time, by name, each with an optional lease
// after which it removes itself.
//
// # Directions
//
// Directions read as in Chaos Mesh's NetworkChaos with the upstream (the
// forward address) as the selected side: [To] is the bytes flowing from the
// upstream to the service (the proxy's client), [From] the bytes the service
// sends to the upstream, [Both] both.
//
// # Faults
//
// One fault per file: [Delay] (latency with jitter, order preserved),
// [Bandwidth], [Partition], [Reset], [SlowClose], [Timeout] and [DataLimit].
// Every fault applies to connections opened before it as well as to new ones.
//
// # Cost
//
// Each connection is served by two goroutines, one pump per direction. While
// no fault shapes a direction, its pump copies with io.Copy between the two
// *net.TCPConn, which splices on Linux (no user-space copy, no buffer). When
// a fault arrives, the proxy wakes the pumps of the directions it changes by
// setting a read deadline in the past; they continue on the fault path (a
// pooled buffer, the fault pipeline) and go back to splicing when the fault is
// cleared. Pumps of directions a fault does not touch are not woken.
//
// # HTTP
//
// [WithHandler] lets another layer (package httpfault) rewrite the byte
// streams of each connection while the network faults of this package still
// apply to the bytes on their way out.
package proxy
