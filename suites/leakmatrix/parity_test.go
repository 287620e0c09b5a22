package leakmatrix_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/fixtures/shop"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

// parityDrill is the shipped slow-upstream drill with a shorter settle, a
// quiesce window of its own (so that the drills suite keeps it rather
// than the env file's) and a declared fail-fast SLO: one file, run as it
// is through both front ends.
func parityDrill() []byte {
	GinkgoHelper()
	data, err := fs.ReadFile(experiments.DemoFS, "slow-upstream.yaml")
	Expect(err).NotTo(HaveOccurred())
	s := strings.Replace(string(data), "    settle: 20s\n", "    settle: 8s\n    quiesce: 1500ms\n    slo:\n      duringFault: {p99: 500ms}\n", 1)
	Expect(s).NotTo(Equal(string(data)), "the shipped drill changed: adapt parityDrill")
	return []byte(s)
}

var _ = Describe("One Drill file through aftershock drill and through the drills suite", Label(MatrixLabel, ParityLabel), Ordered, func() {
	if !paritySelected() {
		It("runs only with --label-filter="+ParityLabel+" or "+MatrixLabel, func() {
			Skip("it runs four drills, about two minutes; select it with --label-filter=" + ParityLabel)
		})
		return
	}

	var upAddr, dir, drill string
	BeforeAll(func(ctx SpecContext) {
		Expect(bins.Aftershock).NotTo(BeEmpty(), "the aftershock command was not built")
		Expect(bins.Suites["drills"]).NotTo(BeEmpty(), "the drills suite was not built")
		_, upAddr = startPayments(ctx)
		dir = GinkgoT().TempDir()
		Expect(os.MkdirAll(filepath.Join(dir, "drills"), 0o755)).To(Succeed())
		drill = filepath.Join(dir, "drills", "slow-upstream.yaml")
		Expect(os.WriteFile(drill, parityDrill(), 0o644)).To(Succeed())
	}, NodeTimeout(time.Minute))

	DescribeTable("gives the same verdict, culprits and SLO checks",
		func(ctx SpecContext, name string, leaks, fixes []string, want runner.Verdict) {
			By("running " + drill + " with aftershock drill against a fresh " + name + " shop")
			cli := cliRun(ctx, dir, name, upAddr, leaks, fixes, drill)
			By("running the same file through the drills suite against another fresh " + name + " shop")
			suite := suiteRun(ctx, dir, name, upAddr, leaks, fixes)

			Expect(cli.Verdict).To(Equal(want), "aftershock drill:\n%s", text(cli))
			Expect(suite.Verdict).To(Equal(cli.Verdict), "the drills suite's verdict differs:\n%s\nCLI:\n%s", text(suite), text(cli))
			Expect(suite.Faults).To(HaveLen(len(cli.Faults)))
			for i := range cli.Faults {
				Expect(culprits(suite.Faults[i])).To(Equal(culprits(cli.Faults[i])),
					"fault %s: the culprits differ\nsuite:\n%s\nCLI:\n%s", cli.Faults[i].Name, text(suite), text(cli))
				Expect(sloVerdicts(suite.Faults[i])).To(Equal(sloVerdicts(cli.Faults[i])), "fault %s: the SLO checks differ", cli.Faults[i].Name)
			}
			if want == runner.Fail {
				Expect(culprits(cli.Faults[0])).To(ContainElement(ContainSubstring("shop.(*Server).callPayments.func1")))
			}
		},
		Entry("leaky shop (goroutine leak)", "leaky", []string{shop.LeakGoroutine},
			slices.DeleteFunc(shop.Fixes(), func(f string) bool { return f == shop.LeakGoroutine }), runner.Fail, SpecTimeout(4*time.Minute)),
		Entry("fixed shop", "fixed", nil, shop.Fixes(), runner.Pass, SpecTimeout(4*time.Minute)),
	)
})

