package main_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDrillModuleWithoutDot: a drill of a service whose module path has
// no dot (fixtures/nodot, "module shop") fails naming its culprits where
// its goroutines wait, in its own packages that are not main
// (shop/compactor.(*Compactor).run, not the goroutine's entry Start.func1),
// and at its own frame above a dependency's (shop/worker.Start.func1, not
// example.com/queue.Consume): the verdict the CLI prints, not only the
// matchers'.
func TestDrillModuleWithoutDot(t *testing.T) {
	heavy(t)
	bin := filepath.Join(t.TempDir(), "shop")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "..", "fixtures", "nodot", "shop")
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the nodot shop: %v\n%s", err, out)
	}
	shop := exec.Command(bin)
	stdout, err := shop.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	shop.Stderr = os.Stderr
	if err := shop.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shop.Process.Kill(); _ = shop.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		t.Fatalf("shop said %q (%v)", line, err)
	}
	drill := filepath.Join(t.TempDir(), "nodot.yaml")
	if err := os.WriteFile(drill, []byte(`apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: nodot}
spec:
  target: {url: "`+url+`"}
  faults:
    - name: leaking-requests
      duration: 2s
      stalledClients: {mode: abandon, count: 2, rate: 10, path: "/leak?n=3"}
  verify:
    goroutines: {maxExtra: 0}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := aftershock(t, nil, "drill", "--settle=3s", drill)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (the shop leaks)\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	// The culprits' list says "+N goroutines [state] in CULPRIT (file:line)".
	for _, want := range []string{"in shop/compactor.(*Compactor).run (", "in shop/worker.Start.func1 ("} {
		if !strings.Contains(out, want) {
			t.Errorf("the verdict does not name the culprit %q:\n%s", want, out)
		}
	}
	for _, wrong := range []string{"in shop/compactor.(*Compactor).Start.func1 (", "in example.com/queue.Consume ("} {
		if strings.Contains(out, wrong) {
			t.Errorf("the verdict names the culprit %q:\n%s", wrong, out)
		}
	}
}
