package matchers_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// kind is a shape of goroutine the generator draws groups of.
type kind int

const (
	appWorker kind = iota // parked in the application's own function
	idleRead              // readLoop of an idle pooled HTTP/1 client connection
	writeLoop             // writeLoop of any HTTP/1 client connection
	bodyRead              // readLoop waiting for a body nobody reads
	caller                // application code parked in a round trip
	kinds
)

// genGroup is one drawn group: its goroutines before and after.
type genGroup struct {
	kind            kind
	culprit         string // the application function, for appWorker and caller
	creator         string
	before, after   int
	ignoredByPolicy bool
}

func (g genGroup) frames() []snapshot.Frame {
	f := func(fn string) snapshot.Frame { return snapshot.Frame{Function: fn, File: "/src/x.go", Line: 7} }
	switch g.kind {
	case idleRead:
		return []snapshot.Frame{f("bufio.(*Reader).Peek"), f("net/http.(*persistConn).readLoop")}
	case writeLoop:
		return []snapshot.Frame{f("net/http.(*persistConn).writeLoop")}
	case bodyRead:
		return []snapshot.Frame{f("net/http.(*persistConn).readLoop")}
	case caller:
		return []snapshot.Frame{f("net/http.(*persistConn).roundTrip"), f("net/http.(*Transport).roundTrip"), f(g.culpritFn())}
	}
	return []snapshot.Frame{f(g.culprit)}
}

// conn is the connection class the group's goroutines stand for.
func (g genGroup) conn() snapshot.ConnClass {
	switch g.kind {
	case idleRead:
		return snapshot.HTTPClientIdle
	case bodyRead:
		return snapshot.HTTPClientBodyPending
	}
	return ""
}

// culpritFn is the function the verdict names for the group.
func (g genGroup) culpritFn() string {
	switch g.kind {
	case idleRead, bodyRead:
		return "net/http.(*persistConn).readLoop"
	case writeLoop:
		return "net/http.(*persistConn).writeLoop"
	case caller:
		return g.culprit + ".call" // never ignored: its top function is the transport's
	}
	return g.culprit
}

// snapshots builds the baseline and the later snapshot of the groups:
// goroutines that stayed keep their IDs, new ones get new IDs.
func snapshots(groups []genGroup) (base, now *snapshot.Snapshot) {
	base, now = &snapshot.Snapshot{}, &snapshot.Snapshot{}
	id := uint64(1)
	for _, g := range groups {
		mk := func(id uint64) snapshot.Goroutine {
			return snapshot.Goroutine{ID: id, State: "select", Frames: g.frames(),
				Creator: snapshot.Frame{Function: g.creator, File: "/src/y.go", Line: 3}, CreatorID: 1}
		}
		for i := range max(g.before, g.after) {
			if i < g.before {
				base.Goroutines = append(base.Goroutines, mk(id))
			}
			if i < g.after {
				now.Goroutines = append(now.Goroutines, mk(id))
			}
			id++
		}
	}
	base.MemStats.HeapAlloc, now.MemStats.HeapAlloc = 10<<20, 10<<20
	base.Collected, now.Collected = true, true
	return base, now
}

