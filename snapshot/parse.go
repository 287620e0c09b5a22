package snapshot

import (
	"fmt"
	"strings"
	"time"
)

const (
	headerPrefix   = "goroutine "
	creatorPrefix  = "created by "
	elidedLine     = "...additional frames elided..."
	ancestorPrefix = "[originating from goroutine "
	leakedMark     = " (leaked)"
)

// ParseGoroutines parses a goroutine?debug=2 dump (the runtime.Stack format).
//
// It is built for dumps of 100,000 goroutines and more: it scans the text
// once, slices every string out of dump instead of copying it (no allocation
// per line; every goroutine's strings share the dump's memory, which the
// snapshot keeps anyway), and puts all frames into one backing array.
//
// A target run with GODEBUG=tracebackancestors=N writes, below a
// goroutine's own stack and creator, the stacks of up to N goroutines
// that created it, each under "[originating from goroutine M]:". Those
// are its Ancestors, never its own frames: a goroutine's stack, culprit,
// creator and backtrace read the same with or without the setting.
func ParseGoroutines(dump string) ([]Goroutine, error) {
	// Frames are collected in one slab and handed out as sub-slices once the
	// slab no longer moves; a goroutine (or ancestor) records where its
	// frames start and end.
	frames := make([]Frame, 0, len(dump)/120+16)
	gs := make([]Goroutine, 0, len(dump)/400+16)
	type span struct{ start, end int }
	own := make([]span, 0, cap(gs))
	// Ancestors, by the index of their goroutine, in the order dumped.
	type ancestor struct {
		g int
		a Ancestor
		span
	}
	var ancs []ancestor

	pos, lineNo := 0, 0
	var cur *Goroutine
	var btStart, btEnd int
	secStart := 0       // where the frames of the current section (own stack or ancestor) start
	var creator *Frame  // the creator whose location line comes next
	var elided *bool    // what an elided line marks
	inAncestor := false // the current section is an ancestor's
	endSection := func() {
		if cur == nil {
			return
		}
		if inAncestor {
			ancs[len(ancs)-1].end = len(frames)
		} else {
			own[len(own)-1].end = len(frames)
		}
	}
	finish := func(end int) {
		if cur == nil {
			return
		}
		endSection()
		if btEnd >= 0 {
			end = btEnd
		}
		bt := dump[btStart:end]
		// gleak keeps one trailing newline.
		if strings.HasSuffix(bt, "\n\n") {
			bt = bt[:len(bt)-1]
		}
		cur.Backtrace = bt
		cur = nil
	}
	for pos < len(dump) {
		end := strings.IndexByte(dump[pos:], '\n')
		var line string
		next := len(dump)
		if end < 0 {
			line = dump[pos:]
		} else {
			line = dump[pos : pos+end]
			next = pos + end + 1
		}
		lineNo++
		switch {
		case line == "":
			// blank line between goroutines
		case strings.HasPrefix(line, headerPrefix):
			finish(pos)
			g, err := parseHeader(line)
			if err != nil {
				return nil, fmt.Errorf("parse goroutine dump: line %d: %w", lineNo, err)
			}
			gs = append(gs, g)
			own = append(own, span{start: len(frames)})
			cur = &gs[len(gs)-1]
			btStart, btEnd = next, -1
			secStart, creator, elided, inAncestor = len(frames), nil, &cur.Elided, false
		case cur == nil:
			return nil, fmt.Errorf("parse goroutine dump: line %d: %q is not a goroutine header", lineNo, truncate(line, 80))
		case line[0] == '\t':
			file, ln := parseLocation(line[1:])
			if creator != nil {
				creator.File, creator.Line = file, ln
				creator = nil
			} else if n := len(frames); n > secStart && frames[n-1].File == "" {
				frames[n-1].File, frames[n-1].Line = file, ln
			}
			// a tab line with no frame before it ("goroutine running on
			// other thread; stack unavailable") carries nothing to keep
		case strings.HasPrefix(line, ancestorPrefix):
			endSection()
			if !inAncestor {
				btEnd = pos
			}
			id := parseUint(line[len(ancestorPrefix):])
			ancs = append(ancs, ancestor{g: len(gs) - 1, a: Ancestor{ID: id}, span: span{start: len(frames)}})
			inAncestor = true
			secStart, creator, elided = len(frames), nil, &ancs[len(ancs)-1].a.Elided
		case strings.HasPrefix(line, creatorPrefix):
			fn := line[len(creatorPrefix):]
			var id uint64
			if i := strings.LastIndex(fn, " in goroutine "); i >= 0 {
				id = parseUint(fn[i+len(" in goroutine "):])
				fn = fn[:i]
			}
			if inAncestor {
				creator = &ancs[len(ancs)-1].a.Creator
			} else {
				creator = &cur.Creator
				cur.CreatorID = id
			}
			creator.Function = fn
		case line == elidedLine:
			*elided = true
		default:
			fn := line
			if i := strings.LastIndexByte(line, '('); i > 0 {
				fn = line[:i]
			}
			frames = append(frames, Frame{Function: fn})
		}
		pos = next
	}
	finish(len(dump))
	for i := range gs {
		gs[i].Frames = frames[own[i].start:own[i].end:own[i].end]
	}
	for i := 0; i < len(ancs); {
		j := i
		for j < len(ancs) && ancs[j].g == ancs[i].g {
			j++
		}
		as := make([]Ancestor, j-i)
		for k := i; k < j; k++ {
			as[k-i] = ancs[k].a
			as[k-i].Frames = frames[ancs[k].start:ancs[k].end:ancs[k].end]
		}
		gs[ancs[i].g].Ancestors = as
		i = j
	}
	return gs, nil
}

