package experiments

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/chaos-mesh/chaos-mesh/api/genericwebhook"
	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

const clusterDrill = `apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: payments-cluster, namespace: shop}
spec:
  target: {url: "http://127.0.0.1:8080"}
  upstreams: [{name: payments, listen: "127.0.0.1:9100", forward: "127.0.0.1:9200", protocol: http}]
  faults:
    - name: slow
      upstream: payments
      duration: 30s
      networkChaos:
        action: delay
        mode: all
        selector: {namespaces: [shop], labelSelectors: {app: payments}}
        delay: {latency: 500ms, jitter: 50ms}
    - name: storm
      upstream: payments
      duration: 10s
      httpChaos:
        mode: all
        selector: {namespaces: [shop], labelSelectors: {app: payments}}
        target: Response
        port: 9200
        path: /pay
        replace: {code: 503}
    - name: crowd
      duration: 10s
      stalledClients: {mode: idle, count: 5}
`

// TestRenderChaosMeshManifests renders a drill for a cluster and reads the
// YAML back as Chaos Mesh objects that its own webhook code accepts, with
// the fault's duration as the lease and labels for cleanup.
func TestRenderChaosMeshManifests(t *testing.T) {
	d, err := Parse("cluster.yaml", []byte(clusterDrill), WithEngine(EngineChaosMesh))
	if err != nil {
		t.Fatal(err)
	}
	out, skipped, err := d.RenderYAML()
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || skipped[0] != "crowd" {
		t.Errorf("skipped = %v, want the stalled clients", skipped)
	}
	if bytes.Contains(out, []byte("status:")) {
		t.Errorf("the manifests carry a status:\n%s", out)
	}
	docs := bytes.Split(out, []byte("---\n"))
	if len(docs) != 2 {
		t.Fatalf("%d documents, want 2:\n%s", len(docs), out)
	}
	var nc v1alpha1.NetworkChaos
	if err := yaml.UnmarshalStrict(docs[0], &nc); err != nil {
		t.Fatalf("first document: %v\n%s", err, docs[0])
	}
	if nc.Kind != "NetworkChaos" || nc.APIVersion != "chaos-mesh.org/v1alpha1" || !strings.HasPrefix(nc.Name, "payments-cluster-slow-") || nc.Namespace != "shop" {
		t.Errorf("object = %s %s %s/%s", nc.APIVersion, nc.Kind, nc.Namespace, nc.Name)
	}
	if nc.Spec.Duration == nil || *nc.Spec.Duration != "30s" || nc.Spec.Delay.Latency != "500ms" || nc.Labels[LabelFault] != "slow" {
		t.Errorf("spec = %+v, labels %v", nc.Spec, nc.Labels)
	}
	var hc v1alpha1.HTTPChaos
	if err := yaml.UnmarshalStrict(docs[1], &hc); err != nil {
		t.Fatalf("second document: %v\n%s", err, docs[1])
	}
	if hc.Kind != "HTTPChaos" || *hc.Spec.Duration != "10s" || *hc.Spec.Replace.Code != 503 {
		t.Errorf("http chaos = %+v", hc)
	}
	_ = nc.Default(context.Background(), &nc)
	_ = hc.Default(context.Background(), &hc)
	if errs := genericwebhook.Validate(&nc); len(errs) > 0 {
		t.Errorf("chaos mesh rejects the network chaos: %v", errs)
	}
	if errs := genericwebhook.Validate(&hc); len(errs) > 0 {
		t.Errorf("chaos mesh rejects the http chaos: %v", errs)
	}
}

// TestObjectNamesNeverCollide: two drill/fault pairs that join to the same
// text, or share a long prefix, name different objects, each a DNS-1123
// label.
func TestObjectNamesNeverCollide(t *testing.T) {
	long := strings.Repeat("x", 60)
	pairs := [][2]string{{"a-b", "c"}, {"a", "b-c"}, {long + "1", "f"}, {long + "2", "f"}, {"payments", "slow"}}
	seen := map[string][2]string{}
	for _, p := range pairs {
		n := objectName(p[0], p[1])
		if msgs := validation.IsDNS1123Label(n); len(msgs) > 0 {
			t.Errorf("%v: %q is no DNS-1123 label: %v", p, n, msgs)
		}
		if q, ok := seen[n]; ok {
			t.Errorf("%v and %v both name %q", p, q, n)
		}
		seen[n] = p
	}
}

// TestDrillLabelsCannotTakeAftershocks: a drill that sets one of
// aftershock's own labels is refused where it sets it.
func TestDrillLabelsCannotTakeAftershocks(t *testing.T) {
	bad := strings.Replace(clusterDrill, "metadata: {name: payments-cluster, namespace: shop}",
		"metadata:\n  name: payments-cluster\n  namespace: shop\n  labels: {team: sre, aftershock.dev/run: mine}", 1)
	if bad == clusterDrill {
		t.Fatal("the test drill changed: adapt the test")
	}
	_, err := Parse("labels.yaml", []byte(bad), WithEngine(EngineChaosMesh))
	if err == nil || !strings.Contains(err.Error(), "labels.yaml:6:") || !strings.Contains(err.Error(), `label "aftershock.dev/run" is aftershock's own`) {
		t.Fatalf("err = %v, want the label refused with its place", err)
	}
}

// TestRenderNamesGRPCFaults: a drill with a grpcChaos fault renders its
// other faults, and names the gRPC one as not rendered, saying why; run
// on the cluster engine outright, it is refused.
func TestRenderNamesGRPCFaults(t *testing.T) {
	withGRPC := strings.Replace(clusterDrill, "  faults:\n", `    - {name: inventory, listen: "127.0.0.1:9101", forward: "127.0.0.1:9201", protocol: grpc}
  faults:
    - name: pricing-down
      upstream: inventory
      duration: 5s
      grpcChaos: {abort: {code: Unavailable}}
`, 1)
	withGRPC = strings.Replace(withGRPC, "  upstreams: [{name: payments, listen: \"127.0.0.1:9100\", forward: \"127.0.0.1:9200\", protocol: http}]\n",
		"  upstreams:\n    - {name: payments, listen: \"127.0.0.1:9100\", forward: \"127.0.0.1:9200\", protocol: http}\n", 1)
	d, err := Parse("grpc.yaml", []byte(withGRPC), ForRendering())
	if err != nil {
		t.Fatal(err)
	}
	out, skipped, err := d.RenderYAML()
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 2 || skipped[0] != "pricing-down" || !bytes.Contains(out, []byte("kind: NetworkChaos")) {
		t.Fatalf("skipped %v; rendered:\n%s", skipped, out)
	}
	if why := d.Spec.Faults[0].Unrendered(); !strings.Contains(why, "chaos-mesh#2611") {
		t.Errorf("unrendered: %q", why)
	}
	if _, err := Parse("grpc.yaml", []byte(withGRPC), WithEngine(EngineChaosMesh)); err == nil || !strings.Contains(err.Error(), "Chaos Mesh cannot fault gRPC calls") {
		t.Errorf("on the cluster engine: %v", err)
	}
}

// TestRenderNeedsSelectors: a drill written for the local engine does not
// render for a cluster; the problems say what the cluster needs.
func TestRenderNeedsSelectors(t *testing.T) {
	local := strings.NewReplacer("        mode: all\n        selector: {namespaces: [shop], labelSelectors: {app: payments}}\n", "").Replace(clusterDrill)
	_, err := Parse("local.yaml", []byte(local), WithEngine(EngineChaosMesh))
	if err == nil || !strings.Contains(err.Error(), "selector") {
		t.Fatalf("err = %v, want problems naming the selector", err)
	}
}
