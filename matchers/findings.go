package matchers

import (
	"fmt"
	"maps"

	"github.com/aftershock/aftershock/snapshot"
)

// Resource is one thing a verdict judges.
type Resource string

// Resources, in the order verdicts report them.
const (
	Goroutines  Resource = "goroutines"
	Connections Resource = "connections"
	Heap        Resource = "heap"
)

// Resources lists every resource.
var Resources = []Resource{Goroutines, Connections, Heap}

// Findings are a snapshot judged against its baseline: for each resource,
// what grew over its tolerance. They are the one verdict of aftershock:
// Gomega failure messages, the CLI's text and JSON, the HTML report and
// `aftershock diff` all render them, so every front end names the same
// culprits.
type Findings struct {
	// Tolerances are the limits the snapshot was judged by.
	Tolerances Tolerances `json:"tolerances"`
	// Goroutines: totals, and the groups over tolerance.
	Goroutines GoroutineFindings `json:"goroutines"`
	// Connections: the classes over tolerance.
	Connections ConnectionFindings `json:"connections"`
	// Heap: the growth and whether it is over tolerance.
	Heap HeapFindings `json:"heap"`
	// Ignored are the goroutine groups that grew and were left out by an
	// ignore rule, with the rule: what the verdict did not count, and why.
	Ignored []IgnoredGroup `json:"ignored,omitempty"`
	// Transient are the groups and classes over tolerance in this reading
	// that the reading right after it did not bear out (Confirm): a
	// response being written, a connection closing. They are not counted.
	Transient []string `json:"transient,omitempty"`
	// Replica names the replica judged ("" for a target of one process).
	Replica string `json:"replica,omitempty"`
	// Restart is set when the snapshot came from another process than
	// the baseline (or none answered): nothing else was judged, and
	// every resource counts as over.
	Restart *Restart `json:"restart,omitempty"`
	// Replicas are the findings of each replica of a target of several
	// (OfReplicas); the target's findings then hold nothing else.
	Replicas []*Findings `json:"replicas,omitempty"`
	// diff is what the findings were computed from (not kept in JSON).
	diff *snapshot.Diff
}

// Tolerances are how far a snapshot may be from its baseline and still
// count as returned.
type Tolerances struct {
	// Goroutines is the growth allowed per goroutine group.
	Goroutines int `json:"goroutines"`
	// Connections is the growth allowed per connection class, except
	// idle pooled HTTP/1 client connections.
	Connections int `json:"connections"`
	// IdleConnections is the growth allowed in idle pooled HTTP/1 client
	// connections, and in the groups of their goroutines (readLoop,
	// writeLoop) on top of Goroutines.
	IdleConnections int `json:"idleConnections"`
	// HeapBytes and HeapRatio: the heap may grow by the larger of
	// HeapBytes and HeapRatio × the baseline.
	HeapBytes int64   `json:"heapBytes"`
	HeapRatio float64 `json:"heapRatio"`
	// HeapFloor is the noise floor of the post-GC heap, measured on the
	// service: growth above it and within the allowance is a suspect
	// (HeapFindings.Suspect) that confirmation cycles settle. Nil: none
	// measured, the allowance alone judges.
	HeapFloor *NoiseFloor `json:"heapFloor,omitempty"`
	// Ignore describes the ignore rules, as given.
	Ignore []string `json:"ignore,omitempty"`
}

// HeapAllowance is the heap growth allowed over a baseline of before
// bytes.
func (t Tolerances) HeapAllowance(before uint64) int64 {
	return max(t.HeapBytes, int64(t.HeapRatio*float64(before)))
}

// GroupAllowance is the growth allowed in group g.
func (t Tolerances) GroupAllowance(g snapshot.Group) int {
	if snapshot.PooledIdle(g) {
		return t.Goroutines + t.IdleConnections
	}
	return t.Goroutines
}

// ConnAllowance is the growth allowed in class c.
func (t Tolerances) ConnAllowance(c snapshot.ConnClass) int {
	if c == snapshot.HTTPClientIdle {
		return t.IdleConnections
	}
	return t.Connections
}

// Band is how far the totals may grow over the baseline and still look
// returned on a chart: one group's allowance plus the goroutines of the
// idle connections allowed (two each: readLoop and writeLoop), and one
// class's allowance plus the idle connections. The verdict itself is per
// group and per class, which a total cannot show: the band pictures it.
func (t Tolerances) Band() (goroutines, connections int) {
	return t.Goroutines + 2*t.IdleConnections, t.Connections + t.IdleConnections
}

