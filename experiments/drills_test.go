package experiments

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
)

// TestDemoDrillsLoad: the shipped drills load, embedded and from disk, and
// say what the demo needs.
func TestDemoDrillsLoad(t *testing.T) {
	embedded, err := DemoDrills(WithVars(demoVars))
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := Drills("drills", WithVars(demoVars))
	if err != nil {
		t.Fatal(err)
	}
	if len(embedded) != 4 || len(onDisk) != 4 {
		t.Fatalf("want 4 demo drills, embedded %d, on disk %d", len(embedded), len(onDisk))
	}
	byName := map[string]*Drill{}
	for i, d := range embedded {
		if d.Metadata.Name != onDisk[i].Metadata.Name {
			t.Errorf("embedded and on-disk drills differ: %s vs %s", d.Metadata.Name, onDisk[i].Metadata.Name)
		}
		byName[d.Metadata.Name] = d
		if d.Spec.Target.URL != demoVars[VarShopURL] || d.Spec.Target.Pprof != demoVars[VarShopURL]+"/debug/pprof" {
			t.Errorf("%s: target %+v not expanded from the variables", d.File, d.Spec.Target)
		}
		u := d.Upstream("payments")
		if u == nil || u.Listen != demoVars[VarPaymentsProxy] || u.Forward != demoVars[VarPaymentsAddr] {
			t.Errorf("%s: payments upstream = %+v", d.File, u)
		}
		if err := d.CheckBlastRadius(); err != nil {
			t.Errorf("%s: loopback demo refused by the guard: %v", d.File, err)
		}
	}
	wantKinds := map[string][]FaultKind{
		"slow-upstream":   {KindNetwork},
		"partition":       {KindNetwork},
		"503-storm":       {KindHTTP},
		"stalled-clients": {KindStall, KindStall},
	}
	for name, kinds := range wantKinds {
		d := byName[name]
		if d == nil {
			t.Errorf("demo drill %s missing", name)
			continue
		}
		for i, k := range kinds {
			if got := d.Spec.Faults[i].Kind(); got != k {
				t.Errorf("%s fault %d kind = %s, want %s", name, i, got, k)
			}
		}
	}
	if n, _ := byName["partition"].Spec.Faults[0].Network(); n.Action != v1alpha1.PartitionAction || n.Direction != v1alpha1.To {
		t.Errorf("partition drill = %+v", n)
	}
	if h, _ := byName["503-storm"].Spec.Faults[0].HTTP(); h.Replace == nil || *h.Replace.Code != 503 || h.Match.Path != "/pay" || h.Match.Method != "POST" {
		t.Errorf("503-storm drill = %+v", h)
	}
	// SHOP_PPROF, when set, wins over the default.
	vars := map[string]string{VarShopPprof: "http://127.0.0.1:16060/debug/pprof"}
	for k, v := range demoVars {
		vars[k] = v
	}
	ds, err := DemoDrills(WithVars(vars))
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].Spec.Target.Pprof != vars[VarShopPprof] {
		t.Errorf("pprof = %s, want %s", ds[0].Spec.Target.Pprof, vars[VarShopPprof])
	}
}

