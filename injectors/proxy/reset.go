package proxy

import "time"

// Reset sends a RST both ways on every connection (SO_LINGER 0, then close)
// and, while it is set, resets every new connection right after accepting
// it, without dialing the upstream.
type Reset struct{}

// Validate never fails: a reset has no parameters.
func (Reset) Validate() error { return nil }

func (Reset) String() string { return "reset both" }

func (Reset) shape(pl *plan, _ Direction, _ time.Time, _ uint64) { pl.reset = true }
