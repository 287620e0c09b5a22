package snapshot_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/snapshot"
	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

func TestSaveLoadBundleOpensInPprof(t *testing.T) {
	t.Parallel()
	target := snapshottest.Start(t)
	c := newClient(t, target.PprofURL)
	base := capture(t, c)
	target.Park(4)
	target.Retain(4 << 20)
	now := capture(t, c)

	dir := t.TempDir()
	for phase, s := range map[string]*snapshot.Snapshot{"baseline": base, "verdict": now} {
		if err := s.Save(dir, phase); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"verdict.goroutine.pb.gz", "verdict.heap.pb.gz", "verdict.goroutines.txt", "verdict.summary.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("bundle file: %v", err)
		}
	}

	loadedBase, err := snapshot.Load(dir, "baseline")
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := snapshot.Load(dir, "verdict")
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Dump != now.Dump || len(loaded.Goroutines) != len(now.Goroutines) || loaded.MemStats.HeapAlloc != now.MemStats.HeapAlloc {
		t.Errorf("loaded snapshot differs from the saved one")
	}
	d, err := loaded.Diff(loadedBase)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := findGroup(d, targetPkg+".ParkedWorker"); !ok || g.Extra() != 4 {
		t.Errorf("diff of loaded bundles: ParkedWorker group %+v", g)
	}

	// The files are pprof's own: `go tool pprof -top` reads them, also as a
	// -diff_base pair.
	out, err := exec.Command("go", "tool", "pprof", "-top", "-sample_index=inuse_space",
		"-diff_base", filepath.Join(dir, "baseline.heap.pb.gz"), filepath.Join(dir, "verdict.heap.pb.gz")).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "RetainHeap") {
		t.Errorf("go tool pprof -diff_base does not show RetainHeap:\n%s", out)
	}
	out, err = exec.Command("go", "tool", "pprof", "-top", filepath.Join(dir, "verdict.goroutine.pb.gz")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ParkedWorker") {
		t.Errorf("go tool pprof on the goroutine profile: %v\n%s", err, out)
	}
}

func TestSaveRejectsPathAsPhase(t *testing.T) {
	s := &snapshot.Snapshot{}
	if err := s.Save(t.TempDir(), "../x"); err == nil {
		t.Error("Save accepted a phase with a path in it")
	}
}
