package drills_test

import (
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/experiments/report"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

// drillTimeout bounds one drill: warmup, every fault's hold, recovery and
// settle (20 s in the shipped drills), with room for a slow machine.
const drillTimeout = 4 * time.Minute

var _ = Describe("Drill files", Label("drills"), suitekit.TargetDecorators(), func() {
	// The files are listed while the tree is built, so that each becomes a
	// spec of its own (and -p spreads them over the processes); they are
	// loaded when the spec runs, with the addresses of the target.
	files, err := suitekit.DrillFiles()
	if err != nil {
		It("lists the drill files", func() { Fail(err.Error()) })
		return
	}
	for _, f := range files {
		It("passes "+f.Path, Label(f.Labels...), func(ctx SpecContext) {
			By("loading " + f.Path + " for " + tgt.Name)
			d, err := f.Load(tgt)
			Expect(err).NotTo(HaveOccurred())

			dir := suitekit.SpecArtifacts()
			AddReportEntry("drill", ReportEntryVisibilityFailureOrVerbose,
				f.Path+" against "+tgt.Describe()+"\njournal: "+filepath.Join(dir, "journal.json")+"\nbundles: "+filepath.Join(dir, "*.pb.gz"))
			By("running drill " + d.Metadata.Name)
			res, err := runner.Run(ctx, d,
				runner.WithProgress(GinkgoWriter),
				runner.WithArtifacts(dir), report.Charts())
			Expect(err).NotTo(HaveOccurred(), "drill %s could not run to its verdict", f.Path)
			AddReportEntry("verdict", ReportEntryVisibilityFailureOrVerbose, verdictSummary(res))
			Expect(res.Verdict).To(Equal(runner.Pass), suitekit.Verdict(res))
		}, SpecTimeout(drillTimeout))
	}
})

// verdictSummary is one line per fault: how long the service took to
// settle and what the load saw while the fault was held.
func verdictSummary(res *runner.Result) string {
	var b strings.Builder
	b.WriteString(string(res.Verdict) + " in " + res.Wall.Round(time.Millisecond).String() + "\n")
	for _, fr := range res.Faults {
		status := "returned after " + fr.Settle.Round(time.Millisecond).String()
		if !fr.Returned {
			status = "did NOT return within " + fr.Settle.Round(time.Millisecond).String()
		}
		b.WriteString("  " + fr.Name + ": " + status)
		if st := fr.DuringFault; st != nil {
			b.WriteString(", during the fault p99 " + st.P99.Round(time.Millisecond).String())
		}
		b.WriteString("\n")
	}
	return b.String()
}
