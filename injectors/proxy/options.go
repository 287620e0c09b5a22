package proxy

import (
	"net"
	"time"
)

// Option configures a Proxy.
type Option interface{ apply(*options) }

type options struct {
	dialTimeout time.Duration
	handler     Handler
}

func defaultOptions() options { return options{dialTimeout: 10 * time.Second} }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithDialTimeout bounds how long dialing the upstream may take (default
// 10 s); a connection whose dial fails is closed.
func WithDialTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.dialTimeout = d })
}

// Handler rewrites the byte streams of each connection (package httpfault
// parses HTTP/1.1 with one). The proxy calls it once per connection, after
// dialing the upstream, and pumps from the two streams it returns instead of
// from the sockets: toUpstream carries what the proxy sends the upstream,
// toClient what it sends the client. The proxy's network faults apply to
// those bytes on their way out; reading deadlines on the streams must work
// (net.Pipe ends do), since they wake the pumps when faults change.
//
// The handler reads the sockets through c.Client() and c.Upstream(), starts
// its goroutines with c.Go (so that Close waits for them), and must return
// from them once c.Done() is closed. It closes the write ends of the two
// streams when its side of the conversation ends.
type Handler func(c *Conn) (toUpstream, toClient net.Conn)

// WithHandler installs a Handler; without one the proxy copies bytes as
// they are (and splices while no fault is set).
func WithHandler(h Handler) Option {
	return optionFunc(func(o *options) { o.handler = h })
}
