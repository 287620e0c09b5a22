package httpfault

// abort is the abort action: instead of passing the message on, the
// connection is closed both ways. For a Request target the service never
// gets a response; for a Response target it sees the connection close where
// the response should be.
func (h *httpConn) abort() { h.c.Close() }
