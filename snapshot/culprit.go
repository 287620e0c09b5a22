package snapshot

import "strings"

// packagePath returns the import path of a function's package:
// "net/http" for "net/http.(*conn).serve", "github.com/a/b" for
// "github.com/a/b.(*T).M.func1".
func packagePath(function string) string {
	slash := strings.LastIndexByte(function, '/')
	dot := strings.IndexByte(function[slash+1:], '.')
	if dot < 0 {
		return function
	}
	return function[:slash+1+dot]
}

// isStdlib tells whether a package belongs to the Go distribution: its first
// path element has no dot. "main" and the test-only package name are the
// application's.
func isStdlib(pkg string) bool {
	if pkg == "main" || pkg == "command-line-arguments" {
		return false
	}
	first := pkg
	if i := strings.IndexByte(pkg, '/'); i >= 0 {
		first = pkg[:i]
	}
	return !strings.Contains(first, ".")
}

// isMachinery tells whether a stdlib package is plumbing that never explains
// why a goroutine exists: the scheduler, locks, syscalls, buffered I/O.
func isMachinery(pkg string) bool {
	switch pkg {
	case "runtime", "sync", "sync/atomic", "syscall", "time", "bufio", "io", "net", "os", "unsafe", "reflect":
		return true
	}
	return strings.HasPrefix(pkg, "runtime/") || strings.HasPrefix(pkg, "internal/") ||
		strings.HasPrefix(pkg, "vendor/") || pkg == "panic" || pkg == "" ||
		strings.Contains(pkg, "/internal/")
}

// libraries are the modules whose frames the culprit looks past as it
// does past the standard library's: the transports a service speaks
// through, which never explain why a goroutine of the service's own
// exists. A gRPC stream's reader is parked deep in gRPC's transport; the
// service's function that reads the stream is what an engineer wants to
// see.
var libraries = []string{
	"google.golang.org/grpc",
	"google.golang.org/protobuf",
	"github.com/golang/protobuf",
	"golang.org/x/net",
}

// isLibrary tells whether a package belongs to one of the libraries.
func isLibrary(pkg string) bool {
	for _, l := range libraries {
		if pkg == l || strings.HasPrefix(pkg, l+"/") {
			return true
		}
	}
	return false
}

// Culprit is the frame an engineer wants to see for a goroutine: the
// innermost frame of application code (for a net/http or gRPC handler
// goroutine, the handler's frame, not net/http.(*conn).serve; for a
// goroutine reading a gRPC stream, the function that reads it); for a
// goroutine of a transport library only, its outermost frame, the
// function it was started to run
// (google.golang.org/grpc/internal/transport.(*http2Client).reader); for
// one of standard-library frames only, its outermost non-machinery frame,
// which names what it is (net/http.(*persistConn).readLoop).
func (g *Goroutine) Culprit() Frame {
	return culprit(g.Frames)
}

func culprit(frames []Frame) Frame {
	library := false
	for i := range frames {
		pkg := packagePath(frames[i].Function)
		switch {
		case isLibrary(pkg):
			library = true
		case !isStdlib(pkg):
			return frames[i]
		}
	}
	for i := len(frames) - 1; i >= 0; i-- {
		pkg := packagePath(frames[i].Function)
		if (library && isLibrary(pkg)) || (!library && !isMachinery(pkg)) {
			return frames[i]
		}
	}
	if len(frames) > 0 {
		return frames[0]
	}
	return Frame{}
}

// isSelf tells whether a goroutine serves a pprof request: the capture's
// own, which every snapshot leaves out.
func isSelf(frames []Frame) bool {
	for i := range frames {
		if strings.HasPrefix(frames[i].Function, "net/http/pprof.") {
			return true
		}
	}
	return false
}