// GoroutineFindings are the goroutines' part of a verdict.
type GoroutineFindings struct {
	Before int `json:"before"`
	After  int `json:"after"`
	// Light tells that groups were told apart by culprit and connection
	// only (a snapshot without a debug=2 dump has no creators).
	Light bool `json:"light,omitempty"`
	// Over are the groups that grew over their tolerance, largest growth
	// first.
	Over []GroupFinding `json:"over,omitempty"`
}

// GroupFinding is a goroutine group over its tolerance.
type GroupFinding struct {
	snapshot.GroupDelta
	Tolerance int `json:"tolerance"`
	// Shared is, for a group split by call site (its ancestry), the
	// growth of all its call sites together, which the tolerance judges;
	// 0 when the group is not split.
	Shared int `json:"sharedExtra,omitempty"`
	// Proved is how many of its goroutines the Go runtime proved leaked
	// (the goroutineleak profile, beyond the baseline's): blocked on
	// something no running goroutine can reach, they can never run again.
	Proved int `json:"proved,omitempty"`
	// Origin names the service's own call sites behind the group,
	// inferred from the heap profile's allocation stacks (nil without
	// heap profiles on both sides).
	Origin *snapshot.Attribution `json:"origin,omitempty"`
	// Labels are the pprof label sets of the goroutines that grew, read
	// from the goroutine profile: what a service that labels its handlers
	// (pprof.Do) names every goroutine a handler started with.
	Labels []snapshot.LabelCount `json:"labels,omitempty"`
}

// Confirm keeps, of the goroutine groups and connection classes over
// tolerance, those that again — a reading taken right after — has over
// too (groups by the light part of their key, which any reading knows:
// see snapshot.GroupKey.Light), and moves the others to Transient. A leak stays;
// a goroutine caught writing a response, or a connection caught closing,
// at the moment of one reading does not fail a drill. The heap, read
// after a forced GC, needs no second reading.
func (f *Findings) Confirm(again *Findings) {
	over := map[snapshot.GroupKey]bool{}
	for _, g := range again.Goroutines.Over {
		over[g.Key().Light()] = true
	}
	groups := f.Goroutines.Over[:0]
	for _, g := range f.Goroutines.Over {
		if over[g.Key().Light()] {
			groups = append(groups, g)
		} else {
			f.Transient = append(f.Transient, fmt.Sprintf("+%d goroutines in %s", g.Extra(), g.Culprit.Function))
		}
	}
	f.Goroutines.Over = groups
	classes := map[snapshot.ConnClass]bool{}
	for _, c := range again.Connections.Over {
		classes[c.Class] = true
	}
	conns := f.Connections.Over[:0]
	for _, c := range f.Connections.Over {
		if classes[c.Class] {
			conns = append(conns, c)
		} else {
			f.Transient = append(f.Transient, fmt.Sprintf("+%d %s connections", c.Extra(), c.Class))
		}
	}
	f.Connections.Over = conns
}

// ProvedText is how every rendering marks a group the runtime proved.
const ProvedText = "proved leaked by the Go runtime"

// MarkProved marks the groups over tolerance whose goroutines the Go
// runtime proved leaked: leaked counts them by the light part of their
// group key (snapshot.GroupKey.Light: what the goroutineleak profile
// knows), beyond the baseline's. Each group is credited at most its
// growth, the largest first, and never less than its own dump showed
// marked "(leaked)" beyond the baseline's (snapshot.Group.Leaked). It
// returns how many goroutines it credited.
func (f *Findings) MarkProved(leaked map[snapshot.GroupKey]int) int {
	left := maps.Clone(leaked)
	credited := 0
	for i := range f.Goroutines.Over {
		g := &f.Goroutines.Over[i]
		k := g.Key().Light()
		n := max(min(left[k], g.Extra()), g.Proved)
		if n > 0 {
			credited += n - g.Proved
			g.Proved = n
			left[k] -= n
		}
	}
	return credited
}

// Proved tells whether the runtime proved more goroutines of a group
// (its call sites together) leaked than the group's tolerance allows:
// that group can never return, whatever the settle waits for.
func (f *Findings) Proved() bool {
	proved := map[snapshot.GroupKey]int{}
	for _, g := range f.Goroutines.Over {
		k := allowanceKey(g.Group)
		if proved[k] += g.Proved; proved[k] > g.Tolerance {
			return true
		}
	}
	return false
}

