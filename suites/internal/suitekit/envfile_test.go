package suitekit

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments"
)

func TestParseEnvReadsTheSpecBlocks(t *testing.T) {
	env, err := ParseEnv("env.yaml", []byte(`# staging shop
target:
  url: http://127.0.0.1:8080
upstreams:
  - name: payments
    listen: 127.0.0.1:9100
    forward: ${PAY_ADDR}
    protocol: http
load:
  rate: 10
  requests: [{path: /checkout}]
verify:
  settle: 12s
  ignore: ["example.com/x.worker"]
`), experiments.WithVars(map[string]string{"PAY_ADDR": "127.0.0.1:9200"}))
	if err != nil {
		t.Fatal(err)
	}
	if env.Target.URL != "http://127.0.0.1:8080" || env.Target.Pprof != "http://127.0.0.1:8080/debug/pprof" {
		t.Errorf("target = %+v", env.Target)
	}
	if len(env.Upstreams) != 1 || env.Upstreams[0].Forward != "127.0.0.1:9200" || env.Upstreams[0].Protocol != experiments.ProtocolHTTP {
		t.Errorf("upstreams = %+v", env.Upstreams)
	}
	if env.Load == nil || env.Load.Rate != 10 || env.Load.Requests[0].Method != "GET" {
		t.Errorf("load = %+v", env.Load)
	}
	if env.Verify.Settle.Duration != 12*time.Second || !env.Written["verify.settle"] || env.Written["allowHosts"] {
		t.Errorf("verify = %+v, written = %v", env.Verify, env.Written)
	}
}

