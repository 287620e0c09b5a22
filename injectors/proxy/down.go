package proxy

import "time"

// Down takes the upstream down the way a disabled Toxiproxy proxy is: the
// proxy stops listening, so a new connection is refused (the client's
// connect fails with ECONNREFUSED, as against a stopped service), and
// every open connection is closed. Clearing it listens again on the same
// address. It applies to a proxy made by New; one made by Serve (a listener
// opened elsewhere, e.g. in a network namespace) cannot listen again and
// refuses it.
type Down struct{}

// Validate accepts every Down.
func (Down) Validate() error { return nil }

func (Down) String() string { return "down (not listening; connections closed)" }

func (Down) shape(pl *plan, _ Direction, _ time.Time, _ uint64) { pl.down = true }
