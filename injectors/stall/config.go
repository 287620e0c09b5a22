package stall

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Mode is how a stalled client misbehaves. The values are spelled as in the
// stalledClients block of a Drill file.
type Mode string

// The stalled-client modes.
const (
	// Slowloris opens connections and trickles request headers a few bytes
	// per Interval, never finishing the header block, so the server keeps
	// a connection (and, in Go, a goroutine and its buffers) per client
	// waiting for the rest of the request.
	Slowloris Mode = "slowloris"
	// SlowRead sends a complete request for a large or streaming response
	// and reads it a few bytes per Interval through a tiny receive window,
	// so the server's writes block.
	SlowRead Mode = "slow-read"
	// Idle opens connections and holds them without sending anything, or,
	// with KeepAliveRequest, after one complete keep-alive exchange.
	Idle Mode = "idle"
	// Abandon sends complete requests and hangs up AbandonAfter later, at a
	// bounded Rate: the server's handler sees its request context
	// cancelled, and a handler that does not watch it strands its work.
	Abandon Mode = "abandon"
)

// Modes lists every mode, in the order the docs present them.
func Modes() []Mode { return []Mode{Slowloris, SlowRead, Idle, Abandon} }

// ParseMode returns the Mode spelled s, or an error naming the allowed ones.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes() {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown stalled-client mode %q (allowed: %s)", s, modeList())
}

func modeList() string {
	names := make([]string, 0, len(Modes()))
	for _, m := range Modes() {
		names = append(names, string(m))
	}
	return strings.Join(names, ", ")
}

// Limits on a Config. They keep one injection bounded in file descriptors,
// memory and packets per second whatever a Drill file asks for.
const (
	// MaxCount is the most clients one Stall holds at once.
	MaxCount = 20000
	// MaxRate is the most requests per second Abandon sends.
	MaxRate = 1000
	// MaxChunkSize bounds ChunkSize.
	MaxChunkSize = 64 << 10
	// MaxRecvBuffer bounds RecvBuffer.
	MaxRecvBuffer = 4 << 20
	// MinInterval keeps the trickle and read loops from spinning.
	MinInterval = time.Millisecond
	// MaxDialConcurrency bounds DialConcurrency.
	MaxDialConcurrency = 1024
)

// Config describes the stalled clients. Zero fields take the defaults
// documented on each field. A field the chosen Mode does not use is an error
// rather than silently ignored, so a Drill file never claims a fault it
// does not inject.
type Config struct {
	// Mode is slowloris, slow-read, idle or abandon (required).
	Mode Mode
	// Count is the number of concurrent clients, 1..MaxCount (required).
	// For Abandon it bounds the requests in flight at once.
	Count int
	// Path is the request path, with an optional query, joined to the
	// target URL's path (default "/"). Slow-read wants a large or
	// streaming response, such as /stream.
	Path string
	// Method is the request method (default GET).
	Method string
	// Headers are sent after Host and User-Agent (which they may replace).
	Headers http.Header
	// Interval paces the clients (default 1s): slowloris sends ChunkSize
	// header bytes per Interval, slow-read reads ChunkSize bytes per
	// Interval, and a client that Reconnects waits Interval first.
	Interval time.Duration
	// ChunkSize is the bytes sent (slowloris, default 1) or read
	// (slow-read, default 16) per Interval, 1..MaxChunkSize.
	ChunkSize int
	// RecvBuffer is the SO_RCVBUF set before a slow-read client connects,
	// so that the advertised TCP window stays tiny (default 1024 bytes; the
	// kernel rounds it up to its minimum).
	RecvBuffer int
	// KeepAliveRequest makes an idle client send one complete request and
	// read its response (at most 1 MiB) before holding the connection, so
	// that the server holds it as an idle keep-alive connection rather
	// than a new one.
	KeepAliveRequest bool
	// Rate is the abandoned requests per second over all clients
	// (default 10, at most MaxRate).
	Rate float64
	// AbandonAfter is how long an abandon client leaves its request in
	// flight before it hangs up (default 100ms).
	AbandonAfter time.Duration
	// Reconnect makes a slowloris, slow-read or idle client whose
	// connection the server closed wait Interval and connect again, as an
	// attacker would; without it the client stays gone and Stats counts it
	// in ServerClosed.
	Reconnect bool
	// DialTimeout bounds each connect (default 5s).
	DialTimeout time.Duration
	// DialConcurrency is how many connects are in progress at once while
	// Inject opens the clients (default 64, at most MaxDialConcurrency), so
	// that 10,000 clients do not overflow the server's accept backlog.
	DialConcurrency int
}

