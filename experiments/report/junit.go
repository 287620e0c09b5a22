package report

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"

	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/matchers"
)

// WriteJUnit renders results as JUnit XML, Ginkgo's schema (its reporters
// package's types), so that CI systems show drills as they show tests: one
// test suite per drill; per fault, one test case per resource (goroutines,
// connections, heap) and one per declared SLO, failed with the verdict's
// findings; a drill that could not run is one test case in error.
func WriteJUnit(w io.Writer, results []*runner.Result) error {
	var all reporters.JUnitTestSuites
	for _, r := range results {
		if r == nil {
			continue
		}
		s := reporters.JUnitTestSuite{
			Name: "aftershock drill " + r.Drill, Package: r.File,
			Timestamp: r.Start.UTC().Format("2006-01-02T15:04:05"), Time: r.Wall.Seconds(),
		}
		add := func(tc reporters.JUnitTestCase) {
			tc.Classname = r.Drill
			s.TestCases = append(s.TestCases, tc)
			s.Tests++
			switch {
			case tc.Failure != nil:
				s.Failures++
			case tc.Error != nil:
				s.Errors++
			}
		}
		for _, f := range r.Faults {
			for _, res := range matchers.Resources {
				tc := reporters.JUnitTestCase{Name: fmt.Sprintf("fault %s: %s return to the baseline", f.Name, res), Status: "passed"}
				switch {
				case f.Findings == nil:
					tc.Status = "error"
					tc.Error = &reporters.JUnitError{Message: "not judged", Type: "could not run", Description: cmp.Or(f.Error, "no snapshot to judge")}
				case f.Findings.Over(res):
					tc.Status = "failed"
					what := fmt.Sprintf("did not return to the baseline within %s", f.Settle.Round(time.Millisecond))
					if f.ProvedAfter > 0 {
						what = fmt.Sprintf("judged %s into the settle, when the Go runtime proved goroutines leaked", f.ProvedAfter.Round(time.Millisecond))
					}
					tc.Failure = &reporters.JUnitFailure{
						Message:     fmt.Sprintf("%s %s: %s", res, what, strings.Join(f.Findings.Culprits(res), "; ")),
						Type:        "leak",
						Description: f.Findings.Message(res),
					}
					if h := f.HeldWithText(); h != "" {
						tc.Failure.Description = h + "\n" + tc.Failure.Description
					}
				}
				add(tc)
			}
			for _, c := range f.SLOs {
				tc := reporters.JUnitTestCase{Name: fmt.Sprintf("fault %s: slo %s", f.Name, c.Name), Status: "passed",
					SystemOut: fmt.Sprintf("want %s, got %s (%s)", c.Want, c.Got, c.Window)}
				if !c.OK {
					tc.Status = "failed"
					tc.Failure = &reporters.JUnitFailure{Message: c.String(), Type: "slo", Description: c.Window}
				}
				add(tc)
			}
		}
		if r.Error != "" {
			add(reporters.JUnitTestCase{Name: "drill " + r.Drill + " runs to its verdict", Status: "error",
				Error: &reporters.JUnitError{Message: firstLine(r.Error), Type: "could not run", Description: r.Error}})
		}
		all.TestSuites = append(all.TestSuites, s)
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Errors += s.Errors
		all.Time += s.Time
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
