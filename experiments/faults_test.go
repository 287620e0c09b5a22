package experiments

import (
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/injectors/stall"
	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"google.golang.org/grpc/codes"
)

// TestAccessors: fault blocks come out as Go values the runner can hand to
// injectors without parsing strings.
func TestAccessors(t *testing.T) {
	d, err := Load("testdata/everything.yaml", WithVars(map[string]string{"PPROF_TOKEN": "t"}))
	if err != nil {
		t.Fatal(err)
	}
	fault := func(name string) *Fault {
		for i := range d.Spec.Faults {
			if d.Spec.Faults[i].Name == name {
				return &d.Spec.Faults[i]
			}
		}
		t.Fatalf("no fault %s", name)
		return nil
	}
	slow, err := fault("slow").Network()
	if err != nil {
		t.Fatal(err)
	}
	if slow.Latency != 200*time.Millisecond || slow.Jitter != 20*time.Millisecond || slow.Direction != v1alpha1.Both {
		t.Errorf("slow = %+v", slow)
	}
	thin, _ := fault("thin").Network()
	if thin.BandwidthBytesPerSecond != 1_000_000 || thin.BurstBytes != 10000 || thin.QueueBytes != 20971520 {
		t.Errorf("thin = %+v", thin)
	}
	cut, _ := fault("cut").Network()
	if cut.Action != v1alpha1.PartitionAction || cut.PartitionBehavior != v1alpha1.RejectPartitionBehavior || cut.Direction != v1alpha1.To {
		t.Errorf("cut = %+v", cut)
	}
	lossy, _ := fault("lossy").Network()
	if lossy.Loss != 25 || fault("lossy").Engine != EngineNetns {
		t.Errorf("lossy = %+v on %s", lossy, fault("lossy").Engine)
	}
	aborts, err := fault("aborts").HTTP()
	if err != nil {
		t.Fatal(err)
	}
	if !aborts.Abort || aborts.Target != v1alpha1.PodHttpRequest || aborts.Match.Path != "/pay*" || aborts.Match.Method != "POST" {
		t.Errorf("aborts = %+v", aborts)
	}
	teapot, _ := fault("teapot").HTTP()
	if teapot.Delay != 100*time.Millisecond || *teapot.Replace.Code != 418 || string(teapot.Replace.Body) != "hello" ||
		teapot.Match.Code != 200 || teapot.Patch.Body.Value != `{"ok":false}` {
		t.Errorf("teapot = %+v", teapot)
	}
	crowd := fault("loris-crowd")
	if c := crowd.StalledClients.Config(); c.Mode != stall.Slowloris || c.Count != 100 || c.Interval != 500*time.Millisecond || c.ChunkSize != 2 || !c.Reconnect {
		t.Errorf("merged stall config = %+v", c)
	}
	readers := fault("readers").StalledClients.Config()
	if readers.RecvBuffer != 2048 || readers.DialTimeout != time.Second || readers.DialConcurrency != 8 {
		t.Errorf("readers = %+v", readers)
	}
	if err := readers.Validate(); err != nil {
		t.Errorf("stall rejects a loaded config: %v", err)
	}
	quitters := fault("quitters").StalledClients.Config()
	if quitters.Rate != 20 || quitters.AbandonAfter != 50*time.Millisecond || quitters.Headers.Get("X-Test") != "1" {
		t.Errorf("quitters = %+v", quitters)
	}
	if _, err := fault("slow").HTTP(); err == nil {
		t.Error("HTTP() of a network fault must be an error")
	}
	if fault("loris").Kind() != KindStall || fault("aborts").Kind() != KindHTTP || (&Fault{}).Kind() != "" {
		t.Error("Kind() wrong")
	}
	if h := d.Spec.Target.Headers; h["Authorization"] != "Bearer t" || h["X-Literal"] != "$HOME" {
		t.Errorf("headers = %v", h)
	}
}

func TestParseRate(t *testing.T) {
	good := map[string]int64{"1mbps": 1_000_000, "8mbit": 1_000_000, "100kbit": 12_500, "10 KBPS": 10_000, "1gbit": 125_000_000, "800bit": 100, "5bps": 5}
	for in, want := range good {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"1xbps", "mbps", "1.5mbps", "-1mbps", "1MiB", ""} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
}

