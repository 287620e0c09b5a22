package matchers

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/onsi/gomega/format"

	"github.com/aftershock/aftershock/snapshot"
)

// Limits that keep a failure readable: the largest findings come first.
const (
	maxGroupsShown = 10
	maxSitesShown  = 5
	maxStackLines  = 16
)

// Culprits are the findings over tolerance as one line each, most
// important first: the goroutine groups that grew (with the function they
// are parked in and where they were created), the connection classes that
// grew, and the heap with its top allocation site. They are the short form
// of Message, for summaries and tables; nothing an ignore rule left out
// appears, and every resource over tolerance does.
//
// A restart comes first, alone: nothing else of the new process was
// judged. For a target of several replicas each line names its replica
// ("shop-7f9c: +149 goroutines [chan send] in …").
func (f *Findings) Culprits(rs ...Resource) []string {
	var out []string
	for _, x := range f.Replicas {
		out = append(out, x.Culprits(rs...)...)
	}
	if f.Restart != nil {
		r := *f.Restart
		r.Replica = cmp.Or(r.Replica, f.Replica)
		return append(out, r.String())
	}
	for _, line := range f.culprits(rs) {
		out = append(out, replicaPrefix(f.Replica)+line)
	}
	return out
}

func (f *Findings) culprits(rs []Resource) []string {
	var out []string
	for _, r := range resources(rs) {
		switch r {
		case Goroutines:
			for _, g := range f.Goroutines.Over {
				line := fmt.Sprintf("+%d goroutines%s in %s", g.Extra(), stateText(g.State), g.Culprit)
				if g.Creator.Function != "" {
					line += ", created by " + g.Creator.Function
				}
				if g.Proved > 0 {
					line += fmt.Sprintf(" (%d %s)", g.Proved, ProvedText)
				}
				if len(g.Labels) > 0 {
					line += " [" + labelsShort(g.Labels) + "]"
				}
				out = append(out, line+originShort(g.Origin))
			}
		case Connections:
			for _, c := range f.Connections.Over {
				out = append(out, fmt.Sprintf("+%d %s connections (%d → %d)", c.Extra(), c.Class, c.Before, c.After)+originShort(c.Origin))
			}
		case Heap:
			if h := f.Heap; h.Over {
				line := fmt.Sprintf("heap +%s (%s → %s%s)", bytesText(h.Growth), bytesText(int64(h.Before)), bytesText(int64(h.After)), uncollected(h))
				if h.Slow {
					line = "slow leak: " + h.PerRequestText() + fmt.Sprintf(", in each of %d cycles", len(h.Cycles))
				}
				switch {
				case len(h.Sites) > 0:
					line += fmt.Sprintf(", most at %s (+%s sampled)", h.Sites[0].Site, bytesText(h.Sites[0].InuseBytes))
				case h.NoSample != "":
					line += "; " + h.NoSample
				}
				out = append(out, line)
			}
		}
	}
	return out
}

// stateText is " [chan send]", or nothing when a light reading knows no
// state.
func stateText(state string) string {
	if state == "" {
		return ""
	}
	return " [" + state + "]"
}

// ProvedShort says in one bounded line what the runtime proved: "80
// groups proved; largest: +319 [chan send] in pkg.fn" (at most max
// characters, cut with "…").
func (f *Findings) ProvedShort(max int) string {
	n, largest := 0, -1
	for i, g := range f.Goroutines.Over {
		if g.Proved > 0 {
			n++
			if largest < 0 || g.Proved > f.Goroutines.Over[largest].Proved {
				largest = i
			}
		}
	}
	if n == 0 {
		return "no group proved"
	}
	g := f.Goroutines.Over[largest]
	line := fmt.Sprintf("%d group(s) proved; largest: +%d%s in %s", n, g.Proved, stateText(g.State), g.Culprit.Function)
	return cut(line, max)
}

// cut shortens s to at most n characters (runes), ending it with "…".
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n || n < 1 {
		return s
	}
	return string(r[:n-1]) + "…"
}

func uncollected(h HeapFindings) string {
	if h.Collected {
		return ""
	}
	return ", not collected: an upper bound"
}

