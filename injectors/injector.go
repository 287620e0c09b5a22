// Package injectors holds the one contract every fault mechanism implements.
// Each mechanism lives in a subpackage of its own: proxy (TCP faults through
// a userspace proxy), httpfault (HTTP faults on top of it), stall (stalled
// clients against the service under test), netns (kernel faults on a veth
// into a network namespace) and chaosmesh (Chaos Mesh objects on a
// cluster).
package injectors

import (
	"context"
	"time"
)

// Injector is one fault that can be applied to and removed from a running
// system.
//
// Clear must be idempotent and safe to call at any time: before Inject,
// after a failed Inject, twice, and concurrently with itself. The runner
// calls it on every exit path (error, panic, signal), so it must never
// block for long and must not depend on Inject having succeeded.
type Injector interface {
	// Inject applies the fault. A positive lease bounds how long the fault
	// may stay applied without Clear: when it runs out, the fault removes
	// itself, so a runner that dies cannot leave it behind.
	Inject(ctx context.Context, lease time.Duration) error
	// Clear removes the fault and releases everything Inject acquired.
	Clear(ctx context.Context) error
	// String describes the fault for progress lines and reports.
	String() string
}

// Reporter is an Injector that can say what its injection did (a stalled
// client's connections opened and closed by the server, say), for results
// and reports; runners find it by type assertion.
type Reporter interface {
	// Report returns the counters of the last injection; it stays valid
	// after Clear.
	Report() any
}
