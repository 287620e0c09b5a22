package experiments

import (
	"fmt"
	"strings"

	"github.com/aftershock/aftershock/snapshot"
)

// Culprits turns a diff into one line per finding over the drill's
// tolerances, most important first: the goroutine groups that grew (with
// the function they are parked in and where they were created), the
// connection classes that grew, and the heap with its top allocation
// site. It is the short form of the matcher's failure message, for
// summaries and tables.
func (v Verify) Culprits(d *snapshot.Diff) []string {
	if d == nil {
		return nil
	}
	var out []string
	for _, g := range d.Groups {
		allowed := v.Goroutines.MaxExtra
		if g.Conn == snapshot.HTTPClientIdle {
			allowed = max(allowed, v.Connections.MaxIdleExtra)
		}
		if g.Extra() <= allowed {
			continue
		}
		line := fmt.Sprintf("+%d goroutines [%s] in %s", g.Extra(), g.State, g.Culprit)
		if g.Creator.Function != "" {
			line += ", created by " + g.Creator.Function
		}
		out = append(out, line)
	}
	for _, c := range d.Connections {
		allowed := v.Connections.MaxExtra
		if c.Class == snapshot.HTTPClientIdle {
			allowed = v.Connections.MaxIdleExtra
		}
		if c.Extra() > allowed {
			out = append(out, fmt.Sprintf("+%d %s connections (%d → %d)", c.Extra(), c.Class, c.Before, c.After))
		}
	}
	growth := v.Heap.MaxGrowth
	if growth.IsZero() {
		growth = DefaultHeapGrowth()
	}
	if g := d.HeapGrowth(); g > growth.Allowed(int64(d.HeapBefore)) {
		line := fmt.Sprintf("heap +%s (%s → %s)", bytesString(g), bytesString(int64(d.HeapBefore)), bytesString(int64(d.HeapAfter)))
		if len(d.HeapSites) > 0 && d.HeapSites[0].InuseBytes > 0 {
			s := d.HeapSites[0]
			line += fmt.Sprintf(", most at %s (+%s sampled)", s.Site, bytesString(s.InuseBytes))
		}
		out = append(out, line)
	}
	return out
}

// shortFunc drops the import path of a function name, for narrow tables:
// github.com/x/y/shop.(*Server).f → shop.(*Server).f.
func shortFunc(fn string) string {
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		return fn[i+1:]
	}
	return fn
}
