package chaosmesh_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aftershock/aftershock/fixtures/kubetest"
	"github.com/aftershock/aftershock/injectors/chaosmesh"
	"github.com/aftershock/aftershock/injectors/netns"
	"github.com/aftershock/aftershock/snapshot"
	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

func TestMain(m *testing.M) {
	snapshottest.ServeIfTarget()
	os.Exit(m.Run())
}

// KubePod writes a pod as a kubelet would leave it: the object, then its
// status (Running at ip, one container per name, none restarted). There is
// no kubelet: what the pod "runs" is whatever listens at ip.
func KubePod(t *testing.T, k *kubetest.Cluster, ns, name, ip string, labels map[string]string, containers ...string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	if len(containers) == 0 {
		containers = []string{"shop"}
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "registry.example/" + c})
	}
	if err := k.Client.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	for _, c := range containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c, Image: "registry.example/" + c, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}})
	}
	if err := k.Client.Status().Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// selector selects by labels in one namespace.
func podSelector(t *testing.T, ns string, labels map[string]string) *chaosmesh.PodSelector {
	t.Helper()
	s, ps := chaosmesh.NewPodSelector(v1alpha1.PodSelectorSpec{GenericSelectorSpec: v1alpha1.GenericSelectorSpec{
		Namespaces: []string{ns}, LabelSelectors: labels}}, "default")
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	return s
}

// TestPodsAgainstAPIServer: the target's pods as the API server has them:
// found by a Chaos Mesh selector, RBAC asked before any is read, each
// pod's pprof read by its IP and through the API server's pod proxy.
func TestPodsAgainstAPIServer(t *testing.T) {
	k := kubetest.Start(t)
	ctx := context.Background()
	ns := namespace(t, k, "shop")
	target := snapshottest.Start(t)
	pprof, err := url.Parse(target.PprofURL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(pprof.Port())
	// Pod IPs on loopback: readable directly, never through the proxy.
	KubePod(t, k, ns, "shop-7f9c", "127.0.0.1", map[string]string{"app": "shop"})
	KubePod(t, k, ns, "shop-2d41", "127.0.0.1", map[string]string{"app": "shop", "track": "canary"})
	KubePod(t, k, ns, "web-1", "127.0.0.1", map[string]string{"app": "web"})
	eng, err := chaosmesh.ForConfig(k.Config)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("find", func(t *testing.T) {
		pods, err := eng.FindPods(ctx, podSelector(t, ns, map[string]string{"app": "shop"}))
		if err != nil {
			t.Fatal(err)
		}
		if len(pods) != 2 || pods[0].Name != "shop-2d41" || pods[1].Name != "shop-7f9c" || pods[0].UID == "" || pods[0].Unready() != "" {
			t.Fatalf("pods %+v, want shop-2d41 and shop-7f9c, running", pods)
		}
		// Chaos Mesh's spellings: expressions, and pods by name (a
		// missing name left out for the caller to see).
		s, _ := chaosmesh.NewPodSelector(v1alpha1.PodSelectorSpec{GenericSelectorSpec: v1alpha1.GenericSelectorSpec{
			Namespaces: []string{ns}, ExpressionSelectors: v1alpha1.LabelSelectorRequirements{{Key: "track", Operator: "Exists"}}}}, "default")
		if pods, err := eng.FindPods(ctx, s); err != nil || len(pods) != 1 || pods[0].Name != "shop-2d41" {
			t.Errorf("by expression: %+v, %v", pods, err)
		}
		s, _ = chaosmesh.NewPodSelector(v1alpha1.PodSelectorSpec{Pods: map[string][]string{ns: {"web-1", "web-2"}}}, "default")
		if pods, err := eng.FindPods(ctx, s); err != nil || len(pods) != 1 || pods[0].Name != "web-1" {
			t.Errorf("by name: %+v, %v", pods, err)
		}
	})

	t.Run("rbac", func(t *testing.T) {
		if err := eng.CheckPods(ctx, []string{ns}); err != nil {
			t.Fatalf("the admin: %v", err)
		}
		// A user who may find the pods, and not read them through the
		// proxy: refused from outside, allowed in the cluster.
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pods-reader", Namespace: ns},
			Rules: chaosmesh.PodRules(chaosmesh.ReachDirect)}
		if err := k.Client.Create(ctx, role); err != nil {
			t.Fatal(err)
		}
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "pods-reader", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pods-reader"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "reader"}}}
		if err := k.Client.Create(ctx, rb); err != nil {
			t.Fatal(err)
		}
		reader, err := chaosmesh.ForConfig(k.User(t, "reader"))
		if err != nil {
			t.Fatal(err)
		}
		err = reader.CheckPods(ctx, []string{ns})
		if err == nil || !strings.Contains(err.Error(), "in namespace shop: get pods/proxy") || strings.Contains(err.Error(), "list pods") {
			t.Fatalf("a reader without pods/proxy, from outside: %v", err)
		}
		t.Logf("refused: %v", err)
		if err := reader.WithReach(chaosmesh.ReachDirect).CheckPods(ctx, []string{ns}); err != nil {
			t.Errorf("the same reader in the cluster, by pod IP: %v", err)
		}
		if err := reader.CheckPods(ctx, []string{"default"}); err == nil || !strings.Contains(err.Error(), "in namespace default: get pods") {
			t.Errorf("a namespace the reader has no rule in: %v", err)
		}
	})

	t.Run("direct", func(t *testing.T) {
		pods, err := eng.FindPods(ctx, podSelector(t, ns, map[string]string{"app": "shop"}))
		if err != nil {
			t.Fatal(err)
		}
		base, hc, err := eng.WithReach(chaosmesh.ReachDirect).PprofEndpoint(pods[0], port, "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		if want := "http://127.0.0.1:" + pprof.Port() + "/debug/pprof"; base != want || hc != nil {
			t.Fatalf("direct endpoint %s (client %v), want %s", base, hc, want)
		}
		capture(t, base, nil, 0)
		// The API server's proxy refuses a loopback pod IP: why the
		// proxied pods of the next test are netns hosts.
		base, hc, err = eng.PprofEndpoint(pods[0], port, "/debug/pprof")
		if err != nil {
			t.Fatal(err)
		}
		c, err := snapshot.NewClient(base, snapshot.WithHTTPClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.CaptureLight(ctx); err == nil {
			t.Fatal("the API server proxied to a loopback pod IP")
		} else {
			t.Logf("proxy to a loopback pod: %v", err)
		}
	})

	t.Run("proxy", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("the pod proxy reaches global unicast pod IPs only: a netns test host needs root")
		}
		// The pod's IP is a netns test host whose relay forwards to the
		// target's pprof port: the API server dials the pod as it would
		// on a node.
		h := podHost(t, uint16(port), pprof.Host)
		KubePod(t, k, ns, "shop-proxied", h.Addr().Addr().String(), map[string]string{"app": "proxied"})
		pods, err := eng.FindPods(ctx, podSelector(t, ns, map[string]string{"app": "proxied"}))
		if err != nil || len(pods) != 1 {
			t.Fatalf("%+v, %v", pods, err)
		}
		base, hc, err := eng.PprofEndpoint(pods[0], int(h.Addr().Port()), "/debug/pprof")
		if err != nil {
			t.Fatal(err)
		}
		want := strings.TrimRight(k.Config.Host, "/") + "/api/v1/namespaces/shop/pods/shop-proxied:" + strconv.Itoa(int(h.Addr().Port())) + "/proxy/debug/pprof"
		if base != want || hc == nil {
			t.Fatalf("proxy endpoint %s, want %s", base, want)
		}
		target.Park(7)
		defer target.Release()
		capture(t, base, hc, 7)
	})
}

