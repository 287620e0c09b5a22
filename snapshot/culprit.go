package snapshot

import (
	"slices"
	"strings"
)

// packagePath returns the import path of a function's package:
// "net/http" for "net/http.(*conn).serve", "github.com/a/b" for
// "github.com/a/b.(*T).M.func1".
func packagePath(function string) string {
	slash := strings.LastIndexByte(function, '/')
	dot := strings.IndexByte(function[slash+1:], '.')
	pkg := function
	if dot >= 0 {
		pkg = function[:slash+1+dot]
	}
	// The linker escapes dots in a path's last element ("gopkg.in/yaml%2ev3").
	if strings.Contains(pkg, "%2e") {
		pkg = strings.ReplaceAll(pkg, "%2e", ".")
	}
	return pkg
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

// Culprit is the frame an engineer wants to see for a goroutine, by code's
// rule of whose code a frame is (see Code): the innermost frame of the
// service's own code, past the standard library's and its dependencies'
// (for a net/http or gRPC handler goroutine, the handler's frame, not
// net/http.(*conn).serve; for a goroutine reading a gRPC stream, the
// function that reads it); for a goroutine with no frame of the
// service's own, the outermost frame of a dependency, the function it was
// started to run (google.golang.org/grpc/internal/transport.(*http2Client).reader);
// for one of standard-library frames only, its outermost non-machinery
// frame, which names what it is (net/http.(*persistConn).readLoop).
func (g *Goroutine) Culprit(code *Code) Frame {
	return culprit(g.Frames, code)
}

func culprit(frames []Frame, code *Code) Frame {
	dep := -1
	for i := range frames {
		switch code.Owner(frames[i]) {
		case Own:
			return frames[i]
		case Dependency:
			dep = i
		}
	}
	if dep >= 0 {
		return frames[dep]
	}
	for i := len(frames) - 1; i >= 0; i-- {
		if !isMachinery(packagePath(frames[i].Function)) {
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

// CallSite is the service's own call site behind goroutine g, read
// exactly in its ancestry (GODEBUG=tracebackancestors=N): in the nearest
// ancestor whose stack ran the service's own code, the first own frame
// outward of the outermost call into an HTTP or gRPC client (past the
// service's own transport wrappers and interceptors, and generated
// stubs), else its innermost own frame. ok is false when g carries no
// ancestry, or none of its ancestors ran the service's code.
func (g *Goroutine) CallSite(code *Code) (site Frame, ok bool) {
	for _, a := range g.Ancestors {
		if f, ok := callSiteIn(a.Frames, code); ok {
			return f, true
		}
	}
	return Frame{}, false
}

func callSiteIn(frames []Frame, code *Code) (Frame, bool) {
	from := 0
	for i := len(frames) - 1; i >= 0; i-- {
		if fn := frames[i].Function; slices.Contains(clientCalls, fn) || slices.Contains(grpcCalls, fn) {
			from = i + 1
			break
		}
	}
	// Outward of the client calls first; then, for a stack whose own
	// frames are all inward of them (a callback), the innermost.
	for k := range frames {
		i := (from + k) % len(frames)
		if siteFrame(code, frames[i]) {
			return frames[i], true
		}
	}
	return Frame{}, false
}
