package cluster_test

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aftershock/aftershock/fixtures/kubetest"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/injectors/chaosmesh"
	"github.com/aftershock/aftershock/injectors/chaosmesh/chaosmeshtest"
	"github.com/aftershock/aftershock/injectors/proxy"
	"github.com/aftershock/aftershock/suites/internal/suitekit"
)

// clusterPartition is a drill as a team writes it for a cluster: the
// upstream is selected by Chaos Mesh's selector, not by a local address.
const clusterPartition = `
apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata:
  name: cluster-partition
  namespace: shop
spec:
  target:
    url: ${SHOP_URL}
    pprof: ${SHOP_PPROF}
  upstreams:
    - name: payments
      engine: chaos-mesh
  load:
    rate: 20
    timeout: 5s
    requests: [{method: GET, path: /checkout}]
  warmup: 1s
  faults:
    - name: payments-cut
      upstream: payments
      duration: 4s
      networkChaos:
        action: partition
        direction: to
        mode: all
        selector: {namespaces: [shop], labelSelectors: {app: payments}}
  verify:
    quiesce: 3500ms
    settle: 8s
    goroutines: {maxExtra: 0}
    connections: {maxExtra: 0}
    heap: {maxGrowth: "max(1MiB, 10%)"}
`

var _ = Describe("A partition submitted to Chaos Mesh", Label("cluster", "partition"), func() {
	BeforeEach(func() {
		if suitekit.External() {
			Skip("the cluster suite drills demo shops of its own against a stand-in Chaos Mesh; " + suitekit.EnvTarget + " names a service it cannot reach through one")
		}
	})

	// drill starts a demo shop whose payments calls pass a fault proxy,
	// a stand-in Chaos Mesh that applies each NetworkChaos to that proxy,
	// and runs the drill through the cluster engine.
	drill := func(ctx context.Context, leaks, fixes []string) (*runner.Result, []chaosmeshtest.Event) {
		GinkgoHelper()
		st := suitekit.StartStack(ctx, shopBin, leaks, fixes, "")
		p, err := proxy.New(st.ProxyAddr, st.Payments.Addr())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(p.Close)

		By("starting a control plane (kube-apiserver, etcd, Chaos Mesh's CRDs) and a stand-in Chaos Mesh")
		k := kubetest.Start(GinkgoT())
		Expect(k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})).To(Succeed())
		standIn, err := chaosmeshtest.Start(k.Config, k.Scheme, chaosmeshtest.Options{
			Apply: func(_ context.Context, obj chaosmesh.Chaos) (func() error, error) {
				nc := obj.(*v1alpha1.NetworkChaos)
				np, err := (&experiments.Fault{Name: nc.Name, NetworkChaos: &nc.Spec}).Network()
				if err != nil {
					return nil, err
				}
				f, err := experiments.ProxyFault(np)
				if err != nil {
					return nil, err
				}
				if err := p.Add(nc.Name, f, 0); err != nil {
					return nil, err
				}
				return func() error { return p.Remove(nc.Name) }, nil
			},
			RecoverDelay: 200 * time.Millisecond,
		})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(standIn.Stop)
		c, err := client.New(k.Config, client.Options{Scheme: k.Scheme})
		Expect(err).NotTo(HaveOccurred())

		d, err := experiments.Parse("cluster-partition.yaml", []byte(clusterPartition), experiments.WithVars(st.Vars()))
		Expect(err).NotTo(HaveOccurred())
		dir := suitekit.SpecArtifacts()
		AddReportEntry("drill", ReportEntryVisibilityFailureOrVerbose, "journal: "+filepath.Join(dir, "journal.json")+"\nbundles: "+filepath.Join(dir, "*.pb.gz"))
		res, err := runner.Run(ctx, d, runner.WithProgress(GinkgoWriter), runner.WithArtifacts(dir),
			runner.WithCluster(chaosmesh.New(c, 20*time.Millisecond)))
		Expect(err).NotTo(HaveOccurred(), "the drill did not run to its verdict")
		Expect(res.Faults).To(HaveLen(1))
		Expect(res.Faults[0].Injected).To(ContainSubstring("NetworkChaos shop/"), "the fault did not go through the cluster engine")
		AddReportEntry("verdict "+string(res.Verdict), strings.Join(res.Faults[0].Culprits, "\n"))

		var left v1alpha1.NetworkChaosList
		Expect(c.List(ctx, &left)).To(Succeed())
		Expect(left.Items).To(BeEmpty(), "the drill left its NetworkChaos on the cluster")
		Expect(p.Faults()).To(BeEmpty(), "Chaos Mesh did not recover the fault")
		return res, standIn.Events()
	}

	It("submits the fault with its lease, and finds the goroutine a payment call leaves parked", func(ctx SpecContext) {
		res, events := drill(ctx, []string{"goroutine"}, nil)
		Expect(events).To(HaveLen(2))
		Expect(events[0].What).To(Equal("injected"))
		Expect(events[0].Duration).To(Equal((14*time.Second + chaosmesh.DefaultWait).String()),
			"Chaos Mesh's duration is the lease (duration + 10s) plus the longest wait for the injection")
		Expect(events[1].What).To(Equal("recovered (deleted)"))
		Expect(res.Verdict).To(Equal(runner.Fail), "the leaky shop passed:\n%s", suitekit.Verdict(res))
		Expect(strings.Join(res.Faults[0].Culprits, "\n")).To(ContainSubstring("callPayments.func1"), "the culprit is not named")
	}, SpecTimeout(2*time.Minute))

	It("passes the shop with every fix on", func(ctx SpecContext) {
		res, _ := drill(ctx, nil, []string{"all"})
		Expect(res.Verdict).To(Equal(runner.Pass), "the fixed shop failed: %s", suitekit.Verdict(res))
	}, SpecTimeout(2*time.Minute))
})