// capture reads the pod's pprof at base and checks it holds at least
// parked goroutines of the target's.
func capture(t *testing.T, base string, hc *http.Client, parked int) {
	t.Helper()
	c, err := snapshot.NewClient(base, snapshot.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.CaptureGoroutines(context.Background())
	if err != nil {
		t.Fatalf("capture through %s: %v", base, err)
	}
	n := 0
	for _, g := range s.Goroutines {
		for _, f := range g.Frames {
			if strings.Contains(f.Function, "ParkedWorker") {
				n++
				break
			}
		}
	}
	if n < parked || len(s.Goroutines) == 0 {
		t.Errorf("through %s: %d goroutines, %d parked, want %d parked", base, len(s.Goroutines), n, parked)
	}
}

// podHost is a netns test host at a free address of 198.18.0.0/15 with
// port, relaying to forward, closed when the test ends.
func podHost(t *testing.T, port uint16, forward string) *netns.Host {
	t.Helper()
	var h *netns.Host
	var err error
	for range 5 {
		var listen string
		if listen, err = netns.Pick(port); err != nil {
			break
		}
		if h, err = netns.New(listen, forward); err == nil || !strings.Contains(err.Error(), "overlaps") {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("close the pod's host: %v", err)
		}
	})
	if !netns.Range.Contains(h.Addr().Addr()) || !h.Addr().Addr().Is4() {
		t.Fatalf("host %s", h.Addr())
	}
	return h
}