// Problems cite the env file's own lines and columns and its field paths,
// not those of the Drill document it is checked as.
func TestParseEnvProblemsCiteTheEnvFile(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"bad enum", `target:
  url: http://127.0.0.1:8080
upstreams:
  - name: payments
    listen: 127.0.0.1:9100
    forward: 127.0.0.1:9200
    protocol: htp
`, []string{"env.yaml:7:15: upstreams[0].protocol:", "allowed: tcp, http"}},
		{"unknown field", `target:
  url: http://127.0.0.1:8080
  pprofs: http://127.0.0.1:6060/debug/pprof
`, []string{"env.yaml:3:3: target.pprofs"}},
		{"no target", `upstreams: []
`, []string{"env.yaml:", "target.url"}},
		{"faults refused, the rest still checked", `target: {url: http://127.0.0.1:8080}
faults:
  - name: x
upstreams:
  - {name: payments, listen: 127.0.0.1:9100, forward: 127.0.0.1:9200, protocol: htp}
warmup: 2s
`, []string{"env.yaml:2:1: faults:", "not part of an env file", "env.yaml:5:", "upstreams[0].protocol", "env.yaml:6:1: warmup:"}},
		{"unset variable", `target:
  url: ${NO_SUCH_AFTERSHOCK_VAR}
`, []string{"env.yaml:2:8: target.url", "NO_SUCH_AFTERSHOCK_VAR"}},
		{"flow style", `{target: {url: http://127.0.0.1:8080}}`, []string{"env.yaml:1:1:", "block-style"}},
		{"empty", ``, []string{"env.yaml: the env file is empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEnv("env.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			if _, ok := experiments.AsProblems(err); !ok {
				t.Errorf("error is %T, want experiments.Problems", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestGRPCEnv: the env file of a gRPC service loads, its load a list of
// gRPC calls; one without load.grpc is refused saying what to write.
func TestGRPCEnv(t *testing.T) {
	const head = `target:
  url: grpc://127.0.0.1:8443
  pprof: http://127.0.0.1:6060/debug/pprof
upstreams:
  - {name: inventory, listen: 127.0.0.1:9100, forward: 127.0.0.1:9200, protocol: grpc}
`
	env, err := ParseEnv("grpc.yaml", []byte(head+"load:\n  rate: 10\n  grpc: [{method: /shop.Shop/Checkout}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	tgt, err := fromEnv(env)
	if err != nil || tgt.URL != "grpc://127.0.0.1:8443" || len(tgt.Load.GRPC) != 1 || tgt.Upstreams[0].Protocol != experiments.ProtocolGRPC {
		t.Fatalf("target %+v, err %v", tgt, err)
	}
	env, err = ParseEnv("grpc.yaml", []byte(head))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fromEnv(env); err == nil || !strings.Contains(err.Error(), "grpc.yaml: the target grpc://127.0.0.1:8443 is gRPC: write load.grpc") {
		t.Errorf("err = %v", err)
	}
}

// TestTargetFileIsADrillFile: the suites' target is a Drill file of kind
// Target, read by the Drill loader, and gives the same Env as the old env
// file of the same blocks, which is still read and told it is deprecated.
func TestTargetFileIsADrillFile(t *testing.T) {
	blocks := `target:
  url: http://127.0.0.1:8080
upstreams:
  - {name: payments, listen: 127.0.0.1:9100, forward: 127.0.0.1:9200, protocol: http}
load:
  rate: 10
  requests: [{path: /checkout}]
verify:
  settle: 12s
`
	indented := "  " + strings.ReplaceAll(strings.TrimRight(blocks, "\n"), "\n", "\n  ") + "\n"
	target := "apiVersion: aftershock.dev/v1alpha1\nkind: Target\nmetadata: {name: staging}\nspec:\n" + indented
	newEnv, err := ParseEnv("staging.yaml", []byte(target))
	if err != nil {
		t.Fatal(err)
	}
	oldEnv, err := ParseEnv("env.yaml", []byte(blocks))
	if err != nil {
		t.Fatal(err)
	}
	if newEnv.Deprecated != "" || !strings.Contains(oldEnv.Deprecated, "env.yaml: the env file format") || !strings.Contains(oldEnv.Deprecated, "kind: Target") {
		t.Errorf("deprecation: new %q, old %q", newEnv.Deprecated, oldEnv.Deprecated)
	}
	oldEnv.File, oldEnv.Deprecated = newEnv.File, ""
	if !reflect.DeepEqual(newEnv, oldEnv) {
		t.Errorf("a Target file and the env file of the same blocks differ:\n%+v\n%+v", newEnv, oldEnv)
	}

	// A Drill file is a target too: the suites leave its faults aside.
	drill := strings.Replace(target, "kind: Target", "kind: Drill", 1) +
		"  faults: [{name: slow, upstream: payments, duration: 5s, networkChaos: {action: delay, delay: {latency: 1s}}}]\n"
	if env, err := ParseEnv("drill.yaml", []byte(drill)); err != nil || env.Target.URL != newEnv.Target.URL {
		t.Errorf("a Drill file as target: %v", err)
	}

	// Problems are the loader's, at the file's own lines.
	for _, tc := range []struct{ name, yaml, want string }{
		{"faults in a Target", strings.Replace(drill, "kind: Drill", "kind: Target", 1), "staging.yaml:14:11: spec.faults: a Target holds no faults"},
		{"an unknown field", strings.Replace(target, "  load:", "  lode:", 1), `staging.yaml:9:3: spec.lode: unknown field "lode"`},
		{"an unknown kind", strings.Replace(target, "kind: Target", "kind: Targte", 1), `staging.yaml:2:7: kind: unknown kind "Targte"; allowed: Drill, Target`},
	} {
		_, err := ParseEnv("staging.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}

	// aftershock drill runs no Target; aftershock validate checks one.
	if _, err := experiments.Parse("staging.yaml", []byte(target)); err == nil || !strings.Contains(err.Error(), "a Target describes a service for the suites") {
		t.Errorf("a Target run as a drill: %v", err)
	}
	if _, err := experiments.Parse("staging.yaml", []byte(target), experiments.ForChecking()); err != nil {
		t.Errorf("a Target checked: %v", err)
	}
}