// Message renders the findings of rs (all when none is given) the way a
// failure should read: for each resource, the totals, then each goroutine
// group over tolerance (count before → after, culprit with file:line,
// creator, wait, one example stack), each connection class over tolerance
// with what it usually means, the heap growth with the allocation sites
// that grew most, and the groups that ignore rules left out.
func (f *Findings) Message(rs ...Resource) string {
	if len(f.Replicas) > 0 {
		return f.replicasMessage(rs)
	}
	if f.Restart != nil {
		r := *f.Restart
		r.Replica = cmp.Or(r.Replica, f.Replica)
		return r.message()
	}
	var b strings.Builder
	for _, r := range resources(rs) {
		switch r {
		case Goroutines:
			g := f.Goroutines
			fmt.Fprintf(&b, "\nGoroutines: %d → %d (%+d)", g.Before, g.After, g.After-g.Before)
			if len(g.Over) == 0 {
				b.WriteString(", no group over its tolerance\n")
			} else {
				fmt.Fprintf(&b, ", %d group(s) over tolerance:\n", len(g.Over))
				writeGroups(&b, g.Over)
			}
			if g.Light {
				b.WriteString("  (light snapshot: groups by culprit only; take a full Capture for creators and wait states)\n")
			}
			writeIgnored(&b, f.Ignored)
		case Connections:
			if len(f.Connections.Over) == 0 {
				b.WriteString("\nConnections: no class over its tolerance\n")
			} else {
				b.WriteString("\nConnections that grew over tolerance:\n")
				writeConns(&b, f.Connections.Over)
			}
		case Heap:
			h := f.Heap
			label := "HeapAlloc after GC"
			if !h.Collected {
				label = "HeapAlloc, not collected: an upper bound"
			}
			fmt.Fprintf(&b, "\nHeap (%s): %s → %s (%s, tolerance +%s)\n",
				label, bytesText(int64(h.Before)), bytesText(int64(h.After)), signedBytes(h.Growth), bytesText(h.Tolerance))
			writeSlow(&b, &h, f.Tolerances.HeapFloor)
			if h.Over || h.Suspect {
				writeSites(&b, h.Sites)
				if h.NoSample != "" {
					fmt.Fprintf(&b, "  %s\n", h.NoSample)
				}
			}
		}
	}
	if len(f.Transient) > 0 {
		fmt.Fprintf(&b, "\nOver in one reading only, gone in the next (not counted): %s\n", strings.Join(f.Transient, "; "))
	}
	return strings.TrimPrefix(b.String(), "\n")
}

func writeGroups(b *strings.Builder, groups []GroupFinding) {
	for i, g := range groups {
		if i == maxGroupsShown {
			fmt.Fprintf(b, "  ... and %d more group(s)\n", len(groups)-i)
			break
		}
		tol := fmt.Sprintf("tolerance %+d", g.Tolerance)
		if g.Shared != 0 {
			tol += fmt.Sprintf(" for %+d across its call sites", g.Shared)
		}
		fmt.Fprintf(b, "  %+d goroutines [%s]: %d → %d (%s)\n", g.Extra(), cmp.Or(g.State, "state unknown"), g.Before, g.Count, tol)
		fmt.Fprintf(b, "      culprit:    %s\n", frameText(g.Culprit))
		if g.Creator.Function != "" {
			fmt.Fprintf(b, "      created by: %s\n", frameText(g.Creator))
		}
		if g.Conn != "" {
			fmt.Fprintf(b, "      holds:      a %s connection\n", g.Conn)
		}
		if len(g.Labels) > 0 {
			fmt.Fprintf(b, "      labels:     %s (pprof labels of the goroutines parked in %s that grew, from the goroutine profile)\n", labelsShort(g.Labels), g.Culprit.Function)
		}
		writeOrigin(b, g.Origin)
		if g.Proved > 0 {
			fmt.Fprintf(b, "      proved:     %d of them %s (blocked on what no running goroutine can reach: they can never run again)\n", g.Proved, ProvedText)
		}
		if g.MaxWait > 0 {
			fmt.Fprintf(b, "      waiting:    up to %s\n", g.MaxWait)
		}
		if g.ExampleID != 0 {
			fmt.Fprintf(b, "      example, goroutine %d:\n", g.ExampleID)
		} else {
			b.WriteString("      example:\n")
		}
		writeStack(b, g.Example)
	}
}

func writeIgnored(b *strings.Builder, ignored []IgnoredGroup) {
	if len(ignored) == 0 {
		return
	}
	b.WriteString("  not counted (ignore rules):\n")
	for _, ig := range ignored {
		from := ""
		if ig.CallSite.Function != "" {
			from = " from " + frameText(ig.CallSite)
		}
		fmt.Fprintf(b, "    %+d goroutines in %s%s (%d → %d): ignored by %s\n", ig.After-ig.Before, ig.Culprit.Function, from, ig.Before, ig.After, ig.Rule)
	}
}

func writeConns(b *strings.Builder, conns []ConnFinding) {
	for _, c := range conns {
		fmt.Fprintf(b, "  %s: %d → %d (%+d, tolerance %+d): %s\n", c.Class, c.Before, c.After, c.Extra(), c.Tolerance, c.Hint)
		writeOrigin(b, c.Origin)
		if c.Example != "" {
			b.WriteString("      example:\n")
			writeStack(b, c.Example)
		}
	}
}

func writeSites(b *strings.Builder, sites []snapshot.HeapSite) {
	for i, s := range sites {
		if i == maxSitesShown {
			break
		}
		if i == 0 {
			b.WriteString("  allocation sites that grew (inuse_space and inuse_objects, sampled, as pprof -diff_base):\n")
		}
		fmt.Fprintf(b, "    %10s %+8d objects  %s\n", signedBytes(s.InuseBytes), s.InuseObjects, frameText(s.Site))
	}
}

