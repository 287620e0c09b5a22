package suitekit

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments"
)

func TestDrillFilesDefaultToTheShippedDrills(t *testing.T) {
	t.Setenv(EnvDrills, "")
	t.Setenv(EnvTarget, "")
	files, err := DrillFiles()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Name+"="+strings.Join(f.Labels, "+"))
	}
	want := []string{
		"503-storm.yaml=http-faults", "partition.yaml=partition",
		"slow-upstream.yaml=slow-upstream", "stalled-clients.yaml=stalled-clients",
	}
	if !slices.Equal(got, want) {
		t.Errorf("drill files = %q, want %q", got, want)
	}
}

const teamDrill = `apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: billing-503}
spec:
  target: {url: "http://10.0.0.1:8080"}
  upstreams:
    - {name: billing, listen: "10.0.0.1:9100", forward: "10.0.0.2:9200", protocol: http}
  faults:
    - name: billing-503
      upstream: billing
      duration: 2s
      httpChaos: {target: Response, replace: {code: 503}}
    - name: slow-readers
      duration: 2s
      stalledClients: {mode: slow-read, count: 5}
`

// A team's drill, written for its own addresses, runs against the target
// the suites were given: target and upstreams are the target's.
func TestDrillFileLoadPointsTheDrillAtTheTarget(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "billing.yaml"), []byte(teamDrill), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDrills, dir)
	files, err := DrillFiles()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || !slices.Equal(files[0].Labels, []string{"http-faults", "stalled-clients"}) {
		t.Fatalf("files = %+v", files)
	}
	billing := experiments.Upstream{Name: "billing", Listen: "127.0.0.1:9100", Forward: "127.0.0.1:9200",
		Protocol: experiments.ProtocolHTTP, Engine: experiments.EngineProxy}
	tgt := &Target{Name: "staging", URL: "http://127.0.0.1:8080", Pprof: "http://127.0.0.1:6060/debug/pprof",
		Upstreams: []experiments.Upstream{billing}}
	d, err := files[0].Load(tgt)
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Target.URL != tgt.URL || d.Spec.Target.Pprof != tgt.Pprof || d.Spec.Upstreams[0].Listen != billing.Listen {
		t.Errorf("drill not pointed at the target: %+v %+v", d.Spec.Target, d.Spec.Upstreams)
	}
	if d.Spec.Verify.Quiesce.Duration != 0 {
		t.Errorf("quiesce = %s, want the target's (none)", d.Spec.Verify.Quiesce)
	}
	tgt.Quiesce = 1500 * time.Millisecond
	if d, err := files[0].Load(tgt); err != nil || d.Spec.Verify.Quiesce.Duration != tgt.Quiesce {
		t.Errorf("quiesce not the target's: %v", err)
	}
	own := DrillFile{Name: "own.yaml", Path: filepath.Join(dir, "own.yaml")}
	if err := os.WriteFile(own.Path, []byte(teamDrill+"  verify: {settle: 5s, quiesce: 4s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := own.Load(tgt); err != nil || d.Spec.Verify.Quiesce.Duration != 4*time.Second {
		t.Errorf("a drill's own quiesce must stay: %v %v", d.Spec.Verify.Quiesce, err)
	}
	if err := d.CheckBlastRadius(); err != nil {
		t.Errorf("a loopback target must pass the blast-radius guard: %v", err)
	}

	tgt.Upstreams = []experiments.Upstream{{Name: "payments", Listen: "127.0.0.1:1", Forward: "127.0.0.1:2", Protocol: experiments.ProtocolHTTP}}
	if _, err := files[0].Load(tgt); err == nil || !strings.Contains(err.Error(), `billing.yaml:10:17: fault billing-503 acts on upstream "billing", which staging does not declare (it declares payments)`) {
		t.Errorf("missing upstream: err = %v", err)
	}
	billing.Protocol = experiments.ProtocolTCP
	tgt.Upstreams = []experiments.Upstream{billing}
	if _, err := files[0].Load(tgt); err == nil || !strings.Contains(err.Error(), `billing.yaml:10:17: fault billing-503 cannot act on staging's upstream: httpChaos needs an http upstream, and upstream "billing" is protocol tcp`) {
		t.Errorf("tcp upstream: err = %v", err)
	}
}

