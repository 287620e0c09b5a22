package runner_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/fixtures/kubetest"
	"github.com/aftershock/aftershock/injectors/chaosmesh"
	"github.com/aftershock/aftershock/injectors/netns"
	"github.com/aftershock/aftershock/injectors/proxy"
	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

// The target's pods on a real API server (fixtures/kubetest). There is no
// kubelet: each test writes the Pod objects and their status (podIP,
// containerStatuses) itself, and what a pod "runs" is a snapshottest
// target behind a relay at the pod's IP and the drill's pods port. By pod
// IP (as in the cluster) the pods are loopback addresses; through the API
// server's pod proxy (from outside) they are netns test hosts, since the
// proxy refuses any pod IP that is not global unicast.

// podsYAML is a drill of two pods' replicas: stalled idle clients on the
// first pod's URL, a short settle.
func podsYAML(url string, port int) []byte {
	return fmt.Appendf(nil, `apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: pods, namespace: shop}
spec:
  cluster: {context: test}
  target:
    url: %s
    pods:
      selector: {namespaces: [shop], labelSelectors: {app: shop}}
      port: %d
  faults:
    - {name: slow-payments, duration: 1s, stalledClients: {mode: idle, count: 2}}
  verify: {settle: 3s, quiesce: 500ms}
`, url, port)
}

// podProc is a pod's process: a snapshottest target, reachable at the
// pod's IP and port through a relay.
type podProc struct {
	name   string
	target *snapshottest.Target
	ip     string
}

// pods starts one target per name, each behind a relay at its own pod IP
// and the one port all share, and writes the pods to the API server.
// proxied puts them on netns test hosts (root), else on loopback
// addresses 127.0.0.x.
func startPods(t *testing.T, k *kubetest.Cluster, proxied bool, names ...string) ([]*podProc, int) {
	t.Helper()
	var out []*podProc
	port := 0
	for i, name := range names {
		target := snapshottest.Start(t)
		u, err := url.Parse(target.PprofURL)
		if err != nil {
			t.Fatal(err)
		}
		var ip string
		if proxied {
			h := hostAt(t, port, u.Host)
			ip, port = h.Addr().Addr().String(), int(h.Addr().Port())
		} else {
			ip = fmt.Sprintf("127.0.0.%d", 2+i)
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(port)))
			if err != nil {
				t.Fatal(err)
			}
			port = ln.Addr().(*net.TCPAddr).Port
			p := proxy.Serve(ln.(*net.TCPListener), u.Host)
			t.Cleanup(func() { p.Close() })
		}
		writePod(t, k, name, ip)
		out = append(out, &podProc{name: name, target: target, ip: ip})
	}
	return out, port
}

// hostAt is a netns test host at port (0: any) relaying to forward.
func hostAt(t *testing.T, port int, forward string) *netns.Host {
	t.Helper()
	var h *netns.Host
	var err error
	for range 5 {
		var listen string
		if listen, err = netns.Pick(uint16(max(port, 9300))); err != nil {
			break
		}
		if h, err = netns.New(listen, forward); err == nil || !strings.Contains(err.Error(), "overlaps") {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func keyOf(name string) client.ObjectKey { return client.ObjectKey{Namespace: "shop", Name: name} }

// writePod writes a running pod at ip as a kubelet would report it.
func writePod(t *testing.T, k *kubetest.Cluster, name, ip string) {
	t.Helper()
	ctx := context.Background()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{"app": "shop"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "shop", Image: "registry.example/shop"}}}}
	if err := k.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Client.Delete(context.Background(), p) })
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "shop", Image: "registry.example/shop", Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}}
	if err := k.Client.Status().Update(ctx, p); err != nil {
		t.Fatal(err)
	}
}

