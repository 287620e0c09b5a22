package matchers

import (
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

// connHints say what a grown class usually means.
var connHints = map[snapshot.ConnClass]string{
	snapshot.HTTPServer:            "HTTP/1 connections the service still serves (stalled clients or handlers that never return)",
	snapshot.HTTP2Server:           "HTTP/2 server connections still open",
	snapshot.HTTPClientIdle:        "idle pooled HTTP/1 client connections (healthy; they close at the transport's IdleConnTimeout)",
	snapshot.HTTPClientBodyPending: "HTTP/1 client connections whose response body was never read to EOF nor closed (a missing resp.Body.Close)",
	snapshot.HTTP2Client:           "HTTP/2 client connections still open",
	snapshot.GRPCClient:            "gRPC client transports still open (a ClientConn never closed?)",
	snapshot.GRPCServer:            "gRPC server transports still open",
	snapshot.Listener:              "listening sockets still accepting",
}

// message renders the last verdict; negated says the matcher was expected to
// fail (NotTo) and did not. One helper, so both read the same way.
func (m *baselineMatcher) message(negated bool) string {
	v := m.last
	if v == nil {
		return fmt.Sprintf("%s matcher: no snapshot was compared", m.name)
	}
	var b strings.Builder
	if negated {
		fmt.Fprintf(&b, "Expected the service NOT to be back at its baseline (%s), but it is, within tolerance:\n", m.name)
	} else {
		fmt.Fprintf(&b, "Expected the service to return to its baseline (%s), but it has not:\n", m.name)
	}
	d := v.diff
	if v.checks&checkGoroutines != 0 {
		fmt.Fprintf(&b, "\nGoroutines: %d → %d (%+d)", d.GoroutinesBefore, d.GoroutinesAfter, d.GoroutinesAfter-d.GoroutinesBefore)
		switch {
		case v.light:
			fmt.Fprintf(&b, ", tolerance %+d in total (light snapshot: take a full Capture for groups and culprits)\n", v.totalTol)
		case len(v.groups) == 0:
			b.WriteString(", no group over its tolerance\n")
		default:
			fmt.Fprintf(&b, ", %d group(s) over tolerance:\n", len(v.groups))
			writeGroups(&b, v.groups)
		}
	}
	if v.checks&checkConnections != 0 {
		if len(v.conns) == 0 {
			b.WriteString("\nConnections: no class over its tolerance\n")
		} else {
			b.WriteString("\nConnections that grew over tolerance:\n")
			writeConns(&b, v.conns)
		}
	}
	if v.checks&checkHeap != 0 {
		fmt.Fprintf(&b, "\nHeap (HeapAlloc after GC): %s → %s (%s, tolerance +%s)\n",
			bytesText(int64(d.HeapBefore)), bytesText(int64(d.HeapAfter)), signedBytes(d.HeapGrowth()), bytesText(v.heapTol))
		if v.heapOver || negated {
			writeSites(&b, d.HeapSites)
		}
	}
	return b.String()
}

func writeGroups(b *strings.Builder, groups []groupFinding) {
	for i, g := range groups {
		if i == maxGroupsShown {
			fmt.Fprintf(b, "  ... and %d more group(s)\n", len(groups)-i)
			break
		}
		fmt.Fprintf(b, "  %+d goroutines [%s]: %d → %d (tolerance %+d)\n", g.Extra(), g.State, g.Before, g.Count, g.tolerance)
		fmt.Fprintf(b, "      culprit:    %s\n", frameText(g.Culprit))
		if g.Creator.Function != "" {
			fmt.Fprintf(b, "      created by: %s\n", frameText(g.Creator))
		}
		if g.Conn != "" {
			fmt.Fprintf(b, "      holds:      a %s connection\n", g.Conn)
		}
		if g.MaxWait > 0 {
			fmt.Fprintf(b, "      waiting:    up to %s\n", g.MaxWait)
		}
		fmt.Fprintf(b, "      example, goroutine %d:\n", g.ExampleID)
		writeStack(b, g.Example)
	}
}

func writeConns(b *strings.Builder, conns []connFinding) {
	for _, c := range conns {
		fmt.Fprintf(b, "  %s: %d → %d (%+d, tolerance %+d): %s\n", c.Class, c.Before, c.After, c.Extra(), c.tolerance, connHints[c.Class])
		if c.Example != "" {
			b.WriteString("      example:\n")
			writeStack(b, c.Example)
		}
	}
}

func writeSites(b *strings.Builder, sites []snapshot.HeapSite) {
	shown := 0
	for _, s := range sites {
		if s.InuseBytes <= 0 || shown == maxSitesShown {
			break
		}
		if shown == 0 {
			b.WriteString("  allocation sites that grew (inuse_space, sampled, as pprof -diff_base):\n")
		}
		fmt.Fprintf(b, "    %10s  %s\n", signedBytes(s.InuseBytes), frameText(s.Site))
		shown++
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