// writeSlow writes the exact figures a slow leak is judged by: objects,
// growth per faulted request, the noise floor, each cycle's growth drawn
// as a bar, and how the cycles were judged.
func writeSlow(b *strings.Builder, h *HeapFindings, floor *NoiseFloor) {
	if h.ObjectsBefore == 0 && h.ObjectsAfter == 0 {
		return
	}
	fmt.Fprintf(b, "  objects: %d → %d (%+d)", h.ObjectsBefore, h.ObjectsAfter, h.ObjectGrowth)
	if floor != nil {
		fmt.Fprintf(b, "; noise floor %s (%s)", floor, cmp.Or(floor.Basis, "given"))
	}
	b.WriteString("\n")
	if h.Suspect {
		b.WriteString("  above the noise floor, within tolerance: a slow leak unless the same fault held again does not grow it in proportion\n")
	}
	if h.Faulted > 0 || len(h.Cycles) > 0 {
		fmt.Fprintf(b, "  %s\n", h.PerRequestText())
	}
	if len(h.Cycles) > 1 {
		top := int64(1)
		for _, c := range h.Cycles {
			top = max(top, c.Growth)
		}
		for _, c := range h.Cycles {
			bar := strings.Repeat("█", int(max(0, 24*c.Growth/top)))
			fmt.Fprintf(b, "    %-24s %s\n", bar, c)
		}
	}
	if h.Repeat != "" {
		fmt.Fprintf(b, "  %s\n", h.Repeat)
	}
}

func writeStack(b *strings.Builder, stack string) {
	lines := strings.Split(strings.TrimRight(stack, "\n"), "\n")
	for i, l := range lines {
		if i == maxStackLines-1 && len(lines) > maxStackLines {
			fmt.Fprintf(b, "%s  ... %d more frame(s)\n", format.Indent+format.Indent+format.Indent, len(lines)-i-1)
			fmt.Fprintf(b, "%s  %s\n", format.Indent+format.Indent+format.Indent, lines[len(lines)-1])
			return
		}
		fmt.Fprintf(b, "%s  %s\n", format.Indent+format.Indent+format.Indent, l)
	}
}

func frameText(f snapshot.Frame) string {
	if f.File == "" {
		return f.Function
	}
	return f.Function + " at " + f.Location()
}

// BytesText renders a byte count as reports show it (1.5 MiB).
func BytesText(n int64) string { return bytesText(n) }

func bytesText(n int64) string {
	switch a := max(n, -n); {
	case a >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case a >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case a >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func signedBytes(n int64) string {
	if n >= 0 {
		return "+" + bytesText(n)
	}
	return bytesText(n)
}

// originShort is a culprit line's tail naming the service's call site
// (or saying that none could be tied), marked as inferred.
func originShort(a *snapshot.Attribution) string {
	switch {
	case a == nil:
		return ""
	case len(a.Sites) == 0:
		return " (" + a.NoTie + ")"
	}
	parts := make([]string, len(a.Sites))
	for i, s := range a.Sites {
		parts[i] = frameText(s.Site)
		if len(a.Sites) > 1 || s.Share < 0.995 {
			parts[i] += fmt.Sprintf(" %.0f%%", 100*s.Share)
		}
	}
	tail := ""
	if a.Minor > 0 {
		tail = fmt.Sprintf("; %d smaller site(s) not named", a.Minor)
	}
	return "; your call site: " + strings.Join(parts, ", ") + " (" + a.Basis + tail + ")"
}

// writeOrigin writes the call sites behind a group or class: each with
// its share and the sampled bytes and objects that back it.
func writeOrigin(b *strings.Builder, a *snapshot.Attribution) {
	if a == nil {
		return
	}
	if len(a.Sites) == 0 {
		fmt.Fprintf(b, "      your code:  %s (%s)\n", a.NoTie, ownText(a))
		return
	}
	if a.Exact() {
		fmt.Fprintf(b, "      your code:  %s, where they were started (%s):\n", snapshot.ExactText, ownText(a))
		for _, s := range a.Sites {
			fmt.Fprintf(b, "        %s — %d goroutine(s), %.0f%% of the growth\n", frameText(s.Site), s.Goroutines, 100*s.Share)
		}
		if a.Minor > 0 {
			fmt.Fprintf(b, "        (and %d smaller site(s): not named)\n", a.Minor)
		}
		return
	}
	fmt.Fprintf(b, "      your code:  %s, through %s (%s):\n", snapshot.InferredText, strings.Join(a.Through, ", "), ownText(a))
	for _, s := range a.Sites {
		fmt.Fprintf(b, "        %s — %.0f%% of the growth: +%s in %d objects, estimated from %d heap samples (one per %s allocated)\n",
			frameText(s.Site), 100*s.Share, bytesText(s.Bytes), s.Objects, s.Samples, bytesText(a.Rate))
	}
	if a.Minor > 0 {
		fmt.Fprintf(b, "        (and %d smaller site(s), under a quarter of the largest or past the third: not named)\n", a.Minor)
	}
}

func ownText(a *snapshot.Attribution) string { return "own code: " + a.Own }

// labelsShort writes the label sets that grew: "handler=/quote +36;
// unlabelled +2".
func labelsShort(ls []snapshot.LabelCount) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%s %+d", cmp.Or(l.Labels, "unlabelled"), l.Extra())
	}
	return strings.Join(parts, "; ")
}