// allowanceKey is the part of a group's key its tolerance is judged on:
// all of it but the call site.
func allowanceKey(g snapshot.Group) snapshot.GroupKey {
	k := g.Key()
	k.CallSite = snapshot.Frame{}
	return k
}

// ConnectionFindings are the connections' part of a verdict.
type ConnectionFindings struct {
	// Over are the classes that grew over their tolerance, largest growth
	// first.
	Over []ConnFinding `json:"over,omitempty"`
}

// ConnFinding is a connection class over its tolerance.
type ConnFinding struct {
	snapshot.ConnDelta
	Tolerance int `json:"tolerance"`
	// Hint says what a grown class usually means.
	Hint string `json:"hint,omitempty"`
	// Origin names the service's own call sites that opened the class's
	// connections, inferred from allocation stacks (HTTP/1 client classes).
	Origin *snapshot.Attribution `json:"origin,omitempty"`
}

// HeapFindings are the heap's part of a verdict.
type HeapFindings struct {
	// Before and After are HeapAlloc; Before after a forced GC.
	Before uint64 `json:"before"`
	After  uint64 `json:"after"`
	// Collected tells that After was read after a forced GC (exact);
	// otherwise it is an upper bound of the live heap.
	Collected bool  `json:"collected"`
	Growth    int64 `json:"growth"`
	Tolerance int64 `json:"tolerance"`
	// Over tells a heap over tolerance, or a slow leak confirmed (Slow).
	Over bool `json:"over"`
	// ObjectsBefore, ObjectsAfter and ObjectGrowth are HeapObjects, read
	// with Before and After: a leak of small records shows in them
	// first.
	ObjectsBefore uint64 `json:"objectsBefore,omitempty"`
	ObjectsAfter  uint64 `json:"objectsAfter,omitempty"`
	ObjectGrowth  int64  `json:"objectGrowth"`
	// Suspect tells growth, read after a forced GC, above the noise floor
	// (Tolerances.HeapFloor) and within tolerance: a slow leak, unless the
	// same fault held once more does not grow the heap again in
	// proportion (see Confirm... in slowleak.go).
	Suspect bool `json:"suspect,omitempty"`
	// Conns is how many connections more than the baseline the reading
	// found (any class, within tolerance or not): each holds its buffers
	// in the heap, about ConnHeapBytes in ConnHeapObjects objects, which
	// the noise floor allows for.
	Conns int `json:"conns,omitempty"`
	// Faulted is how many requests the fault made fail (or, when none
	// failed, how many it touched: FaultedKind says which), the growth
	// is reported per; 0 when unknown (a drill without load).
	Faulted     int    `json:"faulted,omitempty"`
	FaultedKind string `json:"faultedKind,omitempty"`
	// Cycles are the growth of each cycle of the fault, when it was held
	// more than once (a confirmation, or verify.cycles).
	Cycles []HeapCycle `json:"cycles,omitempty"`
	// Slow tells a slow leak: the heap grew above its noise floor in
	// every cycle, in proportion to the requests the fault failed. It
	// makes Over true, whatever the tolerance.
	Slow bool `json:"slow,omitempty"`
	// Repeat says how the cycles were judged (Slow or not).
	Repeat string `json:"repeat,omitempty"`
	// SampleRate is the heap profile's sampling rate in bytes (0: no
	// profiles); NoSample says why no allocation site is named for a
	// growth over tolerance or slow.
	SampleRate int64  `json:"sampleRate,omitempty"`
	NoSample   string `json:"noSample,omitempty"`
	// Sites are the allocation sites whose live heap grew most (sampled,
	// as pprof -diff_base computes it).
	Sites []snapshot.HeapSite `json:"sites,omitempty"`
}

// IgnoredGroup is a goroutine group an ignore rule left out of the
// verdict: a group as the verdict knows it (snapshot.Group, see Key).
type IgnoredGroup struct {
	Culprit snapshot.Frame     `json:"culprit"`
	Creator snapshot.Frame     `json:"creator,omitzero"`
	Conn    snapshot.ConnClass `json:"conn,omitempty"`
	// CallSite is the service's call site the goroutines came from, when
	// the dump carries their ancestry.
	CallSite snapshot.Frame `json:"callSite,omitzero"`
	Before   int            `json:"before"`
	After    int            `json:"after"`
	// Rule is the ignore rule that matched.
	Rule string `json:"rule"`
}

