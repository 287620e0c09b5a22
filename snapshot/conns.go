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
	HTTPServer, HTTP2Server, HTTPClientIdle, HTTPClientBodyPending,
	HTTP2Client, GRPCClient, GRPCServer, Listener,
}

// Classify tells which connection, if any, a goroutine stack stands for.
// frames are innermost first.
func Classify(frames []Frame) (ConnClass, bool) {
	for i := range frames {
		fn := frames[i].Function
		switch {
		case fn == "net/http.(*persistConn).readLoop":
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
