package matchers

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/snapshot"
)

// TestMarkProved: the runtime's leaked counts are credited to the groups
// over tolerance by culprit, each at most its growth, and every rendering
// says so.
func TestMarkProved(t *testing.T) {
	group := func(fn string, before, after int) GroupFinding {
		return GroupFinding{GroupDelta: snapshot.GroupDelta{Before: before,
			Group: snapshot.Group{Count: after, State: "chan send", Culprit: snapshot.Frame{Function: fn}}}}
	}
	f := &Findings{Goroutines: GoroutineFindings{Before: 10, After: 40, Over: []GroupFinding{
		group("shop.send", 0, 20), group("net/http.(*conn).serve", 2, 12),
	}}}
	if n := f.MarkProved(map[snapshot.GroupKey]int{{Culprit: "shop.send"}: 25, {Culprit: "other.fn"}: 3}); n != 20 {
		t.Errorf("credited %d, want 20 (the group's growth, not the runtime's 25)", n)
	}
	if !f.Proved() || f.Goroutines.Over[0].Proved != 20 || f.Goroutines.Over[1].Proved != 0 {
		t.Fatalf("proved: %+v", f.Goroutines.Over)
	}
	c := f.Culprits(Goroutines)
	if !strings.HasSuffix(c[0], "(20 proved leaked by the Go runtime)") || strings.Contains(c[1], "proved") {
		t.Errorf("culprits: %q", c)
	}
	if m := f.Message(Goroutines); !strings.Contains(m, "proved:     20 of them proved leaked by the Go runtime") {
		t.Errorf("message:\n%s", m)
	}
	// Proved only when the proof alone is over the group's tolerance: a
	// group still draining beside one proved goroutine may yet return.
	g := group("shop.send", 0, 41)
	g.Tolerance = 5
	draining := &Findings{Goroutines: GoroutineFindings{Over: []GroupFinding{g}}}
	if draining.MarkProved(map[snapshot.GroupKey]int{{Culprit: "shop.send"}: 1}); draining.Proved() {
		t.Error("1 proved of a group allowed 5: proved, though it may return")
	}
	if draining.MarkProved(map[snapshot.GroupKey]int{{Culprit: "shop.send"}: 6}); !draining.Proved() {
		t.Error("6 proved of a group allowed 5: not proved")
	}
	if (&Findings{}).MarkProved(nil) != 0 {
		t.Error("nothing to credit, yet credited")
	}
}

// TestConfirm: of what one reading has over, only what the next reading
// has over too counts; the rest is named as transient.
func TestConfirm(t *testing.T) {
	group := func(fn string, conn snapshot.ConnClass, extra int) GroupFinding {
		return GroupFinding{GroupDelta: snapshot.GroupDelta{Group: snapshot.Group{Count: extra, Conn: conn, Culprit: snapshot.Frame{Function: fn}}}}
	}
	conn := func(c snapshot.ConnClass, extra int) ConnFinding {
		return ConnFinding{ConnDelta: snapshot.ConnDelta{Class: c, After: extra}}
	}
	f := &Findings{
		Goroutines:  GoroutineFindings{Over: []GroupFinding{group("shop.send", "", 94), group("net/http.(*conn).serve", snapshot.HTTPServer, 1)}},
		Connections: ConnectionFindings{Over: []ConnFinding{conn(snapshot.HTTPServer, 1), conn(snapshot.HTTPClientBodyPending, 100)}},
	}
	again := &Findings{
		Goroutines:  GoroutineFindings{Over: []GroupFinding{group("shop.send", "", 94)}},
		Connections: ConnectionFindings{Over: []ConnFinding{conn(snapshot.HTTPClientBodyPending, 100)}},
	}
	f.Confirm(again)
	if len(f.Goroutines.Over) != 1 || f.Goroutines.Over[0].Culprit.Function != "shop.send" ||
		len(f.Connections.Over) != 1 || f.Connections.Over[0].Class != snapshot.HTTPClientBodyPending {
		t.Errorf("kept %+v / %+v", f.Goroutines.Over, f.Connections.Over)
	}
	want := "+1 goroutines in net/http.(*conn).serve; +1 http1-server connections"
	if strings.Join(f.Transient, "; ") != want || !strings.Contains(f.Message(), "Over in one reading only, gone in the next (not counted): "+want) {
		t.Errorf("transient %q\n%s", f.Transient, f.Message())
	}
}

// TestProvedShort: one bounded line however many groups were proved; a
// light key's proof credits every dump group sharing it (split by creator
// or call site), each at most its growth; the dump's "(leaked)" marks
// count as proof.
func TestProvedShort(t *testing.T) {
	var f Findings
	for i := range 80 {
		f.Goroutines.Over = append(f.Goroutines.Over, GroupFinding{GroupDelta: snapshot.GroupDelta{Group: snapshot.Group{
			Count: 10 + i, State: "chan send", Culprit: snapshot.Frame{Function: fmt.Sprintf("shop/compactor.(*Compactor).run%d%s", i, strings.Repeat("x", 40))}}}})
	}
	proved := map[snapshot.GroupKey]int{}
	for _, g := range f.Goroutines.Over {
		proved[g.Key().Light()] = g.Count
	}
	f.MarkProved(proved)
	line := f.ProvedShort(120)
	if !strings.HasPrefix(line, "80 group(s) proved; largest: +89 [chan send] in shop/compactor.(*Compactor).run79") || len([]rune(line)) > 120 {
		t.Errorf("%q", line)
	}
	split := &Findings{Goroutines: GoroutineFindings{Over: []GroupFinding{
		{GroupDelta: snapshot.GroupDelta{Group: snapshot.Group{Count: 30, Culprit: snapshot.Frame{Function: "shop.send"}, CallSite: snapshot.Frame{Function: "shop.a"}}}},
		{GroupDelta: snapshot.GroupDelta{Group: snapshot.Group{Count: 10, Culprit: snapshot.Frame{Function: "shop.send"}, CallSite: snapshot.Frame{Function: "shop.b"}}}},
	}}}
	if n := split.MarkProved(map[snapshot.GroupKey]int{{Culprit: "shop.send"}: 35}); n != 35 || split.Goroutines.Over[0].Proved != 30 || split.Goroutines.Over[1].Proved != 5 {
		t.Errorf("credited %d: %+v", n, split.Goroutines.Over)
	}
	marked := snapshot.GroupDelta{Group: snapshot.Group{Count: 12, Leaked: 14}, Before: 2, LeakedBefore: 2}
	if marked.ProvedInDump() != 10 {
		t.Errorf("proved in dump %d, want 10 (its growth)", marked.ProvedInDump())
	}
}
