package main_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSnapshotAndDiff saves two bundles of a running shop, around traffic
// that starts audit workers, and diffs them: the diff names the workers
// and exits 1; once they idle out, a third bundle diffs clean (exit 0).
func TestSnapshotAndDiff(t *testing.T) {
	heavy(t)
	st := startStack(t, nil, nil)
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	if code, _, errs := aftershock(t, nil, "snapshot", st.Shop.Pprof, "--artifacts", a); code != 0 {
		t.Fatalf("snapshot: exit %d\n%s", code, errs)
	}
	for range 5 {
		resp, err := http.Get(st.Shop.URL + "/checkout")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if code, _, errs := aftershock(t, nil, "snapshot", st.Shop.Pprof, "--artifacts", b); code != 0 {
		t.Fatalf("snapshot: exit %d\n%s", code, errs)
	}
	for _, f := range []string{"snapshot.goroutine.pb.gz", "snapshot.heap.pb.gz", "snapshot.goroutines.txt"} {
		if _, err := os.Stat(filepath.Join(b, f)); err != nil {
			t.Errorf("bundle file: %v", err)
		}
	}
	code, out, _ := aftershock(t, nil, "diff", a, b)
	if code != 1 || !strings.Contains(out, "shop.(*auditPool).worker") {
		t.Errorf("diff right after traffic: exit %d, want 1 naming the audit workers:\n%s", code, out)
	}
	// The workers idle out after 2s: poll until a bundle diffs clean.
	deadline := time.Now().Add(15 * time.Second)
	for {
		os.RemoveAll(c)
		if code, _, errs := aftershock(t, nil, "snapshot", st.Shop.Pprof, "-o", c); code != 0 { // the old spelling still works
			t.Fatalf("snapshot: exit %d\n%s", code, errs)
		}
		code, out, _ := aftershock(t, nil, "diff", a, c)
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the shop never returned to its first bundle:\n%s", out)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if code, _, errs := aftershock(t, nil, "diff", a, filepath.Join(dir, "missing")); code != 2 {
		t.Errorf("diff against a missing bundle: exit %d, want 2\n%s", code, errs)
	}
}
