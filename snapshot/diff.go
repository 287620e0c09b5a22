package snapshot

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/google/pprof/profile"
)

// Diff is what changed from a baseline to now. It carries what tolerances
// need: every grown group and class with its counts, and the heap growth.
type Diff struct {
	// GoroutinesBefore and GoroutinesAfter are the total counts.
	GoroutinesBefore int `json:"goroutinesBefore"`
	GoroutinesAfter  int `json:"goroutinesAfter"`
	// Groups are the goroutine groups that grew, largest growth first.
	Groups []GroupDelta `json:"groups,omitempty"`
	// Connections are the connection classes that grew, largest growth first.
	Connections []ConnDelta `json:"connections,omitempty"`
	// HeapBefore and HeapAfter are HeapAlloc: the baseline's after a
	// forced GC, exact; now's too when Collected, else an upper bound
	// (garbage not yet collected counts).
	HeapBefore uint64 `json:"heapBefore"`
	HeapAfter  uint64 `json:"heapAfter"`
	// ObjectsBefore and ObjectsAfter are HeapObjects, read with HeapBefore
	// and HeapAfter: a leak of small records shows in them first.
	ObjectsBefore uint64 `json:"objectsBefore,omitempty"`
	ObjectsAfter  uint64 `json:"objectsAfter,omitempty"`
	// SampleRate is the heap profile's sampling rate in bytes (one sample
	// per SampleRate bytes allocated, runtime.MemProfileRate; 512 KiB by
	// default), 0 without heap profiles: growth much smaller than it
	// rarely has a sample to name its site.
	SampleRate int64 `json:"sampleRate,omitempty"`
	// Collected tells that HeapAfter was read after a forced GC.
	Collected bool `json:"collected"`
	// Light tells that groups were compared by culprit and connection
	// only: one of the snapshots had no debug=2 dump, so no creators.
	Light bool `json:"light,omitempty"`
	// HeapSites are the allocation sites by inuse_space change, largest
	// change first, computed from HeapProfile.
	HeapSites []HeapSite `json:"heapSites,omitempty"`
	// HeapProfile is now minus base as `go tool pprof -diff_base` computes
	// it (nil unless both snapshots carry a heap profile).
	HeapProfile *profile.Profile `json:"-"`
}

// HeapGrowth is HeapAfter-HeapBefore in bytes (negative when it shrank).
func (d *Diff) HeapGrowth() int64 { return int64(d.HeapAfter) - int64(d.HeapBefore) }

// ObjectGrowth is ObjectsAfter-ObjectsBefore (negative when it shrank).
func (d *Diff) ObjectGrowth() int64 { return int64(d.ObjectsAfter) - int64(d.ObjectsBefore) }

// GroupDelta is a goroutine group that grew.
type GroupDelta struct {
	Group      // as it stands now (Count is the after count)
	Before int `json:"before"`
	// LeakedBefore is how many of the baseline's goroutines of the group
	// the runtime had marked leaked (Group.Leaked is now's).
	LeakedBefore int `json:"leakedBefore,omitempty"`
}

// ProvedInDump is how many of the goroutines the group gained the runtime
// marked leaked in the dump ("(leaked)"), at most its growth.
func (g GroupDelta) ProvedInDump() int { return min(max(g.Leaked-g.LeakedBefore, 0), g.Extra()) }

// Extra is how many goroutines the group gained.
func (g GroupDelta) Extra() int { return g.Count - g.Before }

// ConnDelta is a connection class that grew.
type ConnDelta struct {
	Class  ConnClass `json:"class"`
	Before int       `json:"before"`
	After  int       `json:"after"`
	// Example is the stack of one goroutine holding such a connection now.
	Example string `json:"example,omitempty"`
}

// Extra is how many connections the class gained.
func (c ConnDelta) Extra() int { return c.After - c.Before }

// Diff compares the snapshot with a baseline; see Compare.
func (s *Snapshot) Diff(base *Snapshot) (*Diff, error) { return Compare(base, s, nil) }

// Compare computes what grew from base to now, leaving out the goroutines
// for which ignore returns true (nil ignores none). Two snapshots with
// debug=2 dumps compare groups by culprit, creator and connection; when
// either is light, groups compare by culprit and connection.
func Compare(base, now *Snapshot, ignore func(*Goroutine) bool) (*Diff, error) {
	if base == nil || now == nil {
		return nil, fmt.Errorf("compare snapshots: nil snapshot")
	}
	b, n, full := summarizePair(base, now, ignore)
	d := &Diff{
		GoroutinesBefore: b.Goroutines, GoroutinesAfter: n.Goroutines,
		Groups:     grownGroups(b, n),
		HeapBefore: b.HeapAlloc, HeapAfter: n.HeapAlloc,
		ObjectsBefore: b.HeapObjects, ObjectsAfter: n.HeapObjects,
		Light:     !full,
		Collected: now.Collected,
	}
	for _, class := range ConnClasses {
		if after, was := n.Connections[class], b.Connections[class]; after.Count > was.Count {
			d.Connections = append(d.Connections, ConnDelta{Class: class, Before: was.Count, After: after.Count, Example: after.Example})
		}
	}
	slices.SortStableFunc(d.Connections, func(x, y ConnDelta) int { return cmp.Compare(y.Extra(), x.Extra()) })
	if base.HeapProfile != nil && now.HeapProfile != nil {
		hp, err := HeapDiffProfile(base.HeapProfile, now.HeapProfile)
		if err != nil {
			return nil, fmt.Errorf("compare snapshots: %w", err)
		}
		d.HeapProfile = hp
		d.HeapSites = heapSites(hp, now.Code())
		// The heap profile records its sampling rate as its period.
		d.SampleRate = now.HeapProfile.Period
	}
	return d, nil
}

