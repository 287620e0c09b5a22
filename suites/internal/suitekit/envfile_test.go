package suitekit

import (
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
