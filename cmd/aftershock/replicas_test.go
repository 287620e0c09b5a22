package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/fixtures/balancer"
	"github.com/aftershock/aftershock/fixtures/stack"
)

// replicaDrill is a drill of a target of two replicas behind a balancer,
// written as the issue spells spec.target.replicas.
func replicaDrill(t *testing.T, lb *balancer.Balancer, a, b *stack.Stack) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "replicas.yaml")
	doc := fmt.Sprintf(`apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata:
  name: two-replicas
spec:
  target:
    url: %s          # the load: a balancer
    replicas:
      - {name: shop-7f9c, pprof: %s}
      - {name: shop-2d41, pprof: %s}
  upstreams:
    - {name: payments, listen: %s, forward: %s, protocol: http}
  load:
    rate: 20
    timeout: 5s
    requests: [{method: GET, path: /checkout}]
  warmup: 2s
  faults:
    - name: slow-payments
      upstream: payments
      duration: 4s
      networkChaos: {action: delay, delay: {latency: 500ms, jitter: 50ms}}
  verify:
    settle: 8s
`, lb.URL(), a.Shop.Pprof, b.Shop.Pprof, a.ProxyAddr, a.Payments.Addr())
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startReplicas starts two shops that call payments through the same
// fault proxy, and a round-robin balancer in front of them.
func startReplicas(t *testing.T, leaksA, fixesA []string) (*balancer.Balancer, *stack.Stack, *stack.Stack) {
	t.Helper()
	idle := []string{"--worker-idle=1s", "--pool-idle=1s"}
	a := startStackWith(t, leaksA, fixesA, idle...)
	b := startStackWithProxy(t, a.ProxyAddr, []string{"all"}, []string{"all"}, idle...)
	lb, err := balancer.Start(a.Shop.URL, b.Shop.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lb.Close() })
	return lb, a, b
}

// TestReplicasNameTheLeakyOne: of two replicas behind a balancer, the
// leaky one fails the drill, named in every culprit; the fixed one is
// never named.
func TestReplicasNameTheLeakyOne(t *testing.T) {
	heavy(t)
	lb, a, b := startReplicas(t, []string{"goroutine"}, nil)
	dir := t.TempDir()
	code, out, errs := aftershock(t, nil, "drill", "--artifacts", dir, replicaDrill(t, lb, a, b))
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	const culprit = "shop-7f9c: +"
	if !strings.Contains(out, culprit) || !strings.Contains(out, "[chan send] in github.com/aftershock/aftershock/fixtures/shop.(*Server).callPayments.func1") {
		t.Errorf("the verdict does not name the leaky replica's culprit:\n%s", out)
	}
	var culprits []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "- ") {
			culprits = append(culprits, l)
		}
	}
	for _, c := range culprits {
		if strings.Contains(c, "shop-2d41") || !strings.Contains(c, "shop-7f9c: ") {
			t.Errorf("culprit %q: want only the leaky replica shop-7f9c named", c)
		}
	}
	if served := lb.Served(); served[0] == 0 || served[1] == 0 {
		t.Errorf("the balancer served %v: the load did not reach both replicas", served)
	}
	// The journal keeps a timeline line per replica and each replica's
	// baseline.
	data, err := os.ReadFile(filepath.Join(dir, "journal.json"))
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Replicas  []struct{ Name string }
		Resources []struct{ Replica string }
		Faults    []struct {
			Replicas []struct {
				Name     string
				Returned bool
			}
		}
	}
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range j.Resources {
		seen[s.Replica] = true
	}
	if len(j.Replicas) != 2 || !seen["shop-7f9c"] || !seen["shop-2d41"] {
		t.Errorf("journal: replicas %+v, timeline of %v", j.Replicas, seen)
	}
	if len(j.Faults) != 1 || len(j.Faults[0].Replicas) != 2 || j.Faults[0].Replicas[0].Returned || !j.Faults[0].Replicas[1].Returned {
		t.Errorf("journal: fault verdicts per replica = %+v, want shop-7f9c out and shop-2d41 back", j.Faults)
	}
	for _, name := range []string{"baseline-shop-7f9c.heap.pb.gz", "baseline-shop-2d41.heap.pb.gz"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("artifact: %v", err)
		}
	}
}

// TestReplicasBothFixedPass: two fixed replicas behind the balancer pass.
func TestReplicasBothFixedPass(t *testing.T) {
	heavy(t)
	lb, a, b := startReplicas(t, []string{"all"}, []string{"all"})
	code, out, errs := aftershock(t, nil, "drill", replicaDrill(t, lb, a, b))
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}
