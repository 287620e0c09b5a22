package experiments

import (
	"strings"
	"testing"
)

// TestReplicasLoad: spec.target.replicas as the issue spells it loads,
// with no pprof derived from url; every mistake is a problem at its line
// and column.
func TestReplicasLoad(t *testing.T) {
	good := `apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: two}
spec:
  target:
    url: http://127.0.0.1:8080
    replicas:
      - {name: shop-7f9c, pprof: http://127.0.0.1:6061/debug/pprof}
      - {name: shop-2d41, pprof: http://127.0.0.1:6062/debug/pprof, headers: {X-Token: a}}
  faults:
    - {name: crowd, duration: 1s, stalledClients: {mode: idle, count: 3}}
`
	d, err := Parse("good.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Target.Pprof != "" || len(d.Spec.Target.Replicas) != 2 || d.Spec.Target.Replicas[1].Headers["X-Token"] != "a" {
		t.Errorf("target = %+v", d.Spec.Target)
	}
	bad := strings.NewReplacer(
		"    url: http://127.0.0.1:8080\n", "    url: http://127.0.0.1:8080\n    pprof: http://127.0.0.1:8080/debug/pprof\n",
		"name: shop-2d41, pprof: http://127.0.0.1:6062/debug/pprof", "name: shop-7f9c, pprof: ftp://x",
	).Replace(good) + ""
	bad = strings.Replace(bad, "      - {name: shop-7f9c, pprof: http://127.0.0.1:6061/debug/pprof}\n", "      - {name: Shop_1, pprof: http://127.0.0.1:6061/debug/pprof}\n      - {name: shop-7f9c}\n", 1)
	_, err = Parse("bad.yaml", []byte(bad))
	if err == nil {
		t.Fatal("a bad replicas block loaded")
	}
	msg := err.Error()
	for _, want := range []string{
		"bad.yaml:7:12: spec.target.pprof", "bad.yaml:9:16: spec.target.replicas[0].name", "spec.target.pprof", "not allowed with spec.target.replicas",
		"spec.target.replicas[0].name", "not a DNS-1123 label",
		"spec.target.replicas[1].pprof", "needs its pprof base URL",
		"spec.target.replicas[2].name", "already the name of spec.target.replicas[1]",
		"spec.target.replicas[2].pprof",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the problems do not say %q:\n%s", want, msg)
		}
	}
}
