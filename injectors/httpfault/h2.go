package httpfault

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"

	"github.com/aftershock/aftershock/injectors/proxy"
	"google.golang.org/grpc/codes"
)

// h2front is the HTTP/2 side of a proxy of NewH2: a server that
// terminates the service's connections and a reverse proxy that forwards
// each stream over connections of its own, through the TCP proxy.
type h2front struct {
	ln  net.Listener
	srv *http.Server
	tr  *http.Transport
	rp  *httputil.ReverseProxy

	mu     sync.Mutex
	closed bool
	active sync.WaitGroup // the server's Serve and every stream being served
}

// enter counts a stream in, unless the front is closed.
func (f *h2front) enter() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.active.Add(1)
	return true
}

// NewH2 starts a proxy from listen to forward that speaks HTTP/2 without
// TLS (h2c, gRPC on a plaintext port) on both sides. It terminates each
// connection of the service and applies HTTP faults per request and gRPC
// faults per call — per stream: the other streams of the same connection
// are left alone, on connections opened before the fault too — and
// forwards every stream to the upstream over HTTP/2 connections of its
// own, through a TCP proxy (Network) where network faults act as on a
// wire, on every stream of a connection. Streamed responses are flushed as
// they come, trailers passed on. opts configure the TCP proxy.
func NewH2(listen, forward string, opts ...proxy.Option) (*Proxy, error) {
	p := &Proxy{faults: newRules(), calls: newCallRules()}
	np, err := proxy.New("127.0.0.1:0", forward, opts...)
	if err != nil {
		return nil, fmt.Errorf("h2 fault proxy: %w", err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		np.Close()
		return nil, fmt.Errorf("h2 fault proxy listen %s: %w", listen, err)
	}
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	upstream := np.Addr().String()
	tr := &http.Transport{
		Protocols:           &h2c,
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
	f := &h2front{ln: ln, tr: tr}
	f.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", upstream
			pr.Out.Host = pr.In.Host
		},
		Transport:      tr,
		FlushInterval:  -1, // streams: every write goes on at once
		ModifyResponse: p.onH2Response,
		// A client that goes away mid-stream is what faults cause; it
		// is not news worth the process's log.
		ErrorLog: log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			switch {
			case errors.Is(err, errAbortStream):
				panic(http.ErrAbortHandler) // resets the stream, not the connection
			case isGRPC(r):
				// What a gRPC client makes of an upstream it cannot reach.
				writeStatus(w, &Status{Code: codes.Unavailable, Message: "aftershock proxy: upstream: " + err.Error()})
			default:
				w.WriteHeader(http.StatusBadGateway)
			}
		},
	}
	f.srv = &http.Server{Handler: http.HandlerFunc(p.serveH2), Protocols: &h2c, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: nil}
	p.net, p.h2 = np, f
	f.active.Add(1)
	go func() {
		defer f.active.Done()
		_ = f.srv.Serve(ln)
	}()
	return p, nil
}

// close closes the listener and every connection, and waits for the
// streams being served to end (closing the connections cancels them).
func (f *h2front) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	_ = f.srv.Close()
	f.active.Wait()
	f.tr.CloseIdleConnections()
}

// errAbortStream makes the reverse proxy's error handler reset the stream.
var errAbortStream = errors.New("abort stream")

// serveH2 applies the faults to one stream and forwards it.
func (p *Proxy) serveH2(w http.ResponseWriter, r *http.Request) {
	if !p.h2.enter() {
		panic(http.ErrAbortHandler) // closing
	}
	defer p.h2.active.Done()
	p.requests.Add(1)
	done := r.Context().Done()
	if isGRPC(r) {
		for _, rule := range p.calls.load() {
			if !rule.selects(r.URL.Path) {
				continue
			}
			if d := rule.delay(); d > 0 && !hold(d, done) {
				return // the caller went away
			}
			switch {
			case rule.Fault.Abort != nil:
				writeStatus(w, rule.Fault.Abort)
				return
			case rule.Fault.Reset:
				panic(http.ErrAbortHandler)
			}
		}
	}
	abort, err := p.apply(Request, done,
		func(rl *rule) bool { return rl.match.request(r) },
		func(rp *Replace) { rp.request(r) },
		func(pt *Patch) error { return pt.request(r) })
	if abort || err != nil {
		panic(http.ErrAbortHandler)
	}
	p.h2.rp.ServeHTTP(w, r)
}

// onH2Response applies the Response faults to resp.
func (p *Proxy) onH2Response(resp *http.Response) error {
	req := resp.Request
	abort, err := p.apply(Response, req.Context().Done(),
		func(rl *rule) bool { return rl.match.response(req, resp) },
		func(rp *Replace) { rp.response(resp) },
		func(pt *Patch) error { return pt.response(resp) })
	if abort || err != nil {
		return errAbortStream
	}
	return nil
}

// isGRPC tells a gRPC call.
func isGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// apply runs the actions of every HTTP fault on target that matches,
// oldest first, each in the order delay, abort, replace, patch. It
// reports whether the message must be aborted (an abort, or done closed
// during a delay).
func (p *Proxy) apply(target Target, done <-chan struct{}, matches func(*rule) bool, replace func(*Replace), patch func(*Patch) error) (abort bool, err error) {
	for _, r := range p.faults.load() {
		f := r.Fault
		if f.Target != target || !matches(r) {
			continue
		}
		if f.Delay > 0 && !hold(f.Delay, done) {
			return true, nil
		}
		if f.Abort {
			return true, nil
		}
		if f.Replace != nil {
			replace(f.Replace)
		}
		if f.Patch != nil {
			if err := patch(f.Patch); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}