// cliRun runs the drill file with `aftershock drill --output json` against a
// fresh shop and returns its result.
func cliRun(ctx context.Context, dir, name, upAddr string, leaks, fixes []string, drill string) *runner.Result {
	GinkgoHelper()
	sh, env := startExternalShop(ctx, dir, name+"-cli", upAddr, leaks, fixes, "")
	vars := envVars(env)
	cmd := exec.CommandContext(ctx, bins.Aftershock, "drill", "--output", "json", drill)
	cmd.Env = append(os.Environ(), "SHOP_URL="+sh.URL, "SHOP_PPROF="+sh.Pprof,
		"PAYMENTS_PROXY="+vars["listen"], "PAYMENTS_ADDR="+upAddr)
	session, err := gexec.Start(cmd, nil, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(ctx, session).WithTimeout(runTimeout).Should(gexec.Exit())
	Expect(session.ExitCode()).To(BeElementOf(0, 1), "aftershock drill could not run")
	var results []*runner.Result
	Expect(json.Unmarshal(session.Out.Contents(), &results)).To(Succeed())
	Expect(results).To(HaveLen(1))
	return results[0]
}

// suiteRun runs the drills suite with the directory of the drill file and
// an env file describing a fresh shop, and returns the drill's journal.
func suiteRun(ctx context.Context, dir, name, upAddr string, leaks, fixes []string) *runner.Result {
	GinkgoHelper()
	_, env := startExternalShop(ctx, dir, name+"-suite", upAddr, leaks, fixes, "")
	artifacts := filepath.Join(dir, name+"-artifacts")
	out, code := runBinary(ctx, bins.Suites["drills"], run{suite: "drills"}, nil,
		suitekit.EnvTarget+"="+env, suitekit.EnvDrills+"="+filepath.Join(dir, "drills"),
		suitekit.EnvArtifacts+"="+artifacts, suitekit.EnvDemoLeaks+"=", suitekit.EnvDemoFixes+"=",
		suitekit.EnvSettle+"=", suitekit.EnvShopBinary+"="+bins.Shop)
	AddReportEntry("output of the drills suite", ReportEntryVisibilityFailureOrVerbose, out)
	Expect(code).To(BeElementOf(0, 1), "the drills suite could not run:\n%s", out)
	journals, err := filepath.Glob(filepath.Join(artifacts, "drills", "*", "journal.json"))
	Expect(err).NotTo(HaveOccurred())
	Expect(journals).To(HaveLen(1), "one journal, of the one drill:\n%s", out)
	data, err := os.ReadFile(journals[0])
	Expect(err).NotTo(HaveOccurred())
	var res runner.Result
	Expect(json.Unmarshal(data, &res)).To(Succeed())
	return &res
}

// envVars reads the proxy address back out of an env file.
func envVars(env string) map[string]string {
	GinkgoHelper()
	e, err := suitekit.LoadEnv(env)
	Expect(err).NotTo(HaveOccurred())
	Expect(e.Upstreams).To(HaveLen(1))
	return map[string]string{"listen": e.Upstreams[0].Listen}
}

// culprits names what a fault's findings hold over tolerance, without the
// counts (two runs leak different numbers): each goroutine group by its
// culprit and creator, each connection class, the heap.
func culprits(f runner.FaultResult) []string {
	var out []string
	if f.Findings == nil {
		return []string{"not judged: " + f.Error}
	}
	for _, g := range f.Findings.Goroutines.Over {
		out = append(out, fmt.Sprintf("goroutines in %s, created by %s", g.Culprit.Function, g.Creator.Function))
	}
	for _, c := range f.Findings.Connections.Over {
		out = append(out, "connections "+string(c.Class))
	}
	if f.Findings.Heap.Over {
		out = append(out, "heap")
	}
	slices.Sort(out)
	return out
}

// sloVerdicts are a fault's SLO checks by name, with their verdicts.
func sloVerdicts(f runner.FaultResult) []string {
	var out []string
	for _, c := range f.SLOs {
		out = append(out, fmt.Sprintf("%s: %v", c.Name, c.OK))
	}
	return out
}

func text(r *runner.Result) string {
	var b strings.Builder
	runner.WriteText(&b, r)
	return b.String()
}