// TestCulpritsAreExactlyTheFailures: over generated snapshot pairs and
// tolerances, the culprit list names exactly the goroutine groups and
// connection classes an independent oracle finds over tolerance — nothing
// an ignore rule left out appears, nothing over tolerance is missing — and
// the verdict passes exactly when the list is empty.
func TestCulpritsAreExactlyTheFailures(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		apps := []string{"app.a", "app.b", "app.c", "app.d"}
		creators := []string{"app.spawn1", "app.spawn2"}
		n := rapid.IntRange(0, 8).Draw(t, "groups")
		seen := map[string]bool{}
		var groups []genGroup
		for i := range n {
			g := genGroup{
				kind:    kind(rapid.IntRange(0, int(kinds)-1).Draw(t, fmt.Sprintf("kind%d", i))),
				culprit: rapid.SampledFrom(apps).Draw(t, fmt.Sprintf("culprit%d", i)),
				creator: rapid.SampledFrom(creators).Draw(t, fmt.Sprintf("creator%d", i)),
				before:  rapid.IntRange(0, 6).Draw(t, fmt.Sprintf("before%d", i)),
				after:   rapid.IntRange(0, 9).Draw(t, fmt.Sprintf("after%d", i)),
			}
			key := fmt.Sprint(g.culpritFn(), g.creator, g.kind)
			if seen[key] {
				continue // one drawn group per signature keeps the oracle simple
			}
			seen[key] = true
			groups = append(groups, g)
		}
		tol := matchers.Tolerances{
			Goroutines:      rapid.IntRange(0, 3).Draw(t, "goroutines"),
			Connections:     rapid.IntRange(0, 3).Draw(t, "connections"),
			IdleConnections: rapid.IntRange(0, 4).Draw(t, "idle"),
		}
		ignored := rapid.SliceOfDistinct(rapid.SampledFrom(apps), func(s string) string { return s }).Draw(t, "ignore")
		for i := range groups {
			groups[i].ignoredByPolicy = groups[i].kind == appWorker && slices.Contains(ignored, groups[i].culprit)
		}
		opts := []matchers.Option{
			matchers.MaxExtraGoroutines(tol.Goroutines), matchers.MaxExtraConnections(tol.Connections),
			matchers.MaxExtraIdleConnections(tol.IdleConnections), matchers.MaxHeapGrowth(1 << 20),
		}
		for _, fn := range ignored {
			opts = append(opts, matchers.IgnoringTopFunction(fn))
		}

		base, now := snapshots(groups)
		f, err := matchers.Judge(base, now, opts...)
		if err != nil {
			t.Fatal(err)
		}

		// The oracle, group by group and class by class.
		wantGroups := map[string]int{} // "culprit|creator|class" → extra
		for _, g := range groups {
			if g.ignoredByPolicy {
				continue
			}
			allowed := tol.Goroutines
			if g.kind == idleRead || g.kind == writeLoop {
				allowed += tol.IdleConnections
			}
			if extra := g.after - g.before; extra > allowed {
				wantGroups[g.culpritFn()+"|"+g.creator+"|"+string(g.conn())] += extra
			}
		}
		count := func(before bool) map[snapshot.ConnClass]int {
			c := map[snapshot.ConnClass]int{}
			callers := 0
			for _, g := range groups {
				k := g.after
				if before {
					k = g.before
				}
				switch g.kind {
				case idleRead:
					c[snapshot.HTTPClientIdle] += k
				case bodyRead:
					c[snapshot.HTTPClientBodyPending] += k
				case caller:
					callers += k
				}
			}
			busy := min(callers, c[snapshot.HTTPClientIdle])
			c[snapshot.HTTPClientIdle] -= busy
			c[snapshot.HTTPClientAwaiting] += busy
			return c
		}
		cb, ca := count(true), count(false)
		wantConns := map[snapshot.ConnClass]int{}
		for _, class := range snapshot.ConnClasses {
			allowed := tol.Connections
			if class == snapshot.HTTPClientIdle {
				allowed = tol.IdleConnections
			}
			if extra := ca[class] - cb[class]; extra > allowed {
				wantConns[class] = extra
			}
		}

		gotGroups := map[string]int{}
		for _, g := range f.Goroutines.Over {
			gotGroups[g.Culprit.Function+"|"+g.Creator.Function+"|"+string(g.Conn)] += g.Extra()
		}
		if !mapsEqual(gotGroups, wantGroups) {
			t.Fatalf("groups over tolerance = %v, want %v", gotGroups, wantGroups)
		}
		gotConns := map[snapshot.ConnClass]int{}
		for _, c := range f.Connections.Over {
			gotConns[c.Class] = c.Extra()
		}
		if !mapsEqual(gotConns, wantConns) {
			t.Fatalf("classes over tolerance = %v, want %v", gotConns, wantConns)
		}

		culprits := f.Culprits()
		if len(culprits) != len(wantGroups)+len(wantConns) {
			t.Fatalf("culprits = %q, want one per failing group (%v) and class (%v)", culprits, wantGroups, wantConns)
		}
		for _, fn := range ignored {
			for _, c := range culprits {
				if strings.Contains(c, " in "+fn+" ") {
					t.Fatalf("culprit %q names %s, which an ignore rule leaves out", c, fn)
				}
			}
		}
		if f.OK() != (len(culprits) == 0) {
			t.Fatalf("verdict OK=%v with culprits %q", f.OK(), culprits)
		}
		// Ignored groups that grew are reported as such, with their rule.
		for _, g := range groups {
			if !g.ignoredByPolicy || g.after <= g.before {
				continue
			}
			if !slices.ContainsFunc(f.Ignored, func(ig matchers.IgnoredGroup) bool {
				return ig.Culprit.Function == g.culprit && ig.Creator.Function == g.creator && ig.Rule == "top function "+g.culprit
			}) {
				t.Fatalf("ignored group %s (created by %s, %d → %d) not reported as ignored: %+v", g.culprit, g.creator, g.before, g.after, f.Ignored)
			}
		}
	})
}

func mapsEqual[K comparable](a, b map[K]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
