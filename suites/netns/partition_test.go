package netns_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/injectors/netns"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

// kernelPartition cuts what payments sends the shop (direction to) with an
// nftables rule at the ingress of the shop's end of the veth: requests
// arrive, answers vanish on the wire, new connections hang in their
// handshake. (The YAML repeats suites/cluster's on purpose: each is a
// whole Drill file as a team would write it for that engine.)
const kernelPartition = `
apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata:
  name: kernel-partition
spec:
  target:
    url: ${SHOP_URL}
    pprof: ${SHOP_PPROF}
  upstreams:
    - name: payments
      listen: ${PAYMENTS_PROXY}
      forward: ${PAYMENTS_ADDR}
      engine: netns
  load:
    rate: 20
    timeout: 5s
    requests: [{method: GET, path: /checkout}]
  warmup: 1s
  faults:
    - name: payments-cut
      upstream: payments
      duration: 4s
      networkChaos: {action: partition, direction: to}
  verify:
    quiesce: 3500ms
    settle: 8s
    goroutines: {maxExtra: 0}
    connections: {maxExtra: 0}
    heap: {maxGrowth: "max(1MiB, 10%)"}
`

var _ = Describe("A kernel partition between the service and its upstream", Label("netns", "partition"), func() {
	BeforeEach(func() {
		if os.Geteuid() != 0 {
			Skip("kernel faults need CAP_NET_ADMIN: run as root")
		}
		if suitekit.External() {
			Skip("the netns suite drills demo shops of its own; " + suitekit.EnvTarget + " names a service that cannot be told to dial a namespace")
		}
	})

	// drill starts a demo shop that calls payments through a namespace,
	// and drills it with the kernel partition.
	drill := func(ctx context.Context, leaks, fixes []string) *runner.Result {
		GinkgoHelper()
		listen, err := netns.Pick(9200)
		Expect(err).NotTo(HaveOccurred())
		st := suitekit.StartStack(ctx, shopBin, leaks, fixes, listen)
		d, err := experiments.Parse("kernel-partition.yaml", []byte(kernelPartition), experiments.WithVars(st.Vars()))
		Expect(err).NotTo(HaveOccurred())
		dir := suitekit.SpecArtifacts()
		AddReportEntry("drill", ReportEntryVisibilityFailureOrVerbose, "journal: "+filepath.Join(dir, "journal.json")+"\nbundles: "+filepath.Join(dir, "*.pb.gz"))
		res, err := runner.Run(ctx, d, runner.WithProgress(GinkgoWriter), runner.WithArtifacts(dir))
		Expect(err).NotTo(HaveOccurred(), "the drill did not run to its verdict")
		Expect(res.Faults).To(HaveLen(1))
		Expect(res.Faults[0].Injected).To(ContainSubstring("kernel partition to"), "the fault was not the kernel's")
		AddReportEntry("verdict "+string(res.Verdict), strings.Join(res.Faults[0].Culprits, "\n"))
		return res
	}

	It("finds the goroutine a payment call leaves parked when the call outlives its caller", func(ctx SpecContext) {
		res := drill(ctx, []string{"goroutine"}, nil)
		Expect(res.Verdict).To(Equal(runner.Fail), "the leaky shop passed:\n%s", suitekit.Verdict(res))
		Expect(strings.Join(res.Faults[0].Culprits, "\n")).To(ContainSubstring("callPayments.func1"), "the culprit is not named")
	}, SpecTimeout(2*time.Minute))

	It("passes the shop with every fix on: timeouts, breaker, no leak", func(ctx SpecContext) {
		res := drill(ctx, nil, []string{"all"})
		Expect(res.Verdict).To(Equal(runner.Pass), "the fixed shop failed: %s", suitekit.Verdict(res))
	}, SpecTimeout(2*time.Minute))
})