// TestDemoDrillsNeedTheirVariables: without the addresses every drill
// fails, naming each missing variable at its line.
func TestDemoDrillsNeedTheirVariables(t *testing.T) {
	none := WithLookup(func(string) (string, bool) { return "", false })
	_, err := DemoDrills(none)
	ps, ok := AsProblems(err)
	if !ok {
		t.Fatalf("want Problems, got %v", err)
	}
	// Three variables per drill; SHOP_PPROF has a fallback.
	if len(ps) != 12 {
		t.Errorf("want 12 problems (3 per drill), got %d:\n%v", len(ps), err)
	}
	for _, want := range []string{
		"drills/503-storm.yaml:13:10: spec.target.url: ${SHOP_URL} is not set",
		"drills/slow-upstream.yaml:19:15: spec.upstreams[0].listen: ${PAYMENTS_PROXY} is not set",
		"drills/partition.yaml:22:16: spec.upstreams[0].forward: ${PAYMENTS_ADDR} is not set",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

// TestLoadAllReportsEveryFile: problems of several files come back
// together, each naming its file, and a file that cannot be read is an
// error too.
func TestLoadAllReportsEveryFile(t *testing.T) {
	dir := t.TempDir()
	good, _ := os.ReadFile("testdata/good.yaml")
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.yaml", strings.Replace(string(good), "rate: 50", "rate: -1", 1))
	b := write("b.yaml", strings.Replace(string(good), "kind: Drill", "kind: Dril", 1))
	c := write("c.yaml", string(good))
	drills, err := LoadAll(a, b, c, filepath.Join(dir, "missing.yaml"))
	if len(drills) != 1 || drills[0].File != c {
		t.Errorf("want the one good drill back, got %d", len(drills))
	}
	msg := err.Error()
	for _, want := range []string{a + ":17:11: spec.load.rate", b + ":2:7: kind", "missing.yaml: no such file"} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if _, err := Drills(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no drill files") {
		t.Errorf("an empty directory must be an error, got %v", err)
	}
}

// TestEveryProblemInOneReport: one file with many mistakes yields all of
// them, in line order, one per line of Error().
func TestEveryProblemInOneReport(t *testing.T) {
	_, err := Load("testdata/many-problems.yaml")
	ps, ok := AsProblems(err)
	if !ok {
		t.Fatalf("want Problems, got %v", err)
	}
	want := []string{
		"4:9: metadata.name",
		"7:10: spec.target.url",
		"8:29: spec.target.headers[Bad Header]",
		"14:11: spec.load.rate",
		"15:15: spec.load.requests",
		"16:11: spec.warmup",
		"19:17: spec.faults[0].upstream",
		"21:48: spec.faults[0].networkChaos.direction",
		"21:69: spec.faults[0].networkChaos.delay.latency",
		"22:13: spec.faults[1].name",
		"25:18: spec.faults[1].httpChaos",
		"28:30: spec.faults[2].stalledClients.mode",
		"29:7: spec.faults[3]",
		"32:23: spec.verify.heap.maxGrowth",
		"34:31: spec.verify.slo.recovery.successRate",
		"35:3: spec.extra",
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(ps) {
		t.Errorf("Error() has %d lines for %d problems", len(lines), len(ps))
	}
	if len(lines) != len(want) {
		t.Errorf("want %d problems, got %d:\n%v", len(want), len(lines), err)
	}
	for i, w := range want {
		if i < len(lines) && !strings.HasPrefix(lines[i], "testdata/many-problems.yaml:"+w+": ") {
			t.Errorf("problem %d = %q, want it at %s", i, lines[i], w)
		}
	}
}

// TestGRPCDrillsLoad: the shipped gRPC drills load, embedded and from
// disk, with their per-call faults on a grpc upstream and a gRPC load.
func TestGRPCDrillsLoad(t *testing.T) {
	vars := map[string]string{VarGRPCURL: "grpc://127.0.0.1:1", VarGRPCPprof: "http://127.0.0.1:2/debug/pprof",
		VarInventoryProxy: "127.0.0.1:3", VarInventoryAddr: "127.0.0.1:4"}
	embedded, err := GRPCDrills(WithVars(vars))
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := Drills("drills/grpc", WithVars(vars))
	if err != nil {
		t.Fatal(err)
	}
	if len(embedded) != 2 || len(onDisk) != 2 {
		t.Fatalf("want 2 gRPC drills, embedded %d, on disk %d", len(embedded), len(onDisk))
	}
	for _, d := range embedded {
		f := d.Spec.Faults[0]
		if d.Spec.Target.URL != vars[VarGRPCURL] || f.Kind() != KindGRPC || d.Upstream("inventory").Protocol != ProtocolGRPC || len(d.Spec.Load.GRPC) != 2 {
			t.Errorf("%s: %+v", d.File, d.Spec)
		}
		if _, err := GRPCFault(f.GRPCChaos); err != nil {
			t.Errorf("%s: %v", d.File, err)
		}
	}
	if _, err := GRPCDrills(); err == nil || !strings.Contains(err.Error(), "${GRPC_URL} is not set") {
		t.Errorf("without the variables: %v", err)
	}
}
