package matchers

import (
	"github.com/aftershock/aftershock/snapshot"
)

// writeLoop is the second goroutine of every HTTP/1 client connection; it
// looks the same whether the connection is idle or leaked.
const writeLoop = "net/http.(*persistConn).writeLoop"

// verdict is a diff judged against the tolerances.
type verdict struct {
	diff   *snapshot.Diff
	checks check
	light  bool

	groups []groupFinding // goroutine groups over tolerance
	conns  []connFinding  // connection classes over tolerance
	// light snapshots: the total goroutine count over tolerance
	totalOver bool
	totalTol  int

	heapTol  int64
	heapOver bool
}

type groupFinding struct {
	snapshot.GroupDelta
	tolerance int
}

type connFinding struct {
	snapshot.ConnDelta
	tolerance int
}

func (v *verdict) ok() bool {
	return len(v.groups) == 0 && len(v.conns) == 0 && !v.heapOver && !v.totalOver
}

func judge(d *snapshot.Diff, checks check, cfg *config, light bool) *verdict {
	v := &verdict{diff: d, checks: checks, light: light}
	if checks&checkGoroutines != 0 {
		if light {
			// No groups without a debug=2 dump: judge the total.
			v.totalTol = cfg.maxExtraGoroutines
			v.totalOver = d.GoroutinesAfter-d.GoroutinesBefore > v.totalTol
		}
		for _, g := range d.Groups {
			tol := cfg.maxExtraGoroutines
			if g.Conn == snapshot.HTTPClientIdle || g.Culprit.Function == writeLoop {
				tol += cfg.maxExtraIdle
			}
			if g.Extra() > tol {
				v.groups = append(v.groups, groupFinding{GroupDelta: g, tolerance: tol})
			}
		}
	}
	if checks&checkConnections != 0 {
		for _, c := range d.Connections {
			tol := cfg.maxExtraConnections
			if c.Class == snapshot.HTTPClientIdle {
				tol = cfg.maxExtraIdle
			}
			if c.Extra() > tol {
				v.conns = append(v.conns, connFinding{ConnDelta: c, tolerance: tol})
			}
		}
	}
	if checks&checkHeap != 0 {
		v.heapTol = max(cfg.maxHeapGrowth, int64(cfg.maxHeapGrowthRatio*float64(d.HeapBefore)))
		v.heapOver = d.HeapGrowth() > v.heapTol
	}
	return v
}
