package experiments

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"

	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
	"sigs.k8s.io/yaml"
)

// demoVars are addresses for the demo drills; any loopback ports do.
var demoVars = map[string]string{
	VarShopURL:       "http://127.0.0.1:18080",
	VarPaymentsProxy: "127.0.0.1:19100",
	VarPaymentsAddr:  "127.0.0.1:19200",
}

// roundTrip marshals d and parses the result again.
func roundTrip(t *testing.T, d *Drill) (*Drill, []byte) {
	t.Helper()
	out, err := yaml.Marshal(d)
	if err != nil {
		t.Fatalf("marshal %s: %v", d.File, err)
	}
	again, err := Parse(d.File+" (re-marshalled)", out)
	if err != nil {
		t.Fatalf("re-marshalled %s does not load: %v\n%s", d.File, err, out)
	}
	return again, out
}

// comparable strips what is about the file rather than the drill.
func comparable(d *Drill) Drill {
	c := *d
	c.File, c.pos = "", nil
	return c
}

// TestGoodFilesRoundTrip: a loaded drill written back out loads to the
// same drill, and writing that out gives the same bytes.
func TestGoodFilesRoundTrip(t *testing.T) {
	files := []string{"testdata/good.yaml", "testdata/design.yaml", "testdata/everything.yaml"}
	var drills []*Drill
	for _, f := range files {
		d, err := Load(f, WithVars(map[string]string{"PPROF_TOKEN": "s3cret"}))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		drills = append(drills, d)
	}
	demo, err := DemoDrills(WithVars(demoVars))
	if err != nil {
		t.Fatal(err)
	}
	drills = append(drills, demo...)
	for _, d := range drills {
		t.Run(d.File, func(t *testing.T) {
			again, out := roundTrip(t, d)
			if a, b := comparable(d), comparable(again); !reflect.DeepEqual(a, b) {
				t.Errorf("round trip changed the drill:\nbefore %+v\nafter  %+v", a.Spec, b.Spec)
			}
			_, out2 := roundTrip(t, again)
			if !bytes.Equal(out, out2) {
				t.Errorf("second round trip changed the YAML:\n%s\n---\n%s", out, out2)
			}
		})
	}
}

