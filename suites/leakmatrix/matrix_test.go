package leakmatrix_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/aftershock/aftershock/fixtures/grpcshop"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

// settle is the settle deadline of the matrix's runs: the demo's healthy
// wind-down takes under 4 s, and a leak fails only at the deadline, so a
// short one keeps the matrix affordable.
const settle = "8s"

// runTimeout bounds one suite run: start, one or two faults (about 10 s
// each) and their settles.
const runTimeout = 2 * time.Minute

// run is one row of the matrix: the suite and the specs (by label and
// focus) whose fault provokes the leak, and what its output must name.
type run struct {
	suite, labels, focus string
	culprits             []string
}

var _ = Describe("The leak matrix", Label(MatrixLabel), func() {
	if !matrixSelected() {
		It("runs only with --label-filter="+MatrixLabel, func() {
			Skip("the leak matrix takes minutes; select it with --label-filter=" + MatrixLabel)
		})
		return
	}

	DescribeTable("fails the suite that provokes the leak, naming its culprit",
		func(ctx SpecContext, leak string, r run) {
			bin := bins.Suites[r.suite]
			Expect(bin).NotTo(BeEmpty(), "suite %s was not built", r.suite)
			By(fmt.Sprintf("running %s with the demo leak %s on (labels %q, focus %q)", r.suite, leak, r.labels, r.focus))
			out, code := runSuite(ctx, bin, r, leak)
			AddReportEntry("output of "+r.suite, ReportEntryVisibilityFailureOrVerbose, out)

			Expect(code).To(Equal(1), "the %s suite must fail with the %s leak on (exit 1); output:\n%s", r.suite, leak, out)
			Expect(out).To(ContainSubstring("did not return to its baseline"), "the failure must be a settle failure")
			for _, c := range r.culprits {
				Expect(out).To(ContainSubstring(c), "the failure must name the culprit %s", c)
			}
			Expect(out).To(MatchRegexp(`demo (gRPC )?shop \(fixes: [^;]*; leaks: %s\)`, leak), "the run must have drilled the leaky demo")
		},
		entry("body: a 503 storm leaves connections with unread bodies", "body", run{"httpfaults", "http-faults && connections", "503 storm", []string{"http1-client-body-pending", "net/http.(*persistConn).readLoop"}}),
		entry("cache: a 503 storm fills the retry cache", "cache", run{"httpfaults", "http-faults && heap", "503 storm", []string{"shop.(*retryCache).add"}}),
		entry("ticker: a slow upstream leaves progress tickers of failed checkouts", "ticker", run{"slowupstream", "slow-upstream && goroutines", "slower than the service's give-up", []string{"shop.(*Server).reportProgress"}}),
		entry("goroutine: an upstream slower than the give-up strands payment senders", "goroutine", run{"slowupstream", "slow-upstream && goroutines", "slower than the service's give-up", []string{"shop.(*Server).callPayments.func1"}}),
		entry("context: a partition leaves calls without a deadline hung", "context", run{"partition", "partition && goroutines", "drops packets", []string{"shop.(*Server).postPayment"}}),
		entry("stream: slow readers that leave strand the stream producers", "stream", run{"stalledclients", "stalled-clients && goroutines", "Slow readers", []string{"shop.(*Server).produceStream"}}),
		grpcEntry("gRPC stream: upstream calls held past the give-up leave reservation streams open", grpcshop.LeakStream),
		grpcEntry("gRPC producer: quote streams given up on strand their producers", grpcshop.LeakProducer),
		grpcEntry("gRPC conn: failed calls leave their ClientConns open", grpcshop.LeakConn),
		grpcEntry("gRPC retry: releases retried on a cancelled context pile up", grpcshop.LeakRetry),
	)
})

// entry is a row of the table, labelled with its leak so that one row can
// be run alone (--label-filter='leak-matrix && body').
func entry(description, leak string, r run) TableEntry {
	return Entry(description, Label(leak), leak, r, SpecTimeout(runTimeout+30*time.Second))
}

// grpcRuns is, for each leak of the gRPC shop, the run of the grpc suite
// whose fault provokes it and the culprits its failure must name: the
// matrix's rows and the external target's (external_grpc_test.go).
var grpcRuns = map[string]run{
	grpcshop.LeakStream:   {"grpc", "grpc && goroutines", "slower than the service's give-up", []string{"grpcshop.(*Server).readReservations"}},
	grpcshop.LeakProducer: {"grpc", "grpc && goroutines", "slower than the service's give-up", []string{"grpcshop.(*Server).produceQuotes"}},
	grpcshop.LeakConn:     {"grpc", "grpc && connections", "answers Unavailable", []string{"grpc-client", "a ClientConn never closed", "transport.(*http2Client).reader"}},
	grpcshop.LeakRetry:    {"grpc", "grpc && goroutines", "answers Unavailable", []string{"grpcshop.(*Server).releaseReservation"}},
}

// grpcEntry is a row of the gRPC demo's leaks, labelled grpc-<leak>.
func grpcEntry(description, leak string) TableEntry {
	return Entry(description, Label(grpcLabel(leak)), leak, grpcRuns[leak], SpecTimeout(runTimeout+30*time.Second))
}

func grpcLabel(leak string) string { return "grpc-" + leak }

// runSuite runs a compiled suite against a demo with leak on and returns
// its output and exit code. The run gets a process group of its own, so
// that an interrupted matrix stops it and the shop it started.
func runSuite(ctx context.Context, bin string, r run, leak string) (string, int) {
	leaks, grpcLeaks := leak, ""
	if r.suite == "grpc" {
		leaks, grpcLeaks = "", leak
	}
	return runBinary(ctx, bin, r, nil,
		suitekit.EnvDemoLeaks+"="+leaks, suitekit.EnvDemoFixes+"=",
		suitekit.EnvGRPCDemoLeaks+"="+grpcLeaks, suitekit.EnvGRPCDemoFixes+"=",
		suitekit.EnvTarget+"=", suitekit.EnvSettle+"="+settle,
		suitekit.EnvShopBinary+"="+bins.Shop, suitekit.EnvGRPCShopBinary+"="+bins.GRPCShop)
}

// runBinary runs a compiled suite in its package directory with r's label
// filter and focus, extra Ginkgo args and env on top of this process's
// environment, and returns its output and exit code.
func runBinary(ctx context.Context, bin string, r run, args []string, env ...string) (string, int) {
	cmd := exec.Command(bin, append([]string{
		"-ginkgo.label-filter=" + r.labels, "-ginkgo.focus=" + r.focus,
		"-ginkgo.no-color", "-ginkgo.timeout=" + runTimeout.String()}, args...)...)
	cmd.Dir = filepath.Join("..", r.suite)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		// Ask the run to clean up (it stops its shop on SIGINT), then make
		// sure nothing of its group is left.
		pgid := -cmd.Process.Pid
		_ = syscall.Kill(pgid, syscall.SIGINT)
		if !waitExit(session, 20*time.Second) {
			_ = syscall.Kill(pgid, syscall.SIGKILL)
			waitExit(session, 5*time.Second)
		}
	})
	Eventually(ctx, session).WithTimeout(runTimeout).Should(gexec.Exit())
	out := string(session.Out.Contents()) + string(session.Err.Contents())
	return strings.TrimSpace(out), session.ExitCode()
}

func waitExit(s *gexec.Session, d time.Duration) bool {
	select {
	case <-s.Exited:
		return true
	case <-time.After(d):
		return false
	}
}