// runPods runs the pods drill, calling during once the hold begins.
func runPods(t *testing.T, eng *chaosmesh.Cluster, procs []*podProc, port int, during func()) *runner.Result {
	t.Helper()
	d, err := experiments.Parse("pods.yaml", podsYAML(procs[0].target.URL, port))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	done := make(chan struct{})
	status := func(s runner.Status) {
		if s.Phase == "hold" && during != nil {
			once.Do(func() { go func() { defer close(done); during() }() })
		}
	}
	res, err := runner.Run(context.Background(), d, runner.WithCluster(eng), runner.WithStatus(status),
		runner.WithLead(0), runner.WithRecovery(0))
	if during != nil {
		<-done
	}
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

// TestPodsOnTheAPIServer: each pod the selector selects is a replica
// judged on its own; a pod whose restartCount grows fails the drill with
// the kubelet's reason; a pod that vanishes is reported, and one that
// appears is said not judged.
func TestPodsOnTheAPIServer(t *testing.T) {
	k := kubetest.Start(t)
	ctx := context.Background()
	if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	eng, err := chaosmesh.ForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	direct := eng.WithReach(chaosmesh.ReachDirect)
	eng.Name = "kubetest"

	t.Run("one leaky pod of two, by pod IP", func(t *testing.T) {
		procs, port := startPods(t, k, false, "shop-7f9c", "shop-2d41")
		res := runPods(t, direct, procs, port, func() { procs[0].target.Park(5) })
		defer procs[0].target.Release()
		text := resultText(res)
		if res.Verdict == runner.Pass || !strings.Contains(text, "shop-7f9c: +5") || strings.Contains(text, "shop-2d41: +") {
			t.Fatalf("want a failure naming shop-7f9c only:\n%s", text)
		}
		t.Log(text)
	})

	t.Run("a restart", func(t *testing.T) {
		procs, port := startPods(t, k, false, "shop-r1", "shop-r2")
		res := runPods(t, direct, procs, port, func() {
			var p corev1.Pod
			if err := k.Client.Get(ctx, keyOf("shop-r2"), &p); err != nil {
				t.Error(err)
				return
			}
			p.Status.ContainerStatuses[0].RestartCount = 1
			p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				Reason: "OOMKilled", ExitCode: 137, FinishedAt: metav1.Now()}}
			if err := k.Client.Status().Update(ctx, &p); err != nil {
				t.Error(err)
			}
		})
		text := resultText(res)
		if res.Verdict == runner.Pass || !strings.Contains(text, "pod shop-r2 restarted: OOMKilled (exit 137)") || strings.Contains(text, "shop-r1: the service restarted") {
			t.Fatalf("want a failure: shop-r2 restarted, OOMKilled:\n%s", text)
		}
		t.Log(text)
	})

	t.Run("a pod vanishes, another appears", func(t *testing.T) {
		procs, port := startPods(t, k, false, "shop-v1", "shop-v2")
		res := runPods(t, direct, procs, port, func() {
			if err := k.Client.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "shop-v2", Namespace: "shop"}}); err != nil {
				t.Error(err)
			}
			writePod(t, k, "shop-v3", procs[1].ip)
		})
		text := resultText(res)
		if res.Verdict == runner.Pass || !strings.Contains(text, "shop-v2: the service stopped answering") || !strings.Contains(text, "pod shop-v2 went away") ||
			!strings.Contains(text, "pod shop-v3 appeared during slow-payments") || !strings.Contains(text, "not judged") {
			t.Fatalf("want shop-v2 reported gone and shop-v3 not judged:\n%s", text)
		}
		t.Log(text)
	})

	t.Run("through the API server's pod proxy", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("the pod proxy reaches global unicast pod IPs only: netns test hosts need root")
		}
		procs, port := startPods(t, k, true, "shop-p1", "shop-p2")
		res := runPods(t, eng, procs, port, func() { procs[1].target.Park(4) })
		defer procs[1].target.Release()
		text := resultText(res)
		if res.Verdict == runner.Pass || !strings.Contains(text, "shop-p2: +4") || strings.Contains(text, "shop-p1: +") {
			t.Fatalf("want a failure naming shop-p2 only:\n%s", text)
		}
		t.Log(text)
	})
}
