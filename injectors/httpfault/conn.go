package httpfault

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/aftershock/aftershock/injectors/proxy"
)

// h2Preface opens an HTTP/2 connection with prior knowledge (h2c).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// maxPipelined bounds the requests forwarded and not yet answered on one
// connection; a client that pipelines more waits.
const maxPipelined = 64

// httpConn is the HTTP layer of one proxied connection: one goroutine reads
// requests from the client and writes them towards the upstream, another
// reads responses from the upstream and writes them towards the client.
// Both write into pipes the proxy's pumps read, so network faults apply
// after the HTTP faults.
type httpConn struct {
	p       *Proxy
	c       *proxy.Conn
	pending chan *http.Request // forwarded, awaiting a response, in order
	raw     atomic.Bool        // HTTP/2 prior knowledge: no more parsing
}

func (p *Proxy) handle(c *proxy.Conn) (toUpstream, toClient net.Conn) {
	upR, upW := net.Pipe()
	dnR, dnW := net.Pipe()
	h := &httpConn{p: p, c: c, pending: make(chan *http.Request, maxPipelined)}
	c.Go(func() { h.requests(upW) })
	c.Go(func() { h.responses(dnW) })
	return upR, dnR
}

// requests forwards the client's requests to w, applying Request faults.
func (h *httpConn) requests(w net.Conn) {
	defer w.Close() // EOF to the pump: it passes the FIN on
	br := bufio.NewReader(h.c.Client())
	// "PRI " starts the HTTP/2 preface and no HTTP/1 request; four bytes
	// never wait on a real HTTP/1 request, the whole preface could.
	if b, err := br.Peek(4); err == nil && string(b) == h2Preface[:4] {
		h.raw.Store(true)
		h.copyRaw(w, br)
		return
	}
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				h.c.Close() // malformed or reset: nothing sensible to pass on
			}
			return
		}
		h.p.requests.Add(1)
		if abort, err := h.onRequest(req); abort || err != nil {
			h.abort()
			return
		}
		if _, ok := req.Header["User-Agent"]; !ok {
			req.Header["User-Agent"] = []string{""} // or Write adds Go's own
		}
		upgrade := isUpgrade(req)
		select {
		case h.pending <- req:
		case <-h.c.Done():
			return
		}
		if err := req.Write(w); err != nil {
			h.c.Close()
			return
		}
		if upgrade {
			// Whatever the upstream answers, this side is no longer parsed.
			h.copyRaw(w, br)
			return
		}
	}
}

// responses forwards the upstream's responses to w, applying Response
// faults.
func (h *httpConn) responses(w net.Conn) {
	defer w.Close()
	br := bufio.NewReader(h.c.Upstream())
	for {
		if _, err := br.Peek(1); err != nil {
			if !errors.Is(err, io.EOF) {
				h.c.Close()
			}
			return
		}
		if h.raw.Load() {
			h.copyRaw(w, br)
			return
		}
		var req *http.Request
		select {
		case req = <-h.pending:
		default: // a response nobody asked for (e.g. a 408): read as for GET
		}
		resp, err := http.ReadResponse(br, req)
		for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			if err = resp.Write(w); err == nil {
				resp, err = http.ReadResponse(br, req)
			}
		}
		if err != nil {
			h.c.Close()
			return
		}
		if abort, err := h.onResponse(req, resp); abort || err != nil {
			h.abort()
			return
		}
		if err := resp.Write(w); err != nil {
			h.c.Close()
			return
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusSwitchingProtocols || req != nil && isUpgrade(req) {
			// The request side went raw after an upgrade request, whatever
			// the answer: from here on the two sides no longer pair up.
			h.copyRaw(w, br)
			return
		}
	}
}

// copyRaw passes the rest of the stream on untouched.
func (h *httpConn) copyRaw(w net.Conn, br *bufio.Reader) {
	if _, err := io.Copy(w, br); err != nil {
		h.c.Close()
	}
}

// onRequest applies the Request faults that match req, oldest first; it
// reports whether the connection must be aborted.
func (h *httpConn) onRequest(req *http.Request) (abort bool, err error) {
	return h.p.apply(Request, h.c.Done(),
		func(r *rule) bool { return r.match.request(req) },
		func(rp *Replace) { rp.request(req) },
		func(p *Patch) error { return p.request(req) })
}

// onResponse applies the Response faults that match resp (answering req).
func (h *httpConn) onResponse(req *http.Request, resp *http.Response) (abort bool, err error) {
	return h.p.apply(Response, h.c.Done(),
		func(r *rule) bool { return r.match.response(req, resp) },
		func(rp *Replace) { rp.response(resp) },
		func(p *Patch) error { return p.response(resp) })
}

// isUpgrade reports a request after which the connection may stop being
// HTTP/1: an Upgrade (WebSocket, h2c upgrade) or a CONNECT.
func isUpgrade(req *http.Request) bool {
	return req.Method == http.MethodConnect || req.Header.Get("Upgrade") != ""
}
