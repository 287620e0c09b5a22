package leakmatrix_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/fixtures/grpcshop"
	"github.com/aftershock/aftershock/fixtures/launch"
	"github.com/aftershock/aftershock/fixtures/ports"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

var _ = Describe("A separately started gRPC service (AFTERSHOCK_TARGET)", Label(MatrixLabel, ExternalLabel, "grpc"), Ordered, func() {
	if !externalSelected() {
		It("runs only with --label-filter="+ExternalLabel+" or "+MatrixLabel, func() {
			Skip("it runs the grpc suite for about two minutes; select it with --label-filter=" + ExternalLabel)
		})
		return
	}

	var (
		inv *grpcshop.InventoryServer
		dir string
	)
	BeforeAll(func() {
		Expect(bins.GRPCShop).NotTo(BeEmpty(), "the gRPC shop was not built")
		Expect(bins.Suites["grpc"]).NotTo(BeEmpty(), "the grpc suite was not built")
		var err error
		inv, err = grpcshop.StartInventory("127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(inv.Close)
		dir = GinkgoT().TempDir()
	})

	// env is the environment of a suite run against an env file: the demo
	// switches name a leak, so a run that drilled a demo instead of the
	// env file's service would fail.
	env := func(file string) []string {
		return []string{suitekit.EnvTarget + "=" + file, suitekit.EnvGRPCDemoLeaks + "=" + grpcshop.LeakConn,
			suitekit.EnvGRPCDemoFixes + "=", suitekit.EnvSettle + "=", suitekit.EnvGRPCShopBinary + "=" + bins.GRPCShop}
	}

	It("drills that service, not a demo, and passes with its fixes on", func(ctx SpecContext) {
		sh, file := startExternalGRPCShop(ctx, dir, "healthy", inv.Addr(), nil)
		calls0 := inv.Calls()
		r := run{suite: "grpc"}
		By("running the grpc suite with " + suitekit.EnvTarget + "=" + file)
		out, code := runBinary(ctx, bins.Suites[r.suite], r, []string{"-ginkgo.v"}, env(file)...)
		AddReportEntry("output of grpc", ReportEntryVisibilityFailureOrVerbose, out)
		calls1 := inv.Calls()
		AddReportEntry("drilled", fmt.Sprintf("inventory calls %d → %d", calls0, calls1))

		Expect(code).To(Equal(0), "the suite must pass against the healthy external gRPC shop; output:\n%s", out)
		Expect(out).To(ContainSubstring(fmt.Sprintf("aftershock: drilling the service of %s at %s (pprof %s)", file, sh.URL, sh.Pprof)),
			"the suite must say it drills the env file's service")
		Expect(out).To(MatchRegexp(`Ran [1-9]\d* of \d+ Specs`), "the run must have run specs, not skipped them all")
		Expect(out).NotTo(ContainSubstring("demo gRPC shop"), "no demo may be drilled")
		Expect(out).NotTo(ContainSubstring("aftershock-fixture ready"), "no fixture may be started by the suite")
		Expect(calls1-calls0).To(BeNumerically(">=", minDrilled), "the external shop must have called its inventory through the suite's proxy")
	}, SpecTimeout(runTimeout+30*time.Second))

	It("is skipped by the HTTP suites, saying why, and drilled by the shipped gRPC drills", func(ctx SpecContext) {
		_, file := startExternalGRPCShop(ctx, dir, "any-suite", inv.Addr(), nil)
		By("running the slowupstream suite with " + suitekit.EnvTarget + "=" + file)
		out, code := runBinary(ctx, bins.Suites["slowupstream"], run{suite: "slowupstream"}, nil, env(file)...)
		AddReportEntry("output of slowupstream", ReportEntryVisibilityFailureOrVerbose, out)
		Expect(code).To(Equal(0), "an HTTP suite must skip a gRPC target, not fail; output:\n%s", out)
		Expect(out).To(ContainSubstring("is a gRPC service (grpc://"), "the skip must say why")
		Expect(out).To(MatchRegexp(`Ran 0 of \d+ Specs`))

		By("running the drills suite with " + suitekit.EnvTarget + "=" + file)
		r := run{suite: "drills"}
		out, code = runBinary(ctx, bins.Suites[r.suite], r, []string{"-ginkgo.v"}, append(env(file), suitekit.EnvDrills+"=",
			suitekit.EnvArtifacts+"="+filepath.Join(dir, "any-suite-artifacts"))...)
		AddReportEntry("output of drills", ReportEntryVisibilityFailureOrVerbose, out)
		Expect(code).To(Equal(0), "the shipped gRPC drills must pass against the healthy gRPC shop; output:\n%s", out)
		Expect(out).To(ContainSubstring("experiments/drills/grpc/slow-inventory.yaml"))
		Expect(out).To(MatchRegexp(`Ran 2 of 2 Specs`))
	}, SpecTimeout(runTimeout+30*time.Second))

	DescribeTable("fails against that service when it leaks, naming the culprit",
		func(ctx SpecContext, leak string) {
			r := grpcRuns[leak]
			sh, file := startExternalGRPCShop(ctx, dir, "leaky-"+leak, inv.Addr(), []string{leak})
			By(fmt.Sprintf("running %s (%s) with %s=%s", r.suite, r.focus, suitekit.EnvTarget, file))
			out, code := runBinary(ctx, bins.Suites[r.suite], r, nil, env(file)...)
			AddReportEntry("output of "+r.suite, ReportEntryVisibilityFailureOrVerbose, out)

			Expect(code).To(Equal(1), "the suite must fail against the external shop leaking %s; output:\n%s", leak, out)
			Expect(out).To(MatchRegexp(`the service of %s: (goroutines|connections) did not return to its baseline`, regexp.QuoteMeta(file)),
				"the failure must be the external shop's settle failure")
			for _, c := range r.culprits {
				Expect(out).To(ContainSubstring(c), "the failure must name the culprit %s", c)
			}
			Expect(out).NotTo(ContainSubstring("demo gRPC shop"), "no demo may be drilled")
			Expect(sh.ExitCode()).To(Equal(-1), "the external shop must still be running: the suite does not stop it")
		},
		Entry("stream", grpcshop.LeakStream, SpecTimeout(runTimeout+30*time.Second)),
		Entry("producer", grpcshop.LeakProducer, SpecTimeout(runTimeout+30*time.Second)),
		Entry("conn", grpcshop.LeakConn, SpecTimeout(runTimeout+30*time.Second)),
		Entry("retry", grpcshop.LeakRetry, SpecTimeout(runTimeout+30*time.Second)),
	)
})

// startExternalGRPCShop starts a gRPC shop as a process of its own,
// calling inventory through a fault proxy address the suite will listen
// on, with leaks on and every other fix, and writes the env file that
// describes it. The shop is stopped when the spec ends.
func startExternalGRPCShop(ctx context.Context, dir, name, invAddr string, leaks []string) (*launch.Process, string) {
	GinkgoHelper()
	proxyAddr, err := ports.FreeAddr()
	Expect(err).NotTo(HaveOccurred())
	fixes := slices.DeleteFunc(grpcshop.Fixes(), func(f string) bool { return slices.Contains(leaks, f) })
	By(fmt.Sprintf("starting a %s gRPC shop (leaks %q, fixes %q) calling inventory at %s", name, leaks, fixes, proxyAddr))
	sh, err := launch.Start(ctx, bins.GRPCShop,
		[]string{"--inventory=" + proxyAddr, "--leaks=" + strings.Join(leaks, ","), "--fixes=" + strings.Join(fixes, ",")},
		[]string{grpcshop.EnvLeaks + "=", grpcshop.EnvFixes + "="}, launch.WithOutput(GinkgoWriter))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(sh.Stop)

	file := filepath.Join(dir, name+".yaml")
	data := fmt.Sprintf(`target:
  url: %s
  pprof: %s
upstreams:
  - name: inventory
    listen: %s
    forward: %s
    protocol: grpc
load:
  rate: 20
  grpc:
    - {method: %s, message: '{"responseSize": 8}'}
    - {method: %s, message: '{"responseParameters": [{"size": 4}, {"size": 4}, {"size": 4}]}'}
verify:
  settle: %s
`, sh.URL, sh.Pprof, proxyAddr, invAddr, suitekit.GRPCMethodUnary, suitekit.GRPCMethodQuotes, settle)
	Expect(os.WriteFile(file, []byte(data), 0o644)).To(Succeed())
	_, err = suitekit.LoadEnv(file)
	Expect(err).NotTo(HaveOccurred(), "the env file must be valid")
	return sh, file
}
