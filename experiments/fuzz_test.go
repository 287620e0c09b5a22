package experiments

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// FuzzParse: whatever the bytes, Parse returns a drill or Problems naming
// the file, never panics; a drill it returns writes back out as YAML that
// loads again to the same YAML.
//
//	go test -fuzz=FuzzParse -fuzztime=60s ./experiments
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"testdata/*.yaml", "drills/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	for _, s := range []string{
		"", "---\n---\n", "a: &a [*a]\n", "spec: {faults: [{<<: *x}]}\n",
		"a: &a {b: *a}\nspec: *a\n", "spec:\n  faults:\n  - <<: [{name: x}, {name: y}]\n",
		"apiVersion: aftershock.dev/v1alpha1\nkind: Drill\nmetadata: {name: x}\nspec: {target: {url: '${X'}}\n",
		"spec: {verify: {heap: {maxGrowth: 'max(,)'}}}\n",
		"spec: {faults: [{httpChaos: {replace: {body: '!!!'}}}]}\n",
		"spec: {faults: [{networkChaos: {bandwidth: {limit: -1, peakrate: 99999999999999999999}}}]}\n",
	} {
		f.Add([]byte(s))
	}
	vars := map[string]string{VarShopURL: "http://127.0.0.1:1", VarPaymentsProxy: "127.0.0.1:2", VarPaymentsAddr: "127.0.0.1:3", "PPROF_TOKEN": "t"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	f.Fuzz(func(t *testing.T, data []byte) {
		// A load that takes seconds is a bug too (an alias bomb, a
		// quadratic path); crash the worker so the input is kept.
		watchdog := time.AfterFunc(5*time.Second, func() {
			panic(fmt.Sprintf("Parse took over 5s on %q", data))
		})
		defer watchdog.Stop()
		d, err := Parse("fuzz.yaml", data, WithLookup(lookup))
		if err != nil {
			ps, ok := AsProblems(err)
			if !ok || len(ps) == 0 {
				t.Fatalf("error is not Problems: %T %v", err, err)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.yaml") {
					t.Fatalf("problem line does not name the file: %q", line)
				}
			}
			return
		}
		if d == nil {
			t.Fatal("nil drill without an error")
		}
		_ = d.CheckBlastRadius()
		for i := range d.Spec.Faults {
			f := &d.Spec.Faults[i]
			switch f.Kind() {
			case KindNetwork:
				if _, err := f.Network(); err != nil {
					t.Fatalf("accessor fails on a loaded drill: %v", err)
				}
			case KindHTTP:
				if _, err := f.HTTP(); err != nil {
					t.Fatalf("accessor fails on a loaded drill: %v", err)
				}
			case KindGRPC:
				if _, err := GRPCFault(f.GRPCChaos); err != nil {
					t.Fatalf("accessor fails on a loaded drill: %v", err)
				}
			case KindStall:
				if err := f.StalledClients.Config().Validate(); err != nil {
					t.Fatalf("stall refuses a loaded drill: %v", err)
				}
			default:
				t.Fatalf("loaded fault %d has no kind", i)
			}
		}
		out, err := yaml.Marshal(d)
		if err != nil {
			t.Fatalf("marshal a loaded drill: %v", err)
		}
		if strings.Contains(string(out), "$") {
			return // expanded values are not meant to be expanded twice
		}
		again, err := Parse("fuzz-again.yaml", out, WithLookup(lookup))
		if err != nil {
			t.Fatalf("a loaded drill, written out, does not load:\n%v\n%s", err, out)
		}
		out2, err := yaml.Marshal(again)
		if err != nil || string(out2) != string(out) {
			t.Fatalf("round trip changed the YAML:\n%s\n---\n%s", out, out2)
		}
	})
}