// Key is the group's identity, the verdict's groups' (snapshot.GroupKey).
func (ig IgnoredGroup) Key() snapshot.GroupKey {
	return snapshot.Group{Culprit: ig.Culprit, Creator: ig.Creator, Conn: ig.Conn, CallSite: ig.CallSite}.Key()
}

// OK tells whether every resource of rs (all when none is given) is within
// tolerance.
func (f *Findings) OK(rs ...Resource) bool {
	for _, r := range resources(rs) {
		if f.Over(r) {
			return false
		}
	}
	return true
}

// Over tells whether resource r is over its tolerance: on any replica,
// and always after a restart (nothing of the new process is comparable).
func (f *Findings) Over(r Resource) bool {
	if f.Restart != nil {
		return true
	}
	for _, x := range f.Replicas {
		if x.Over(r) {
			return true
		}
	}
	switch r {
	case Goroutines:
		return len(f.Goroutines.Over) > 0
	case Connections:
		return len(f.Connections.Over) > 0
	case Heap:
		return f.Heap.Over
	}
	return false
}

// Diff is the diff the findings were judged from (nil for findings read
// back from JSON).
func (f *Findings) Diff() *snapshot.Diff { return f.diff }

func resources(rs []Resource) []Resource {
	if len(rs) == 0 {
		return Resources
	}
	return rs
}

// Judge compares now with base and judges the difference by the
// tolerances and ignore rules of opts (defaults: see the Default
// constants). Its error is about the input (a nil snapshot, a bad option, a
// heap profile that does not merge), never about the verdict.
func Judge(base, now *snapshot.Snapshot, opts ...Option) (*Findings, error) {
	cfg := newConfig(opts)
	return cfg.judge(base, now)
}

func (c *config) judge(base, now *snapshot.Snapshot) (*Findings, error) {
	if c.err != nil {
		return nil, c.err
	}
	if base == nil || now == nil {
		return nil, fmt.Errorf("judge: nil snapshot")
	}
	// The counters are compared in the order the two were read: a
	// library user may judge an earlier snapshot against a later one
	// (how a baseline taken too soon differs from a quiesced one), and
	// counters that grew between them are no restart.
	first, second := base.Process(), now.Process()
	if second.Before(first) || (!first.Before(second) && now.Time.Before(base.Time)) {
		first, second = second, first
	}
	if why, replaced := first.Replaced(second); replaced {
		// Another process answered: what it holds says nothing about
		// what the baseline's did.
		return &Findings{Tolerances: c.tolerances(), Restart: &Restart{At: now.Time, Why: why}}, nil
	}
	rec := c.newRecorder()
	diff, err := snapshot.Compare(base, now, rec.ignore())
	if err != nil {
		return nil, err
	}
	if rec.err != nil {
		return nil, fmt.Errorf("ignore filter: %w", rec.err)
	}
	t := c.tolerances()
	f := &Findings{Tolerances: t, diff: diff}
	f.Goroutines = GoroutineFindings{Before: diff.GoroutinesBefore, After: diff.GoroutinesAfter, Light: diff.Light}
	// A group's allowance is judged on it as it is without its call
	// site: the ancestry that splits it by call site
	// (GODEBUG=tracebackancestors) is attribution, and must not multiply
	// what the group may grow. Each call site's part of a group over its
	// allowance is reported, with the growth they share (Shared).
	shared := map[snapshot.GroupKey]int{}
	for _, g := range diff.Groups {
		shared[allowanceKey(g.Group)] += g.Extra()
	}
	for _, g := range diff.Groups {
		if tol, n := t.GroupAllowance(g.Group), shared[allowanceKey(g.Group)]; n > tol {
			gf := GroupFinding{GroupDelta: g, Tolerance: tol, Proved: g.ProvedInDump()}
			if n != g.Extra() {
				gf.Shared = n
			}
			f.Goroutines.Over = append(f.Goroutines.Over, gf)
		}
	}
	for _, cd := range diff.Connections {
		if tol := t.ConnAllowance(cd.Class); cd.Extra() > tol {
			f.Connections.Over = append(f.Connections.Over, ConnFinding{ConnDelta: cd, Tolerance: tol, Hint: connHints[cd.Class]})
		}
	}
	f.Heap = HeapFindings{
		Before: diff.HeapBefore, After: diff.HeapAfter, Collected: diff.Collected,
		Growth: diff.HeapGrowth(), Tolerance: t.HeapAllowance(diff.HeapBefore),
	}
	f.Heap.Over = f.Heap.Growth > f.Heap.Tolerance
	f.Heap.ObjectsBefore, f.Heap.ObjectsAfter, f.Heap.ObjectGrowth = diff.ObjectsBefore, diff.ObjectsAfter, diff.ObjectGrowth()
	f.Heap.SampleRate = diff.SampleRate
	for _, c := range diff.Connections {
		f.Heap.Conns += c.Extra()
	}
	f.Heap.Suspect = !f.Heap.Over && diff.Collected && t.HeapFloor.Below(f.Heap.unconnected())
	f.Heap.Sites = grownSites(diff.HeapSites)
	f.Heap.noSample()
	for i := range f.Goroutines.Over {
		g := &f.Goroutines.Over[i]
		g.Labels = snapshot.GroupLabels(base, now, g.Key())
	}
	attribute(f, base, now)
	f.Ignored = rec.grown(base, now)
	if rec.err != nil {
		return nil, fmt.Errorf("ignore filter: %w", rec.err)
	}
	return f, nil
}