// CompareGroups is the goroutine part of Compare alone: the groups that
// grew from base to now, of the goroutines ignore does not leave out
// (nil leaves out none), grouped, keyed and sorted as Compare's are. It
// is how a count of some of the goroutines (those an ignore rule left
// out of a verdict) names the very groups the verdict would.
func CompareGroups(base, now *Snapshot, ignore func(*Goroutine) bool) []GroupDelta {
	if base == nil || now == nil {
		return nil
	}
	b, n, _ := summarizePair(base, now, ignore)
	return grownGroups(b, n)
}

// summarizePair summarises base and now for a comparison: by culprit,
// creator, connection and call site when both have a debug=2 dump
// (full), by culprit and connection otherwise.
func summarizePair(base, now *Snapshot, ignore func(*Goroutine) bool) (b, n *Summary, full bool) {
	full = base.hasDump() && now.hasDump()
	if !full && ignore != nil {
		// A light snapshot's goroutines have frames only: the rules see
		// no more of the other side's, or a rule on wait states or
		// creators would leave out goroutines on one side only.
		ignore = lightView(ignore)
	}
	// The baseline may have caught some goroutines running, with no stack
	// to group them by: counted under no signature, they would make their
	// own group look grown in every later snapshot. They borrow the stack
	// the same goroutine has now.
	bgs := base.Goroutines
	if gs, ok := borrowStacks(base.Goroutines, now.Goroutines); ok {
		bgs = gs
	}
	return summarizeFor(base, bgs, ignore, full), summarizeFor(now, now.Goroutines, ignore, full), full
}

// grownGroups are the groups of n that hold more goroutines than in b,
// largest growth first.
func grownGroups(b, n *Summary) []GroupDelta {
	before := make(map[GroupKey]Group, len(b.Groups))
	for _, g := range b.Groups {
		before[g.Key()] = g
	}
	var out []GroupDelta
	for _, g := range n.Groups {
		if was := before[g.Key()]; g.Count > was.Count {
			out = append(out, GroupDelta{Group: g, Before: was.Count, LeakedBefore: was.Leaked})
		}
	}
	slices.SortStableFunc(out, func(x, y GroupDelta) int { return cmp.Compare(y.Extra(), x.Extra()) })
	return out
}

// lightView applies ignore to what a light snapshot knows of a goroutine:
// its frames and a backtrace of them.
func lightView(ignore func(*Goroutine) bool) func(*Goroutine) bool {
	return func(g *Goroutine) bool {
		if g.State == "" && g.Creator.Function == "" && g.ID == 0 {
			return ignore(g) // a light snapshot's already
		}
		lg := &Goroutine{Frames: g.Frames}
		lg.Backtrace = lg.Stack()
		return ignore(lg)
	}
}

// summarizeFor summarises s for a comparison: from gs (its goroutines,
// stacks borrowed) when it has a dump, grouped by creator too when
// byCreator; from its goroutine profile otherwise.
func summarizeFor(s *Snapshot, gs []Goroutine, ignore func(*Goroutine) bool, byCreator bool) *Summary {
	if !s.hasDump() {
		if ignore == nil {
			return s.Summary()
		}
		return s.Summarize(ignore)
	}
	sum := &Summary{Connections: map[ConnClass]ConnStat{}, HeapAlloc: s.MemStats.HeapAlloc, HeapObjects: s.MemStats.HeapObjects}
	summarizeGoroutines(sum, gs, ignore, byCreator, s.Code())
	return sum
}

// borrowStacks gives the goroutines of base whose stacks were unavailable
// (running on another thread when the dump was written) the stack and
// creator the same goroutine has in now, if it is still there. ok is false
// when there was nothing to borrow.
func borrowStacks(base, now []Goroutine) ([]Goroutine, bool) {
	var byID map[uint64]*Goroutine
	var out []Goroutine
	for i := range base {
		if len(base[i].Frames) > 0 {
			continue
		}
		if byID == nil {
			byID = make(map[uint64]*Goroutine, len(now))
			for j := range now {
				byID[now[j].ID] = &now[j]
			}
		}
		later, found := byID[base[i].ID]
		if !found || len(later.Frames) == 0 {
			continue
		}
		if out == nil {
			out = slices.Clone(base)
		}
		out[i].Frames = later.Frames
		if out[i].Creator.Function == "" {
			out[i].Creator, out[i].CreatorID = later.Creator, later.CreatorID
		}
	}
	return out, out != nil
}
