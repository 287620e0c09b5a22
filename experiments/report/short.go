package report

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aftershock/aftershock/experiments/runner"
)

// TerminationLimit is what Kubernetes keeps of a termination message.
const TerminationLimit = 4096

// Short is the verdict in a few lines, for a pod's termination message
// (what `kubectl get pods` and alerts on a failed Job show): per drill its
// verdict and error, per failed fault its first culprits; at most limit
// bytes, cut at a line with a note that more is in the log.
func Short(results []*runner.Result, limit int) string {
	var b strings.Builder
	for _, r := range results {
		fmt.Fprintf(&b, "drill %s: %s\n", r.Drill, strings.ToUpper(string(r.Verdict)))
		if r.Error != "" {
			fmt.Fprintf(&b, "  error: %s\n", firstLine(strings.TrimSpace(r.Error)))
		}
		for _, f := range r.Faults {
			if f.Passed() {
				continue
			}
			fmt.Fprintf(&b, "  fault %s: FAIL", f.Name)
			switch {
			case f.Error != "":
				fmt.Fprintf(&b, ": %s", firstLine(strings.TrimSpace(f.Error)))
			case !f.Returned:
				fmt.Fprintf(&b, ": not back to baseline after %s", f.Settle.Round(1e6))
			}
			b.WriteByte('\n')
			for i, c := range f.Culprits {
				if i == 3 {
					fmt.Fprintf(&b, "    (%d more culprits)\n", len(f.Culprits)-3)
					break
				}
				fmt.Fprintf(&b, "    - %s\n", firstLine(strings.TrimSpace(c)))
			}
			for _, s := range f.SLOs {
				if !s.OK {
					fmt.Fprintf(&b, "    - SLO %s\n", s)
				}
			}
		}
	}
	return cut(b.String(), limit)
}

// cut keeps s within limit bytes, ending on a whole line (and a whole
// rune) followed by a note.
func cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const more = "... (the rest is in the pod's log)\n"
	s = s[:max(limit-len(more), 0)]
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[:i+1]
	}
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + more
}