// maxSitesKept bounds the allocation sites findings keep.
const maxSitesKept = 10

// connHints say what a grown class usually means.
var connHints = map[snapshot.ConnClass]string{
	snapshot.HTTPServer:            "HTTP/1 connections the service still serves (stalled clients or handlers that never return)",
	snapshot.HTTP2Server:           "HTTP/2 server connections still open",
	snapshot.HTTPClientIdle:        "idle pooled HTTP/1 client connections (healthy; they close at the transport's IdleConnTimeout)",
	snapshot.HTTPClientAwaiting:    "HTTP/1 client connections whose caller still waits for the answer (a call without a deadline, a half-open connection behind a partition)",
	snapshot.HTTPClientBodyPending: "HTTP/1 client connections whose response body was never read to EOF nor closed (a missing resp.Body.Close)",
	snapshot.HTTP2Client:           "HTTP/2 client connections still open",
	snapshot.GRPCClient:            "gRPC client transports still open (a ClientConn never closed?)",
	snapshot.GRPCServer:            "gRPC server transports still open",
	snapshot.Listener:              "listening sockets still accepting",
}

// attribute names the service's own call sites behind each group and
// client connection class over tolerance. Exactly, from the goroutines'
// ancestry, when the dump carries it (the target runs with
// GODEBUG=tracebackancestors=N: every group then has its call site);
// else, for the groups parked in library code (a culprit or creator of
// the service's own names it already) and the client classes, inferred
// from the heap profiles' allocation stacks, when both snapshots have one.
func attribute(f *Findings, base, now *snapshot.Snapshot) {
	code := now.Code()
	var throughs [][]string
	var into []**snapshot.Attribution
	for i := range f.Goroutines.Over {
		g := &f.Goroutines.Over[i]
		switch {
		case g.CallSite.Function != "":
			g.Origin = snapshot.ExactOrigin(code, []snapshot.GroupDelta{g.GroupDelta})
		case code.IsOwn(g.Culprit) || code.IsOwn(g.Creator):
			// the culprit line names the service's code already
		default:
			throughs, into = append(throughs, snapshot.Through(g.Group)), append(into, &g.Origin)
		}
	}
	for i := range f.Connections.Over {
		c := &f.Connections.Over[i]
		through := snapshot.ThroughConn(c.Class)
		if through == nil {
			continue
		}
		var groups []snapshot.GroupDelta
		if d := f.Diff(); d != nil {
			for _, g := range d.Groups {
				if g.Conn == c.Class && g.CallSite.Function != "" {
					groups = append(groups, g)
				}
			}
		}
		if len(groups) > 0 {
			c.Origin = snapshot.ExactOrigin(code, groups)
			continue
		}
		throughs, into = append(throughs, through), append(into, &c.Origin)
	}
	if len(throughs) == 0 || base.HeapProfile == nil || now.HeapProfile == nil {
		return
	}
	// One pass over the heap profiles for every culprit attributed.
	for i, a := range snapshot.AttributeAll(base.HeapProfile, now.HeapProfile, throughs, code) {
		*into[i] = &a
	}
}
