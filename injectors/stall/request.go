package stall

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// userAgent identifies the stalled clients in the server's logs.
const userAgent = "aftershock-stall"

// trickleLine is the header line slowloris repeats, a few bytes at a time,
// after the real headers. Repeating one valid line keeps the header block
// well-formed however long the stall lasts, so the server can only end it
// by a timeout or a header size limit, never by a parse error.
const trickleLine = "X-Aftershock-Stall: 1\r\n"

// target is the parsed base URL: where to dial and what to put in Host.
type target struct {
	raw  string
	addr string // host:port
	host string // Host header
	path string // base path without the trailing slash
}

func parseTarget(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("target %q: %w", raw, err)
	}
	switch {
	case u.Scheme == "https":
		return target{}, fmt.Errorf("target %q: https is not supported yet; stall a plain-http listener", raw)
	case u.Scheme != "http":
		return target{}, fmt.Errorf("target %q: want an http:// base URL", raw)
	case u.Host == "":
		return target{}, fmt.Errorf("target %q: no host", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return target{}, fmt.Errorf("target %q: want a base URL without user info, query or fragment", raw)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return target{raw: raw, addr: addr, host: u.Host, path: strings.TrimSuffix(u.EscapedPath(), "/")}, nil
}

// requestHead renders the request line and headers, without the blank line
// that ends the header block: slowloris sends exactly this and never the
// end, every other mode appends "\r\n".
func requestHead(t target, c Config) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s%s HTTP/1.1\r\n", c.Method, t.path, c.Path)
	h := http.Header{"Host": {t.host}, "User-Agent": {userAgent}}
	for name, values := range c.Headers {
		h[http.CanonicalHeaderKey(name)] = values
	}
	// Host first, as clients send it; the rest in a stable order.
	b.WriteString("Host: " + h.Get("Host") + "\r\n")
	h.Del("Host")
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range h[name] {
			b.WriteString(name + ": " + v + "\r\n")
		}
	}
	return b.Bytes()
}

// trickleSource returns bytes that slowloris slices its chunks from: the
// trickle line repeated so that any chunk of size n starting within the
// first line is a contiguous slice. It is shared by every client.
func trickleSource(n int) []byte {
	reps := 1 + (n+len(trickleLine)-1)/len(trickleLine)
	return []byte(strings.Repeat(trickleLine, reps))
}
