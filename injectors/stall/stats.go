package stall

// Stats are the counters of one injection.
type Stats struct {
	// Mode and Clients repeat the configuration.
	Mode    Mode
	Clients int
	// Connected is the number of connections open now.
	Connected int64
	// Dialed is the number of connections opened so far.
	Dialed int64
	// ServerClosed counts connections the server ended (EOF, reset) while
	// a client held them: a server with good timeouts closes slowloris and
	// idle clients, and this is where a drill sees it.
	ServerClosed int64
	// Requests counts complete requests sent (slow-read, abandon, idle
	// with KeepAliveRequest); slowloris never completes one.
	Requests int64
	// Abandoned counts abandon requests hung up on mid-flight; Answered
	// counts those of them whose response had started to arrive.
	Abandoned int64
	Answered  int64
	// BytesSent and BytesRead count payload bytes on all connections.
	BytesSent int64
	BytesRead int64
	// Errors counts failed connects and connections that ended other than
	// by the server closing them or by Clear; LastError is the latest.
	Errors    int64
	LastError string
	// Goroutines is the number of goroutines the injection runs now.
	Goroutines int64
	// Expired reports that the lease ran out and removed the fault.
	Expired bool
}

func (r *run) snapshot() Stats {
	r.mu.Lock()
	last := r.lastErr
	r.mu.Unlock()
	st := Stats{
		Mode:         r.s.cfg.Mode,
		Clients:      r.s.cfg.Count,
		Connected:    r.connected.Load(),
		Dialed:       r.dialed.Load(),
		ServerClosed: r.serverClosed.Load(),
		Requests:     r.requests.Load(),
		Abandoned:    r.abandoned.Load(),
		Answered:     r.answered.Load(),
		BytesSent:    r.bytesSent.Load(),
		BytesRead:    r.bytesRead.Load(),
		Errors:       r.errors.Load(),
		Goroutines:   r.goroutines.Load(),
		Expired:      r.expired.Load(),
	}
	if last != nil {
		st.LastError = last.Error()
	}
	return st
}
