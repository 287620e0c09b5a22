package snapshot

import (
	"strconv"
	"strings"
	"time"

	"github.com/onsi/gomega/gleak/goroutine"
)

// Frame is one call site: a function and the file:line it is at.
type Frame struct {
	Function string `json:"function"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
}

// Location is "file:line", or "" when the file is unknown.
func (f Frame) Location() string {
	if f.File == "" {
		return ""
	}
	return f.File + ":" + strconv.Itoa(f.Line)
}

// String is "function (file:line)".
func (f Frame) String() string {
	if f.File == "" {
		return f.Function
	}
	return f.Function + " (" + f.Location() + ")"
}

// Goroutine is one goroutine of a goroutine?debug=2 dump. Its strings are
// slices of the dump itself: parsing allocates no string per line.
type Goroutine struct {
	ID uint64 `json:"id"`
	// State is the bracketed state as dumped, e.g. "chan receive, 5 minutes";
	// the same text as gleak's Goroutine.State.
	State string `json:"state"`
	// Wait is how long the goroutine has been blocked, to the minute the
	// runtime reports (zero under a minute).
	Wait time.Duration `json:"wait,omitempty"`
	// Frames are the stack, innermost first.
	Frames []Frame `json:"frames"`
	// Creator is the go statement that started the goroutine (empty for the
	// main goroutine and runtime-started ones); CreatorID the goroutine that ran it.
	Creator   Frame  `json:"creator"`
	CreatorID uint64 `json:"creatorId,omitempty"`
	// Elided tells that the runtime cut the stack at 100 frames.
	Elided bool `json:"elided,omitempty"`
	// Leaked tells that the Go runtime proved the goroutine leaked: its
	// state carried the "(leaked)" mark that a goroutine leak detection
	// (the goroutineleak profile, GOEXPERIMENT=goroutineleakprofile) puts
	// on the goroutines it proves can never run again. State and
	// WaitReason are without the mark.
	Leaked bool `json:"leaked,omitempty"`
	// Ancestors are the stacks of the goroutines that created this one, as
	// they were when they ran its go statement, nearest first: what the
	// dump carries under "[originating from goroutine N]:" when the target
	// runs with GODEBUG=tracebackancestors=N (N ancestors at most). They
	// are not part of the goroutine's own stack.
	Ancestors []Ancestor `json:"ancestors,omitempty"`
	// Backtrace is the dump's text of this goroutine below its header line,
	// without its ancestors, in the form gleak's Goroutine.Backtrace has.
	Backtrace string `json:"-"`
}

// Ancestor is the stack of a goroutine that created another (directly or
// further up), as it was when it ran the go statement.
type Ancestor struct {
	// ID is the ancestor goroutine's (it may have exited since).
	ID uint64 `json:"id"`
	// Frames are its stack, innermost first. The runtime keeps program
	// counters only: each frame is the innermost function inlined at its
	// PC, and its line the call's, as near as the PC says.
	Frames []Frame `json:"frames"`
	// Creator is the go statement that started the ancestor.
	Creator Frame `json:"creator,omitzero"`
	// Elided tells that the runtime kept only the innermost 100 frames.
	Elided bool `json:"elided,omitempty"`
}

// WaitReason is the state without the wait time and "locked to thread",
// e.g. "chan receive": what groups goroutines parked the same way.
func (g *Goroutine) WaitReason() string {
	if i := strings.IndexByte(g.State, ','); i >= 0 {
		return g.State[:i]
	}
	return g.State
}

// TopFunction is the innermost function of the stack.
func (g *Goroutine) TopFunction() string {
	if len(g.Frames) == 0 {
		return ""
	}
	return g.Frames[0].Function
}

// Has tells whether function appears anywhere in the stack.
func (g *Goroutine) Has(function string) bool {
	for i := range g.Frames {
		if g.Frames[i].Function == function {
			return true
		}
	}
	return false
}

// Gleak converts the goroutine to gomega's gleak form, so that gleak's
// HaveLeaked and Ignoring* matchers apply to goroutines of a remote process.
func (g *Goroutine) Gleak() goroutine.Goroutine {
	return goroutine.Goroutine{
		ID:              g.ID,
		State:           g.State,
		TopFunction:     g.TopFunction(),
		CreatorFunction: g.Creator.Function,
		BornAt:          g.Creator.Location(),
		Backtrace:       g.Backtrace,
	}
}

// Stack renders the stack the way goleak and gleak print one: a frame per
// line, "function at file:line", then the creator.
func (g *Goroutine) Stack() string {
	var b strings.Builder
	for _, f := range g.Frames {
		b.WriteString(f.Function)
		if f.File != "" {
			b.WriteString(" at ")
			b.WriteString(f.Location())
		}
		b.WriteByte('\n')
	}
	if g.Elided {
		b.WriteString("...additional frames elided...\n")
	}
	if g.Creator.Function != "" {
		b.WriteString("created by ")
		b.WriteString(g.Creator.Function)
		if g.CreatorID != 0 {
			b.WriteString(" in goroutine ")
			b.WriteString(strconv.FormatUint(g.CreatorID, 10))
		}
		if g.Creator.File != "" {
			b.WriteString(" at ")
			b.WriteString(g.Creator.Location())
		}
		b.WriteByte('\n')
	}
	return b.String()
}
