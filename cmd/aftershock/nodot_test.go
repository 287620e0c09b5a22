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
	url := startNodot(t)
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

// startNodot builds and starts the no-dot shop (fixtures/nodot), and
// returns its URL (pprof under /debug/pprof); it is killed at cleanup.
func startNodot(t *testing.T) string {
	t.Helper()
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
	return url
}

// TestArtifactErrorOfAPassedDrill: a drill that passes, with a --junit or
// --report file that cannot be written, exits 3 (nothing else would say
// the artifact is missing) and names the artifact on stderr; the verdict
// on stdout stays PASS. The other half of the rule whose failed-verdict
// half TestArtifactErrorKeepsTheVerdict proves.
func TestArtifactErrorOfAPassedDrill(t *testing.T) {
	heavy(t)
	url := startNodot(t)
	drill := filepath.Join(t.TempDir(), "healthy.yaml")
	// GET / is the default mux's 404: nothing the shop keeps.
	if err := os.WriteFile(drill, []byte(`apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: healthy}
spec:
  target: {url: "`+url+`"}
  faults:
    - name: abandoning-clients
      duration: 1s
      stalledClients: {mode: abandon, count: 2, rate: 10, path: /}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := aftershock(t, nil, "drill", "--settle=5s", "--junit", "/nonexistent/j.xml", "--report", "/nonexistent/r.html", drill)
	if code != 3 {
		t.Fatalf("exit %d, want 3 (the verdict passed; its artifacts could not be written)\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if !strings.Contains(out, "drill healthy: PASS") {
		t.Errorf("no PASS verdict on stdout:\n%s", out)
	}
	for _, want := range []string{"--junit: open /nonexistent/j.xml", "--report: open /nonexistent/r.html"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errs)
		}
	}
}
