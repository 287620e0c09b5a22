package gostd

import (
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestListOfThisToolchain: the embedded list of the release this test
// runs on is what `go list std` of the go command says, when that command
// is of the same release: a stale or mangled list fails here.
func TestListOfThisToolchain(t *testing.T) {
	pkgs, exact := Packages(runtime.Version())
	if !exact {
		t.Fatalf("no embedded list for %s (have %v): run go generate ./snapshot/internal/gostd", runtime.Version(), Releases())
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to compare with")
	}
	ver, err := exec.Command(goCmd, "env", "GOVERSION").Output()
	if err != nil || Release(strings.TrimSpace(string(ver))) != Release(runtime.Version()) {
		t.Skipf("the go command is %s, the test runs on %s", strings.TrimSpace(string(ver)), runtime.Version())
	}
	cmd := exec.Command(goCmd, "list", "std")
	cmd.Dir = t.TempDir()
	cmd.Env = append(cmd.Environ(), "GOFLAGS=", "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list std: %v", err)
	}
	var want []string
	for p := range strings.Lines(string(out)) {
		want = append(want, strings.TrimSpace(p))
	}
	var got []string
	for p := range pkgs {
		got = append(got, p)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("embedded list of %s differs from go list std: %d vs %d packages", Release(runtime.Version()), len(got), len(want))
	}
}

func TestPackages(t *testing.T) {
	if got := Releases(); len(got) < 6 || got[0] != "go1.21" {
		t.Fatalf("releases %v", got)
	}
	for _, c := range []struct {
		version, release string
	}{
		{"go1.26.8", "go1.26"}, {"go1.26rc1", "go1.26"}, {"go1.26.0 X:goroutineleakprofile", "go1.26"},
		{"devel go1.27-abcdef", "go1.27"}, {"go1.9", "go1.9"}, {"", ""}, {"weekly", ""},
	} {
		if got := Release(c.version); got != c.release {
			t.Errorf("Release(%q) = %q, want %q", c.version, got, c.release)
		}
	}
	p21, exact := Packages("go1.21.3")
	if !exact || !p21["net/http"] || !p21["runtime"] || p21["iter"] || p21["shop"] || p21["main"] {
		t.Errorf("go1.21: exact %v, net/http %v, iter %v (iter came in go1.23)", exact, p21["net/http"], p21["iter"])
	}
	if p23, _ := Packages("go1.23.0"); !p23["iter"] {
		t.Error("go1.23 lacks iter")
	}
	// A release past every list: the newest list; an unknown one: all.
	if p, exact := Packages("go1.99.1"); exact || !p["iter"] {
		t.Errorf("go1.99: exact %v", exact)
	}
	if p, exact := Packages(""); exact || !p["iter"] || !p["net/http"] {
		t.Errorf("unknown: exact %v", exact)
	}
}