func TestResolvePath(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PWD", "")
	got, err := ResolvePath("experiments/drills/partition.yaml")
	if err != nil || got != filepath.Join(root, "experiments/drills/partition.yaml") {
		t.Errorf("from the module root: %q, %v", got, err)
	}
	if got, err := ResolvePath("doc.go"); err != nil || !filepath.IsAbs(got) {
		t.Errorf("from the package directory: %q, %v", got, err)
	}
	if _, err := ResolvePath("no/such/env.yaml"); err == nil || !strings.Contains(err.Error(), "tried") {
		t.Errorf("missing file: %v", err)
	}
}

// TestDrillFilesForAGRPCTarget: an env file naming a gRPC service gets the
// shipped gRPC drills, and they load against its addresses.
func TestDrillFilesForAGRPCTarget(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "grpc.yaml")
	if err := os.WriteFile(file, []byte(`target:
  url: grpc://127.0.0.1:8443
  pprof: http://127.0.0.1:6060/debug/pprof
upstreams:
  - {name: inventory, listen: 127.0.0.1:9100, forward: 127.0.0.1:9200, protocol: grpc}
load:
  rate: 10
  grpc: [{method: /grpc.testing.TestService/UnaryCall}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDrills, "")
	t.Setenv(EnvTarget, file)
	files, err := DrillFiles()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if want := []string{"inventory-unavailable.yaml", "slow-inventory.yaml"}; !slices.Equal(names, want) {
		t.Fatalf("drill files = %q, want the shipped gRPC drills %q", names, want)
	}
	env, err := LoadEnv(file)
	if err != nil {
		t.Fatal(err)
	}
	tgt, err := fromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		d, err := f.Load(tgt)
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		if d.Spec.Target.URL != tgt.URL || d.Spec.Upstreams[0].Listen != "127.0.0.1:9100" {
			t.Errorf("%s not pointed at the target: %+v %+v", f.Path, d.Spec.Target, d.Spec.Upstreams)
		}
	}
}

// TestFaultFamiliesOfEveryKind: every fault labels its drill with the
// family the loaded fault names (experiments.Fault.Family), and the
// suites read it before any ${VAR} has a value: a drill of each family,
// as a team writes it, gets the label the fully loaded drill's fault
// names, gRPC faults too.
func TestFaultFamiliesOfEveryKind(t *testing.T) {
	const head = `apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: %s}
spec:
  target: {url: "${URL}"}
  upstreams:
    - {name: inv, listen: "${LISTEN}", forward: "${FORWARD}", protocol: grpc}
  faults:
`
	vars := map[string]string{"URL": "http://127.0.0.1:8080", "LISTEN": "127.0.0.1:9100", "FORWARD": "127.0.0.1:9200"}
	for _, c := range []struct {
		fault string
		want  experiments.Family
	}{
		{`{name: cut, upstream: inv, duration: 2s, networkChaos: {action: partition}}`, experiments.FamilyPartition},
		{`{name: late, upstream: inv, duration: 1s, networkChaos: {action: delay, delay: {latency: 1s}}}`, experiments.FamilySlowUpstream},
		{`{name: narrow, upstream: inv, duration: 1s, networkChaos: {action: bandwidth, bandwidth: {rate: 1mbps, limit: 20971520, buffer: 10000}}}`, experiments.FamilySlowUpstream},
		{`{name: storm, upstream: inv, duration: 1s, httpChaos: {target: Response, abort: true}}`, experiments.FamilyHTTP},
		{`{name: unavailable, upstream: inv, duration: 2s, grpcChaos: {abort: {code: Unavailable}}}`, experiments.FamilyGRPC},
		{`{name: idle, duration: 1s, stalledClients: {mode: idle, count: 3}}`, experiments.FamilyStall},
	} {
		data := []byte(fmt.Sprintf(head, "one-family") + "    - " + c.fault + "\n")
		d, err := experiments.Parse("drill.yaml", data, experiments.WithVars(vars))
		if err != nil {
			t.Fatalf("%s: %v", c.fault, err)
		}
		if got := d.Spec.Faults[0].Family(); got != c.want {
			t.Fatalf("%s: the loaded fault's family %q, want %q", c.fault, got, c.want)
		}
		if got := faultFamilies(data); !slices.Equal(got, []string{string(c.want)}) {
			t.Errorf("%s: labels %q, want [%s]", c.fault, got, c.want)
		}
	}
	// One label per family, in the order of their first fault; a value
	// that does not decode (a ${VAR} in a duration or a count) leaves its
	// block's family known.
	every := fmt.Sprintf(head, "every-family") + `    - {name: a, upstream: inv, duration: "${D}", grpcChaos: {abort: {code: Unavailable}}}
    - {name: b, upstream: inv, duration: 1s, networkChaos: {action: partition}}
    - {name: c, upstream: inv, duration: 1s, networkChaos: {action: delay, delay: {latency: 1s}}}
    - {name: d, upstream: inv, duration: 1s, networkChaos: {action: loss, loss: {loss: "30"}}}
    - {name: e, upstream: inv, duration: 1s, httpChaos: {target: Response, abort: true}}
    - {name: f, duration: 1s, stalledClients: {mode: idle, count: "${N}"}}
`
	want := []string{"grpc", "partition", "slow-upstream", "http-faults", "stalled-clients"}
	if got := faultFamilies([]byte(every)); !slices.Equal(got, want) {
		t.Errorf("labels %q, want %q", got, want)
	}
	for _, name := range []string{"inventory-unavailable.yaml", "slow-inventory.yaml"} {
		data, err := fs.ReadFile(experiments.GRPCFS, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := faultFamilies(data); !slices.Equal(got, []string{"grpc"}) {
			t.Errorf("the gRPC demo drill %s: labels %q, want [grpc]", name, got)
		}
	}
}

// TestFaultFamiliesNeedNoListOfTheirOwn: every fault block experiments.Fault
// holds (a field that makes Fault.Kind name a kind) labels its drill with
// the family Fault.Family names for it, found here by reflection, not by
// a list: a block or a family added to the experiments package (the
// field, Kind, Family) labels the suites' drills with no edit here.
func TestFaultFamiliesNeedNoListOfTheirOwn(t *testing.T) {
	ft := reflect.TypeFor[experiments.Fault]()
	blocks := 0
	for i := range ft.NumField() {
		field := ft.Field(i)
		if field.Type.Kind() != reflect.Pointer || field.Type.Elem().Kind() != reflect.Struct {
			continue
		}
		var f experiments.Fault
		reflect.ValueOf(&f).Elem().Field(i).Set(reflect.New(field.Type.Elem()))
		if f.Kind() == "" {
			continue // not a fault block (overlap)
		}
		blocks++
		tag, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		if f.Family() == "" {
			t.Errorf("fault block %s (%s) has no family: name it in experiments.Fault.Family", tag, f.Kind())
			continue
		}
		drill := fmt.Sprintf("apiVersion: aftershock.dev/v1alpha1\nkind: Drill\nmetadata: {name: x}\nspec:\n  faults:\n    - {name: x, duration: 1s, %s: {}}\n", tag)
		if got := faultFamilies([]byte(drill)); !slices.Equal(got, []string{string(f.Family())}) {
			t.Errorf("a drill of one %s fault: labels %q, want [%s] (Fault.Family)", tag, got, f.Family())
		}
	}
	if blocks < 4 {
		t.Errorf("found %d fault blocks in experiments.Fault, want every one (networkChaos, httpChaos, grpcChaos, stalledClients at least)", blocks)
	}
}
