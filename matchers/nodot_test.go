package matchers_test

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// TestModuleWithoutDot: a service whose module path has no dot ("module
// shop", fixtures/nodot) leaks in two packages of its own that are not
// main. Its culprits are the frames where the goroutines wait
// (shop/compactor.(*Compactor).run, not the goroutine's entry), and, for
// goroutines parked in a dependency's code that the service started, the
// service's own frame (shop/worker.Start.func1, not
// example.com/queue.Consume). Built and run as a real process; its
// build info is read from its binary.
func TestModuleWithoutDot(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "shop")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "fixtures", "nodot", "shop")
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the nodot shop: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		t.Fatalf("shop said %q (%v)", line, err)
	}
	client, err := snapshot.NewClient(url + "/debug/pprof")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base, err := client.Capture(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if code := base.Code(); code.Main != "shop" || code.Owner(snapshot.Frame{Function: "example.com/queue.Consume"}) != snapshot.Dependency {
		t.Fatalf("the rule read from the binary: %s", code)
	}
	resp, err := http.Get(url + "/leak?n=20")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var f *matchers.Findings
	for ctx.Err() == nil {
		now, err := client.CaptureGoroutines(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f, err = matchers.Judge(base, now); err != nil {
			t.Fatal(err)
		}
		if len(f.Goroutines.Over) >= 2 && f.Goroutines.Over[0].Extra() == 20 && f.Goroutines.Over[1].Extra() == 20 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := map[string]snapshot.GroupDelta{}
	for _, g := range f.Goroutines.Over {
		got[g.Culprit.Function] = g.GroupDelta
	}
	run, consume := got["shop/compactor.(*Compactor).run"], got["shop/worker.Start.func1"]
	if run.Extra() != 20 || run.State != "chan send" || !strings.HasSuffix(run.Culprit.File, "compactor/compactor.go") || run.Creator.Function != "shop/compactor.(*Compactor).Start" {
		t.Errorf("compactor group %+v", run)
	}
	if consume.Extra() != 20 || consume.State != "select" || consume.Creator.Function != "shop/worker.Start" {
		t.Errorf("worker group %+v", consume)
	}
	if t.Failed() {
		t.Logf("culprits:\n%s", strings.Join(f.Culprits(), "\n"))
	}
}
