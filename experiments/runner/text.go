package runner

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aftershock/aftershock/matchers"
)

// WriteText writes a result as the CLI prints it and a suite's failure
// shows it: the verdict, the error that stopped the drill, each fault's
// outcome with its culprits and findings, each declared SLO with what was
// measured over which window, and the wall time per phase.
func WriteText(w io.Writer, r *Result) {
	fmt.Fprintf(w, "drill %s: %s (%s)\n", r.Drill, strings.ToUpper(string(r.Verdict)), r.Wall.Round(10*time.Millisecond))
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", indent(r.Error, "    "))
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
	for _, f := range r.Faults {
		status := "PASS"
		if !f.Passed() {
			status = "FAIL"
		}
		fmt.Fprintf(w, "  fault %s [%s]: %s\n", f.Name, f.Injected, status)
		if h := f.HeldWithText(); h != "" {
			fmt.Fprintf(w, "    %s\n", h)
		}
		switch {
		case f.Returned:
			fmt.Fprintf(w, "    back to baseline after %s\n", f.Settle.Round(time.Millisecond))
			if f.Findings != nil && f.Findings.Heap.Repeat != "" {
				// Held more than once: what each cycle did to the heap.
				fmt.Fprintf(w, "    heap %s\n", f.Findings.Heap.Repeat)
			}
		case f.Findings == nil:
			fmt.Fprintf(w, "    not judged: %s\n", cmp.Or(f.Error, "the fault did not run to its settle"))
		default:
			if len(f.Findings.Restarts()) > 0 {
				fmt.Fprintf(w, "    a process of the target was replaced (or stopped answering) during the fault: it is not compared with the baseline; culprits:\n")
			} else if f.ProvedAfter > 0 {
				fmt.Fprintf(w, "    %s %s into the settle, which ended there (no deadline could change the verdict; the other resources were judged then); culprits:\n",
					matchers.ProvedText, f.ProvedAfter.Round(time.Millisecond))
			} else {
				fmt.Fprintf(w, "    did not return to baseline within %s; culprits:\n", f.Settle.Round(time.Millisecond))
			}
			for _, c := range f.Culprits {
				fmt.Fprintf(w, "      - %s\n", c)
			}
			fmt.Fprintf(w, "    details:\n      %s\n", indent(strings.TrimSpace(f.Findings.Message()), "      "))
		}
		if f.Effect != nil {
			fmt.Fprintf(w, "    the fault's effect: %+v\n", f.Effect)
		}
		if s := f.DuringFault; s != nil {
			fmt.Fprintf(w, "    load during fault: %d requests, %.1f%% ok, p50 %s, p99 %s\n", s.Requests, 100*s.SuccessRate, s.P50.Round(time.Millisecond), s.P99.Round(time.Millisecond))
		}
		for _, c := range f.SLOs {
			mark := "ok"
			if !c.OK {
				mark = "BROKEN"
			}
			fmt.Fprintf(w, "    slo %s: %s\n      (%s)\n", c, mark, c.Window)
		}
	}
	var phases []string
	for _, p := range r.Phases {
		name := p.Phase
		if p.Fault != "" {
			name += " " + p.Fault
		}
		phases = append(phases, fmt.Sprintf("%s %s", name, p.Duration.Round(time.Millisecond)))
	}
	if len(phases) > 0 {
		fmt.Fprintf(w, "  phases: %s\n", strings.Join(phases, ", "))
	}
	if r.Artifacts != "" {
		fmt.Fprintf(w, "  artifacts: %s\n", r.Artifacts)
	}
}

func indent(s, prefix string) string {
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}
