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
	// HeapAlloc is the live heap after a forced GC, exact (from MemStats).
	HeapAlloc uint64 `json:"heapAlloc"`
	// HeapSites is inuse_space by allocation site, largest first (sampled:
	// for attribution, HeapAlloc is the figure to compare).
	HeapSites []HeapSite `json:"heapSites,omitempty"`
}

// Group is the goroutines that share a signature: the culprit function, the
// go statement that created them and the connection they hold, if any. The
// wait state and the culprit's line are not part of it: a goroutine caught
// running in a baseline and parked later is the same goroutine, not a leak.
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
	// Example is one goroutine of the group: ExampleID and its stack.
	ExampleID uint64 `json:"exampleId"`
	Example   string `json:"example"`
}

// Key identifies the group's signature across snapshots.
func (g Group) Key() GroupKey {
	return GroupKey{Culprit: g.Culprit.Function, Creator: g.Creator, Conn: g.Conn}
}

// GroupKey is a group's signature.
type GroupKey struct {
	Culprit string
	Creator Frame
	Conn    ConnClass
}

// ConnStat counts the connections of one class.
type ConnStat struct {
	Count int `json:"count"`
	// Example is the stack of one goroutine holding such a connection.
	Example string `json:"example,omitempty"`
}

// Summary summarises the snapshot; it is computed once.
func (s *Snapshot) Summary() *Summary {
	s.once.Do(func() { s.summary = s.Summarize(nil) })
	return s.summary
}

// Summarize summarises the snapshot leaving out the goroutines for which
// ignore returns true (nil ignores none).
func (s *Snapshot) Summarize(ignore func(*Goroutine) bool) *Summary {
	sum := &Summary{Connections: map[ConnClass]ConnStat{}, HeapAlloc: s.MemStats.HeapAlloc}
	if s.Light || (s.Dump == "" && s.GoroutineProfile != nil) {
		s.summarizeProfile(sum, ignore)
	} else {
		summarizeGoroutines(sum, s.Goroutines, ignore)
	}
	if s.HeapProfile != nil {
		sum.HeapSites = heapSites(s.HeapProfile)
	}
	return sum
}

func summarizeGoroutines(sum *Summary, gs []Goroutine, ignore func(*Goroutine) bool) {
	type acc struct {
		group   Group
		example *Goroutine
	}
	index := make(map[GroupKey]int, 64)
	var accs []acc
	for i := range gs {
		g := &gs[i]
		if ignore != nil && ignore(g) {
			continue
		}
		sum.Goroutines++
		c := g.Culprit()
		class, _ := Classify(g.Frames)
		key := GroupKey{Culprit: c.Function, Creator: g.Creator, Conn: class}
		j, ok := index[key]
		if !ok {
			j = len(accs)
			index[key] = j
			accs = append(accs, acc{group: Group{Culprit: c, Creator: g.Creator, State: g.WaitReason(), Conn: class}, example: g})
		}
		a := &accs[j]
		a.group.Count++
		a.group.MaxWait = max(a.group.MaxWait, g.Wait)
		if class := a.group.Conn; class != "" {
			st := sum.Connections[class]
			st.Count++
			if st.Example == "" {
				st.Example = g.Stack()
			}
			sum.Connections[class] = st
		}
	}
	sum.Groups = make([]Group, len(accs))
	for i := range accs {
		accs[i].group.ExampleID = accs[i].example.ID
		accs[i].group.Example = accs[i].example.Stack()
		sum.Groups[i] = accs[i].group
	}
	slices.SortStableFunc(sum.Groups, func(a, b Group) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Culprit.Function, b.Culprit.Function)
	})
}

// summarizeProfile counts goroutines and connections from the goroutine
// profile, for snapshots without a debug=2 dump. ignore sees goroutines
// that carry frames only.
func (s *Snapshot) summarizeProfile(sum *Summary, ignore func(*Goroutine) bool) {
	if s.GoroutineProfile == nil {
		return
	}
	for _, smp := range s.GoroutineProfile.Sample {
		frames := sampleFrames(smp)
		if isSelf(frames) || (ignore != nil && ignore(&Goroutine{Frames: frames})) {
			continue
		}
		n := 0
		if len(smp.Value) > 0 {
			n = int(smp.Value[0])
		}
		sum.Goroutines += n
		if class, ok := Classify(frames); ok {
			st := sum.Connections[class]
			st.Count += n
			sum.Connections[class] = st
		}
	}
}
