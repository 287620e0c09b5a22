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

// Culprit is the frame an engineer wants to see for a goroutine: the
// innermost frame of application code (for a net/http handler goroutine,
// the handler's frame, not net/http.(*conn).serve); for a goroutine made of
// standard-library frames only, its outermost non-machinery frame, which
// names what it is (net/http.(*persistConn).readLoop, net/http.(*conn).serve).
func (g *Goroutine) Culprit() Frame {
	return culprit(g.Frames)
}

func culprit(frames []Frame) Frame {
	for i := range frames {
		if !isStdlib(packagePath(frames[i].Function)) {
			return frames[i]
		}
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