// TestDesignExample checks the values and defaults of the design example
// (testdata/design.yaml, the Drill file of the README).
func TestDesignExample(t *testing.T) {
	d, err := Load("testdata/design.yaml", WithVars(map[string]string{"PPROF_TOKEN": "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	s := d.Spec
	checks := []struct {
		name      string
		got, want any
	}{
		{"file", d.File, "testdata/design.yaml"},
		{"name", d.Metadata.Name, "payments-slow"},
		{"pprof", s.Target.Pprof, "http://127.0.0.1:6060/debug/pprof"},
		{"header expanded", s.Target.Headers["Authorization"], "Bearer s3cret"},
		{"protocol", s.Upstreams[0].Protocol, ProtocolHTTP},
		{"engine", s.Upstreams[0].Engine, EngineProxy},
		{"rate", s.Load.Rate, 50},
		{"warmup", s.Warmup.Duration, 3 * time.Second},
		{"fault engine resolved", s.Faults[0].Engine, EngineProxy},
		{"fault duration", s.Faults[0].Duration.Duration, 10 * time.Second},
		{"action", s.Faults[0].NetworkChaos.Action, v1alpha1.DelayAction},
		{"latency as written", s.Faults[0].NetworkChaos.Delay.Latency, "500ms"},
		{"http code", *s.Faults[1].HTTPChaos.Replace.Code, int32(503)},
		{"stall mode", s.Faults[2].StalledClients.Mode, StallSlowRead},
		{"stall count", s.Faults[2].StalledClients.Count, 50},
		{"stall engine stays empty", s.Faults[2].Engine, Engine("")},
		{"settle", s.Verify.Settle.Duration, 30 * time.Second},
		{"idle default: measured", s.Verify.Connections.MaxIdleExtra, (*int)(nil)},
		{"idle allowance: what the target pools", s.Verify.IdleAllowance(7), 7},
		{"idle allowance: at least net/http's 2", s.Verify.IdleAllowance(0), 2},
		{"heap", s.Verify.Heap.MaxGrowth.Allowed(100 << 20), int64(1 << 20)},
		{"p99", s.Verify.SLO.DuringFault.P99.Duration, 300 * time.Millisecond},
		{"success rate", s.Verify.SLO.Recovery.SuccessRate.Fraction(), 0.99},
		{"within", s.Verify.SLO.Recovery.Within.Duration, 5 * time.Second},
		{"where", d.Where("spec.faults[1].httpChaos.replace.code"), "testdata/design.yaml:28:53"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

// TestDefaults checks what a minimal drill gets filled in.
func TestDefaults(t *testing.T) {
	d, err := Parse("min.yaml", []byte(`
apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: min}
spec:
  target: {url: "http://localhost:8080/"}
  upstreams: [{name: up, listen: "127.0.0.1:9100", forward: "127.0.0.1:9200"}]
  faults:
    - {name: cut, upstream: up, duration: 1s, networkChaos: {action: partition}}
    - {name: idle, duration: 1s, stalledClients: {mode: idle, count: 3}}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := d.Spec
	if s.Target.Pprof != "http://localhost:8080/debug/pprof" {
		t.Errorf("pprof default = %q", s.Target.Pprof)
	}
	if s.Upstreams[0].Protocol != ProtocolTCP || s.Upstreams[0].Engine != EngineProxy {
		t.Errorf("upstream defaults = %+v", s.Upstreams[0])
	}
	if s.Verify.Settle.Duration != DefaultSettle || s.Verify.Connections.MaxIdleExtra != nil ||
		s.Verify.Goroutines.MaxExtra != 0 || s.Verify.Connections.MaxExtra != 0 {
		t.Errorf("verify defaults = %+v", s.Verify)
	}
	if got := s.Verify.Heap.MaxGrowth.String(); got != "max(1MiB, 10%)" {
		t.Errorf("heap default = %s", got)
	}
	if c := s.Faults[1].StalledClients.Config(); c.Path != "" || c.Method != "" || c.Count != 3 {
		t.Errorf("stall config = %+v; stall applies its own defaults", c)
	}
	if s.Load != nil || s.Verify.SLO != nil {
		t.Errorf("absent load/slo must stay nil")
	}
	n, err := s.Faults[0].Network()
	if err != nil {
		t.Fatal(err)
	}
	if n.Direction != v1alpha1.To || n.PartitionBehavior != v1alpha1.DropPartitionBehavior {
		t.Errorf("network defaults = %+v", n)
	}
	// The Chaos Mesh block itself keeps what was written.
	if s.Faults[0].NetworkChaos.Direction != "" {
		t.Errorf("direction was written into the spec: %q", s.Faults[0].NetworkChaos.Direction)
	}
}

// TestExplicitZeroBeatsDefault: a written 0 is not an absent field.
func TestExplicitZeroBeatsDefault(t *testing.T) {
	d, err := Parse("zero.yaml", []byte(`
apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: zero}
spec:
  target: {url: "http://127.0.0.1:8080"}
  faults: [{name: idle, duration: 1s, stalledClients: {mode: idle, count: 3}}]
  verify: {connections: {maxIdleExtra: 0}, heap: {maxGrowth: 0B}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if v := d.Spec.Verify; v.Connections.MaxIdleExtra == nil || *v.Connections.MaxIdleExtra != 0 ||
		v.IdleAllowance(9) != 0 || v.Heap.MaxGrowth.Allowed(1<<30) != 0 {
		t.Errorf("explicit zeros lost: %+v", v)
	}
	// ... and not lost on the way to a verdict: half a MiB of growth is
	// over a zero heap tolerance.
	base, now := &snapshot.Snapshot{}, &snapshot.Snapshot{}
	base.MemStats.HeapAlloc, now.MemStats.HeapAlloc = 64<<20, 64<<20+512<<10
	f, err := matchers.Judge(base, now, d.Spec.Verify.MatcherOptions(0)...)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Heap.Over || f.Heap.Tolerance != 0 {
		t.Errorf("heap findings with maxGrowth 0B: %+v", f.Heap)
	}
	// ... nor on the way through YAML (the suites compose drills so).
	out, err := yaml.Marshal(d.Spec.Verify)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("maxGrowth: 0B")) {
		t.Errorf("the explicit zero is not written out:\n%s", out)
	}
}