// parseHeader parses "goroutine 7 [chan receive, 5 minutes]:" (and the
// GOTRACEBACK=system form with "gp=... m=..." before the bracket).
func parseHeader(line string) (Goroutine, error) {
	rest := line[len(headerPrefix):]
	sp := strings.IndexByte(rest, ' ')
	open := strings.IndexByte(rest, '[')
	closeBr := strings.LastIndexByte(rest, ']')
	if sp <= 0 || open < sp || closeBr < open {
		return Goroutine{}, fmt.Errorf("malformed goroutine header %q", truncate(line, 80))
	}
	id := parseUint(rest[:sp])
	if id == 0 {
		return Goroutine{}, fmt.Errorf("malformed goroutine id in header %q", truncate(line, 80))
	}
	g := Goroutine{ID: id, State: rest[open+1 : closeBr]}
	// "chan send (leaked)": the mark is the runtime's proof, not a state.
	if i := strings.Index(g.State, leakedMark); i >= 0 {
		g.Leaked = true
		g.State = g.State[:i] + g.State[i+len(leakedMark):]
	}
	if strings.Contains(g.State, " minute") {
		g.Wait = parseWait(g.State)
	}
	return g, nil
}

// parseWait finds ", N minutes" in a state.
func parseWait(state string) time.Duration {
	for part := range strings.SplitSeq(state, ", ") {
		if num, ok := strings.CutSuffix(part, " minutes"); ok {
			return time.Duration(parseUint(num)) * time.Minute
		}
		if num, ok := strings.CutSuffix(part, " minute"); ok {
			return time.Duration(parseUint(num)) * time.Minute
		}
	}
	return 0
}

// parseLocation parses "/src/net/http/server.go:2102 +0x625" (the offset is
// missing on inlined frames).
func parseLocation(s string) (string, int) {
	if i := strings.LastIndexByte(s, ' '); i >= 0 && strings.HasPrefix(s[i+1:], "+0x") {
		s = s[:i]
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, 0
	}
	return s[:i], int(parseUint(s[i+1:]))
}

// parseUint reads leading decimal digits; it never allocates.
func parseUint(s string) uint64 {
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
