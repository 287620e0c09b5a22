package snapshot

import (
	"cmp"
	"slices"
	"time"
)

// Summary is what a snapshot says about leaks: goroutine groups, connection
// counts by class and the heap.
type Summary struct {
	// Goroutines counts the target's goroutines, without the capture's own.
	Goroutines int `json:"goroutines"`
	// Groups are the goroutines grouped by signature, largest first (empty
	// for a light snapshot).
	Groups []Group `json:"groups,omitempty"`
	// Connections counts connections by class.
	Connections map[ConnClass]ConnStat `json:"connections"`
	// HeapAlloc is MemStats' HeapAlloc: the live heap, exactly, when the
	// snapshot was Collected; else an upper bound of it.
	HeapAlloc uint64 `json:"heapAlloc"`
	// HeapObjects is MemStats' HeapObjects: the live objects, exactly, when
	// the snapshot was Collected; else an upper bound of them.
	HeapObjects uint64 `json:"heapObjects,omitempty"`
	// HeapSites is inuse_space by allocation site, largest first (sampled:
	// for attribution, HeapAlloc is the figure to compare).
	HeapSites []HeapSite `json:"heapSites,omitempty"`
}

// Group is the goroutines that share a signature (GroupKey): the culprit
// function, the go statement that created them, the connection they hold,
// if any, and the service's call site they came from, when the dump
// carries their ancestry. The wait state and the culprit's line are not
// part of it: a goroutine caught running in a baseline and parked later is
// the same goroutine, not a leak.
type Group struct {
	// Culprit is the frame that explains the goroutines (see
	// Goroutine.Culprit), as the example goroutine shows it.
	Culprit Frame `json:"culprit"`
	// Creator is the go statement that started them.
	Creator Frame `json:"creator"`
	// State is the example goroutine's wait reason, e.g. "chan receive",
	// "select", "IO wait".
	State string `json:"state"`
	// Count is how many goroutines the group holds.
	Count int `json:"count"`
	// MaxWait is the longest wait in the group (minute resolution).
	MaxWait time.Duration `json:"maxWait,omitempty"`
	// Conn is the connection class the goroutines stand for, if any.
	Conn ConnClass `json:"conn,omitempty"`
	// CallSite is the service's own call site the goroutines came from,
	// read exactly in their ancestry (see Goroutine.CallSite): only when
	// the target runs with GODEBUG=tracebackancestors=N.
	CallSite Frame `json:"callSite,omitzero"`
	// Leaked is how many of the goroutines the runtime marked leaked in
	// the dump ("(leaked)": proved by a goroutine leak detection).
	Leaked int `json:"leaked,omitempty"`
	// Example is one goroutine of the group: ExampleID (0 in a light
	// snapshot) and its stack.
	ExampleID uint64 `json:"exampleId,omitempty"`
	Example   string `json:"example"`
}

// Key identifies the group's signature across snapshots.
func (g Group) Key() GroupKey {
	return GroupKey{Culprit: g.Culprit.Function, Creator: g.Creator, Conn: g.Conn, CallSite: g.CallSite}
}

// GroupKey is a goroutine group's identity, the one every reading of a
// target agrees on: light polls, dumps, the confirmation of a verdict, the
// runtime's proof and the label counts. Its light part (culprit function
// and connection class, see Light) is what every source of stacks knows;
// a debug=2 dump tells groups further apart by creator and, with
// ancestry, by call site.
type GroupKey struct {
	Culprit  string
	Creator  Frame
	Conn     ConnClass
	CallSite Frame
}

// Light is the part of the key that the goroutine profile (light polls,
// the goroutineleak profile, pprof labels) knows too: culprit function
// and connection class. Readings of different sources are matched on it.
func (k GroupKey) Light() GroupKey { return GroupKey{Culprit: k.Culprit, Conn: k.Conn} }

// Pooled is how many HTTP/1 client connections the summary holds in a
// transport's pool, idle or carrying a request: what a service pools.
func (s *Summary) Pooled() int {
	return s.Connections[HTTPClientIdle].Count + s.Connections[HTTPClientAwaiting].Count
}

// ConnStat counts the connections of one class.
type ConnStat struct {
	Count int `json:"count"`
	// Example is the stack of one goroutine holding such a connection.
	Example string `json:"example,omitempty"`
}

// Summary summarises the snapshot; it is computed once (again when
// CollectHeap has completed the snapshot since).
func (s *Snapshot) Summary() *Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.summary == nil || s.sumOf != s.Collected {
		s.summary, s.sumOf = s.Summarize(nil), s.Collected
	}
	return s.summary
}

// Summarize summarises the snapshot leaving out the goroutines for which
// ignore returns true (nil ignores none). A snapshot with a debug=2 dump
// is grouped by culprit, creator and connection; a light one by culprit
// and connection (the goroutine profile records no creators).
func (s *Snapshot) Summarize(ignore func(*Goroutine) bool) *Summary {
	return s.summarize(ignore, s.hasDump())
}

// SummarizeLight summarises the snapshot as a light one is: groups keyed
// by culprit and connection only, so that a full snapshot (a baseline)
// compares with light ones (polls).
func (s *Snapshot) SummarizeLight(ignore func(*Goroutine) bool) *Summary {
	return s.summarize(ignore, false)
}

// hasDump tells a snapshot whose goroutines come from a debug=2 dump (with
// creators and wait states), even if it holds none: not light, and not one
// that carries only a goroutine profile.
func (s *Snapshot) hasDump() bool {
	return !s.Light && (s.Dump != "" || len(s.Goroutines) > 0 || s.GoroutineProfile == nil)
}