// Validate reports every problem with c, one per line, each naming the
// field as a Drill file spells it.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Mode == "" {
		bad("mode", "required (allowed: %s)", modeList())
	} else if _, err := ParseMode(string(c.Mode)); err != nil {
		bad("mode", "%q is not allowed (allowed: %s)", c.Mode, modeList())
	}
	if c.Count < 1 || c.Count > MaxCount {
		bad("count", "%d is out of range 1..%d", c.Count, MaxCount)
	}
	if c.Path != "" && (!strings.HasPrefix(c.Path, "/") || strings.ContainsFunc(c.Path, isSpaceOrControl)) {
		bad("path", "%q must start with / and contain no spaces or control characters", c.Path)
	}
	if c.Method != "" && !httpguts.ValidHeaderFieldName(c.Method) {
		bad("method", "%q is not a valid HTTP method token", c.Method)
	}
	for name, values := range c.Headers {
		if !httpguts.ValidHeaderFieldName(name) {
			bad("headers", "%q is not a valid header name", name)
		}
		for _, v := range values {
			if !httpguts.ValidHeaderFieldValue(v) {
				bad("headers", "value of %q contains characters not allowed in a header (%q)", name, v)
			}
		}
	}
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < MinInterval) {
		bad("interval", "%v must be at least %v", c.Interval, MinInterval)
	}
	if c.ChunkSize < 0 || c.ChunkSize > MaxChunkSize {
		bad("chunkSize", "%d is out of range 1..%d", c.ChunkSize, MaxChunkSize)
	}
	if c.RecvBuffer < 0 || c.RecvBuffer > MaxRecvBuffer {
		bad("recvBuffer", "%d is out of range 1..%d", c.RecvBuffer, MaxRecvBuffer)
	}
	if c.Rate < 0 || c.Rate > MaxRate || math.IsNaN(c.Rate) {
		bad("rate", "%v is out of range (0, %d] requests per second", c.Rate, MaxRate)
	}
	if c.AbandonAfter < 0 {
		bad("abandonAfter", "%v must not be negative", c.AbandonAfter)
	}
	if c.DialTimeout < 0 {
		bad("dialTimeout", "%v must not be negative", c.DialTimeout)
	}
	if c.DialConcurrency < 0 || c.DialConcurrency > MaxDialConcurrency {
		bad("dialConcurrency", "%d is out of range 1..%d", c.DialConcurrency, MaxDialConcurrency)
	}
	errs = append(errs, c.unusedFields()...)
	if len(errs) > 0 {
		return fmt.Errorf("invalid stalled-client config: %w", errors.Join(errs...))
	}
	return nil
}

// unusedFields reports fields set for a mode that cannot honour them.
func (c Config) unusedFields() []error {
	var errs []error
	unused := func(field string, set bool, usedBy string) {
		if set {
			errs = append(errs, fmt.Errorf("%s: not used by mode %s (only by %s)", field, c.Mode, usedBy))
		}
	}
	m := c.Mode
	sendsRequest := m != Idle || c.KeepAliveRequest
	unused("path", c.Path != "" && !sendsRequest, "modes that send a request; set keepAliveRequest for idle")
	unused("method", c.Method != "" && !sendsRequest, "modes that send a request; set keepAliveRequest for idle")
	unused("headers", len(c.Headers) > 0 && !sendsRequest, "modes that send a request; set keepAliveRequest for idle")
	unused("interval", c.Interval != 0 && (m == Abandon || (m == Idle && !c.Reconnect)), "slowloris, slow-read and reconnect")
	unused("chunkSize", c.ChunkSize != 0 && m != Slowloris && m != SlowRead, "slowloris and slow-read")
	unused("recvBuffer", c.RecvBuffer != 0 && m != SlowRead, "slow-read")
	unused("keepAliveRequest", c.KeepAliveRequest && m != Idle, "idle")
	unused("rate", c.Rate != 0 && m != Abandon, "abandon")
	unused("abandonAfter", c.AbandonAfter != 0 && m != Abandon, "abandon")
	unused("reconnect", c.Reconnect && m == Abandon, "slowloris, slow-read and idle; abandon always reconnects")
	unused("dialConcurrency", c.DialConcurrency != 0 && m == Abandon, "slowloris, slow-read and idle; abandon connects at rate")
	return errs
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Path == "" {
		c.Path = "/"
	}
	if c.Method == "" {
		c.Method = http.MethodGet
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.ChunkSize == 0 {
		switch c.Mode {
		case Slowloris:
			c.ChunkSize = 1
		case SlowRead:
			c.ChunkSize = 16
		}
	}
	if c.RecvBuffer == 0 && c.Mode == SlowRead {
		c.RecvBuffer = 1024
	}
	if c.Rate == 0 && c.Mode == Abandon {
		c.Rate = 10
	}
	if c.AbandonAfter == 0 && c.Mode == Abandon {
		c.AbandonAfter = 100 * time.Millisecond
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.DialConcurrency == 0 {
		c.DialConcurrency = 64
	}
	return c
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }
