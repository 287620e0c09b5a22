package snapshot

import "strings"

// ConnClass is a kind of network connection, told from the stack of the
// goroutine that owns it.
type ConnClass string

// Connection classes. Each connection is counted once, by the one goroutine
// that lives exactly as long as it (the read loop or the serving loop).
const (
	// HTTPServer is an HTTP/1 connection served by net/http.(*conn).serve.
	HTTPServer ConnClass = "http1-server"
	// HTTP2Server is an HTTP/2 server connection (bundled or x/net http2).
	HTTP2Server ConnClass = "http2-server"
	// HTTPClientIdle is a pooled HTTP/1 client connection whose readLoop is
	// parked reading the socket: healthy, it goes at the pool's idle timeout
	// (or carries a request in flight).
	HTTPClientIdle ConnClass = "http1-client-idle"
	// HTTPClientAwaiting is an HTTP/1 client connection carrying a request
	// whose caller still waits for the answer (parked in the transport's
	// round trip): busy, not idle, even though its readLoop looks the same
	// as an idle one's. Behind a partition, a caller without a deadline
	// keeps one of these forever.
	HTTPClientAwaiting ConnClass = "http1-client-awaiting"
	// HTTPClientBodyPending is an HTTP/1 client connection whose readLoop
	// waits for the application to read or close the response body: the
	// classic leak of an unclosed resp.Body.
	HTTPClientBodyPending ConnClass = "http1-client-body-pending"
	// HTTP2Client is an HTTP/2 client connection.
	HTTP2Client ConnClass = "http2-client"
	// GRPCClient is a gRPC client transport.
	GRPCClient ConnClass = "grpc-client"
	// GRPCServer is a gRPC server transport.
	GRPCServer ConnClass = "grpc-server"
	// Listener is a goroutine parked in Accept on a listening socket.
	Listener ConnClass = "listener"
)

// ConnClasses lists every class, in the order reports print them.
var ConnClasses = []ConnClass{
	HTTPServer, HTTP2Server, HTTPClientIdle, HTTPClientAwaiting, HTTPClientBodyPending,
	HTTP2Client, GRPCClient, GRPCServer, Listener,
}

// The net/http internals the classes are told by; this file is the one
// place that knows them.
const (
	h1ReadLoop  = "net/http.(*persistConn).readLoop"
	h1WriteLoop = "net/http.(*persistConn).writeLoop"
	h1RoundTrip = "net/http.(*persistConn).roundTrip"
	// h1BackgroundRead is a served connection's watch for the client
	// going away while a handler runs.
	h1BackgroundRead = "net/http.(*connReader).backgroundRead"
)

// PooledIdle tells whether a group's goroutines may belong to idle pooled
// HTTP/1 client connections, which are healthy and close at the pool's
// idle timeout: the readLoop of a connection parked reading its socket,
// and the writeLoop every HTTP/1 client connection has, which looks the
// same whether the connection is idle or leaked. Tolerances allow such
// groups the idle allowance; connections that are not idle are caught by
// their class (body pending, awaiting) and by the callers' own groups.
func PooledIdle(g Group) bool {
	return g.Conn == HTTPClientIdle || g.Culprit.Function == h1WriteLoop
}

// awaitingCaller tells a goroutine parked in an HTTP/1 round trip: it
// waits for the answer on one of the transport's connections.
func awaitingCaller(frames []Frame) bool {
	for i := range frames {
		if frames[i].Function == h1RoundTrip {
			return true
		}
	}
	return false
}

// lightSelf tells a goroutine that a light snapshot leaves out as the
// capture's own: the background read of the connection serving the
// capture. Without creators it cannot be told from another request's, but
// it lives only while a request is served; a handler that never returns
// still shows in its own group.
func lightSelf(frames []Frame) bool {
	return len(frames) > 0 && frames[len(frames)-1].Function == h1BackgroundRead
}

// Classify tells which connection, if any, a goroutine stack stands for.
// frames are innermost first.
func Classify(frames []Frame) (ConnClass, bool) {
	for i := range frames {
		fn := frames[i].Function
		switch {
		case fn == h1ReadLoop:
			// Idle (or awaiting a response): parked reading the socket.
			// Otherwise it waits on the application: the body is pending.
			for _, above := range frames[:i] {
				if strings.HasPrefix(above.Function, "bufio.(*Reader).") ||
					strings.HasPrefix(above.Function, "net.(*conn).Read") ||
					strings.HasPrefix(above.Function, "net/http.(*persistConn).Read") {
					return HTTPClientIdle, true
				}
			}
			return HTTPClientBodyPending, true
		case strings.Contains(fn, "http2") && (strings.HasSuffix(fn, "ClientConn).readLoop") || strings.HasSuffix(fn, "clientConnReadLoop).run")):
			return HTTP2Client, true
		case strings.Contains(fn, "http2") && strings.HasSuffix(fn, "serverConn).serve"):
			return HTTP2Server, true
		case fn == "net/http.(*conn).serve":
			return HTTPServer, true
		case strings.HasPrefix(fn, "google.golang.org/grpc/internal/transport.(*http2Client).reader"):
			return GRPCClient, true
		case strings.HasPrefix(fn, "google.golang.org/grpc/internal/transport.(*http2Server).HandleStreams"):
			return GRPCServer, true
		case fn == "net.(*TCPListener).Accept" || fn == "net.(*UnixListener).Accept",
			// An HTTP server's accept loop is its listener wherever in
			// the loop a dump catches it (handing a new connection off,
			// not parked in Accept), or a baseline would miss it.
			fn == "net/http.(*Server).Serve":
			return Listener, true
		}
	}
	return "", false
}