func (s *Snapshot) summarize(ignore func(*Goroutine) bool, byCreator bool) *Summary {
	sum := &Summary{Connections: map[ConnClass]ConnStat{}, HeapAlloc: s.MemStats.HeapAlloc, HeapObjects: s.MemStats.HeapObjects}
	if s.hasDump() {
		summarizeGoroutines(sum, s.Goroutines, ignore, byCreator, s.Code())
	} else {
		s.summarizeProfile(sum, ignore)
	}
	if s.HeapProfile != nil {
		sum.HeapSites = heapSites(s.HeapProfile, s.Code())
	}
	return sum
}

// groupAcc accumulates one group while a summary is computed.
type groupAcc struct {
	group   Group
	example string
}

// summarizer groups goroutines and counts connections, for both sources
// of stacks (the debug=2 dump and the goroutine profile).
type summarizer struct {
	sum      *Summary
	index    map[GroupKey]int
	accs     []groupAcc
	awaiting ConnStat // callers parked in an HTTP/1 round trip
}

func newSummarizer(sum *Summary) *summarizer {
	return &summarizer{sum: sum, index: make(map[GroupKey]int, 64)}
}

// add counts n goroutines with these frames under key; stack renders one
// of them, asked for only when it becomes an example.
func (z *summarizer) add(key GroupKey, g Group, n int, stack func() string) {
	z.sum.Goroutines += n
	j, ok := z.index[key]
	if !ok {
		j = len(z.accs)
		z.index[key] = j
		z.accs = append(z.accs, groupAcc{group: g, example: stack()})
	}
	a := &z.accs[j]
	a.group.Count += n
	a.group.Leaked += g.Leaked
	a.group.MaxWait = max(a.group.MaxWait, g.MaxWait)
	if class := key.Conn; class != "" {
		st := z.sum.Connections[class]
		st.Count += n
		if st.Example == "" {
			st.Example = a.example
		}
		z.sum.Connections[class] = st
	}
}

func (z *summarizer) caller(frames []Frame, n int, stack func() string) {
	if awaitingCaller(frames) {
		z.awaiting.Count += n
		if z.awaiting.Example == "" {
			z.awaiting.Example = stack()
		}
	}
}

func (z *summarizer) finish() {
	z.sum.Groups = make([]Group, len(z.accs))
	for i := range z.accs {
		z.accs[i].group.Example = z.accs[i].example
		z.sum.Groups[i] = z.accs[i].group
	}
	slices.SortStableFunc(z.sum.Groups, func(a, b Group) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Culprit.Function, b.Culprit.Function)
	})
	// A connection whose readLoop reads the socket is idle or carries a
	// request still waiting for its answer: each caller parked in a round
	// trip accounts for one of them, which is then not idle.
	if idle := z.sum.Connections[HTTPClientIdle]; z.awaiting.Count > 0 && idle.Count > 0 {
		n := min(idle.Count, z.awaiting.Count)
		idle.Count -= n
		if idle.Count == 0 {
			delete(z.sum.Connections, HTTPClientIdle)
		} else {
			z.sum.Connections[HTTPClientIdle] = idle
		}
		z.sum.Connections[HTTPClientAwaiting] = ConnStat{Count: n, Example: z.awaiting.Example}
	}
}

// summarizeGoroutines groups gs by culprit and connection, and when full
// (both sides of a comparison have dumps) by creator and call site too.
func summarizeGoroutines(sum *Summary, gs []Goroutine, ignore func(*Goroutine) bool, full bool, code *Code) {
	z := newSummarizer(sum)
	for i := range gs {
		g := &gs[i]
		if ignore != nil && ignore(g) {
			continue
		}
		c := g.Culprit(code)
		class, _ := Classify(g.Frames)
		grp := Group{Culprit: c, State: g.WaitReason(), Conn: class, MaxWait: g.Wait, ExampleID: g.ID}
		if g.Leaked {
			grp.Leaked = 1
		}
		if full {
			grp.Creator = g.Creator
			if len(g.Ancestors) > 0 {
				grp.CallSite, _ = g.CallSite(code)
			}
		}
		z.add(grp.Key(), grp, 1, g.Stack)
		z.caller(g.Frames, 1, g.Stack)
	}
	z.finish()
}

// summarizeProfile groups goroutines and counts connections from the
// goroutine profile, for snapshots without a debug=2 dump. The profile
// has no creators, wait states or goroutine IDs: ignore sees frames and a
// backtrace of function names only, so rules on states or creators do not
// apply to light snapshots.
func (s *Snapshot) summarizeProfile(sum *Summary, ignore func(*Goroutine) bool) {
	if s.GoroutineProfile == nil {
		return
	}
	z := newSummarizer(sum)
	code := s.Code()
	for _, smp := range s.GoroutineProfile.Sample {
		frames := sampleFrames(smp)
		if isSelf(frames) || lightSelf(frames) {
			continue
		}
		g := &Goroutine{Frames: frames}
		if ignore != nil {
			g.Backtrace = g.Stack()
			if ignore(g) {
				continue
			}
		}
		n := 0
		if len(smp.Value) > 0 {
			n = int(smp.Value[0])
		}
		if len(frames) == 0 {
			// A goroutine created and not yet run has no stack in the
			// profile (a dump shows its entry function), so it cannot
			// be told from the capture's own helpers, which come and go
			// with every capture: left out, as they are transient.
			continue
		}
		c := g.Culprit(code)
		class, _ := Classify(frames)
		grp := Group{Culprit: c, Conn: class}
		z.add(grp.Key(), grp, n, g.Stack)
		z.caller(frames, n, g.Stack)
	}
	z.finish()
}