// TestClusterEngine: WithEngine(chaos-mesh) validates the same file for a
// cluster: addresses become optional, selectors and modes required, and
// local-only limits lifted.
func TestClusterEngine(t *testing.T) {
	d, err := Parse("cluster.yaml", []byte(`apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: cluster, namespace: shop}
spec:
  target: {url: "http://shop.shop.svc:8080"}
  upstreams: [{name: payments, protocol: http}]
  faults:
    - name: jittery
      upstream: payments
      duration: 30s
      networkChaos:
        action: netem
        mode: all
        selector: {namespaces: [shop], labelSelectors: {app: shop}}
        direction: to
        delay: {latency: 10ms, correlation: "25", reorder: {reorder: "5", gap: 3}}
        loss: {loss: "1"}
    - name: teapot
      upstream: payments
      duration: 30s
      httpChaos: {mode: one, selector: {labelSelectors: {app: payments}}, port: 8080, target: Response, replace: {code: 418}}
`), WithEngine(EngineChaosMesh))
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Faults[0].Engine != EngineChaosMesh {
		t.Errorf("engine = %s", d.Spec.Faults[0].Engine)
	}
	if err := d.CheckBlastRadius(); err == nil || !strings.Contains(err.Error(), "shop.shop.svc") {
		t.Errorf("the guard still covers the target on a cluster: %v", err)
	}
	// The same file on the local proxy: netem is refused.
	_, err = Parse("cluster.yaml", []byte(strings.Replace(`apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: cluster}
spec:
  target: {url: "http://127.0.0.1:8080"}
  upstreams: [{name: payments, listen: "127.0.0.1:1", forward: "127.0.0.1:2"}]
  faults: [{name: j, upstream: payments, duration: 1s, networkChaos: {action: netem, delay: {latency: 1ms}}}]
`, "\t", "", -1)))
	if err == nil || !strings.Contains(err.Error(), `cluster.yaml:7:79: spec.faults[0].networkChaos.action: the proxy engine cannot inject action "netem"`) {
		t.Errorf("netem on the proxy: %v", err)
	}
}

// TestGRPCCode reads status codes as gRPC's Go package writes them and as
// its protocol does.
func TestGRPCCode(t *testing.T) {
	for name, want := range map[string]codes.Code{
		"Unavailable": codes.Unavailable, "UNAVAILABLE": codes.Unavailable, "DEADLINE_EXCEEDED": codes.DeadlineExceeded,
		"resourceexhausted": codes.ResourceExhausted, "Canceled": codes.Canceled, "CANCELLED": codes.Canceled,
	} {
		if got, err := GRPCCode(name); err != nil || got != want {
			t.Errorf("GRPCCode(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	for _, name := range []string{"OK", "Unavailabel", ""} {
		if _, err := GRPCCode(name); err == nil || !strings.Contains(err.Error(), "allowed: Canceled") {
			t.Errorf("GRPCCode(%q): %v", name, err)
		}
	}
}

// TestFaultFamily: one family per fault; a networkChaos block is a
// partition or a slow upstream by its action.
func TestFaultFamily(t *testing.T) {
	for _, c := range []struct {
		f    Fault
		want Family
	}{
		{Fault{NetworkChaos: &v1alpha1.NetworkChaosSpec{Action: v1alpha1.PartitionAction}}, FamilyPartition},
		{Fault{NetworkChaos: &v1alpha1.NetworkChaosSpec{Action: v1alpha1.DelayAction}}, FamilySlowUpstream},
		{Fault{NetworkChaos: &v1alpha1.NetworkChaosSpec{Action: v1alpha1.LossAction}}, FamilySlowUpstream},
		{Fault{NetworkChaos: &v1alpha1.NetworkChaosSpec{Action: v1alpha1.BandwidthAction}}, FamilySlowUpstream},
		{Fault{HTTPChaos: &v1alpha1.HTTPChaosSpec{}}, FamilyHTTP},
		{Fault{GRPCChaos: &GRPCChaos{}}, FamilyGRPC},
		{Fault{StalledClients: &StalledClients{}}, FamilyStall},
		{Fault{}, ""},
	} {
		if got := c.f.Family(); got != c.want {
			t.Errorf("%s fault: family %q, want %q", c.f.Kind(), got, c.want)
		}
	}
}

// TestDecodeFaults: the faults of a drill as written, before its ${VAR}s
// have values; what does not decode is reported and left out, and the
// rest of the fault, its block included, stays.
func TestDecodeFaults(t *testing.T) {
	faults, err := DecodeFaults("d.yaml", []byte(`apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: d}
spec:
  target: {url: "${URL}"}
  faults:
    - {name: cut, upstream: "${UP}", duration: "${D}", networkChaos: {action: partition}}
    - {name: idle, duration: 1s, stalledClients: {mode: idle, count: "${N}"}}
`))
	if len(faults) != 2 || faults[0].Upstream != "${UP}" || faults[0].Family() != FamilyPartition || faults[1].Family() != FamilyStall {
		t.Fatalf("faults = %+v", faults)
	}
	if err == nil || !strings.Contains(err.Error(), `d.yaml:7:`) || !strings.Contains(err.Error(), "spec.faults[0].duration") {
		t.Errorf("the duration that does not decode is not reported: %v", err)
	}
	if faults, err := DecodeFaults("bad.yaml", []byte("spec: [")); len(faults) != 0 || err == nil || !strings.Contains(err.Error(), "bad.yaml:") {
		t.Errorf("not YAML: %v, %v", faults, err)
	}
}
