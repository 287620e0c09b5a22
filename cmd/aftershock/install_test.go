package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// TestGoInstall installs the CLI as a user would, with
// "go install github.com/aftershock/aftershock/cmd/aftershock@VERSION",
// offline: the module's zip, made from this checkout with
// golang.org/x/mod/zip, is served by a file:// GOPROXY, and its
// dependencies come from this machine's module cache. It fails if the
// module cannot be installed from its zip (a replace directive, a file the
// zip leaves out, a package that needs the checkout), and checks that the
// installed binary reports the version it was installed at.
func TestGoInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: go install from a module zip takes about 90 s; .ci/run runs it")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	const path = "github.com/aftershock/aftershock"
	// A pseudo-version of its own, so that nothing cached from another run
	// stands in for this checkout.
	now := time.Now().UTC().Truncate(time.Second)
	b := make([]byte, 6)
	rand.Read(b)
	rev := hex.EncodeToString(b)
	version := module.PseudoVersion("v0", "", now, rev)
	mv := module.Version{Path: path, Version: version}

	proxy := t.TempDir()
	dir := filepath.Join(proxy, path, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	zf, err := os.Create(filepath.Join(dir, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	if err := createZip(zf, mv, root); err != nil {
		zf.Close()
		t.Fatalf("module zip of %s: %v", root, err)
	}
	if err := zf.Close(); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(gomod), "\nreplace") {
		t.Errorf("go.mod has a replace directive: go install ...@VERSION refuses a module with one")
	}
	info, _ := json.Marshal(map[string]any{"Version": version, "Time": now})
	for name, data := range map[string][]byte{version + ".mod": gomod, version + ".info": info, "list": []byte(version + "\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The dependencies: this machine's module cache (its download
	// directory is itself a GOPROXY tree), then the usual proxy.
	env := func(k string) string {
		out, err := exec.Command(goBin, "env", k).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", k, err)
		}
		return strings.TrimSpace(string(out))
	}
	modcache, upstream := env("GOMODCACHE"), env("GOPROXY")
	// Our module lands in the shared module cache under its unique
	// version: removed again afterwards (-modcacherw makes it writable).
	t.Cleanup(func() {
		os.RemoveAll(filepath.Join(modcache, path+"@"+version))
		for _, ext := range []string{".zip", ".mod", ".info", ".ziphash", ".lock"} {
			os.Remove(filepath.Join(modcache, "cache", "download", path, "@v", version+ext))
		}
	})
	bin := t.TempDir()
	cmd := exec.Command(goBin, "install", path+"/cmd/aftershock@"+version)
	cmd.Dir = t.TempDir() // outside any module
	cmd.Env = append(os.Environ(),
		"GOPROXY=file://"+filepath.ToSlash(proxy)+",file://"+filepath.ToSlash(filepath.Join(modcache, "cache", "download"))+","+upstream,
		"GONOSUMDB="+path, "GOPRIVATE=", "GOFLAGS=-modcacherw",
		"GOBIN="+bin, "GOTOOLCHAIN=local", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go install %s/cmd/aftershock@%s: %v\n%s", path, version, err, out)
	}
	got, err := exec.Command(filepath.Join(bin, "aftershock"), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("installed aftershock version: %v\n%s", err, got)
	}
	for _, want := range []string{"aftershock " + version + "\n", "module: " + path + "\n", "revision: " + rev + "\n", "go: " + runtime.Version()} {
		if !strings.Contains(string(got), want) {
			t.Errorf("installed aftershock version printed\n%s\nwant %q", got, want)
		}
	}
}

// createZip writes the module zip of the files git tracks in root (what a
// tag's zip holds: no build outputs, no files a test writes meanwhile),
// or of the whole directory outside a git checkout.
func createZip(w io.Writer, mv module.Version, root string) error {
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		return modzip.CreateFromDir(w, mv, root)
	}
	var files []modzip.File
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if name == "" || strings.HasPrefix(name, "fixtures/kube/") {
			continue // fixtures/kube is a module of its own
		}
		files = append(files, tracked{root, name})
	}
	return modzip.Create(w, mv, files)
}

type tracked struct{ root, name string }

func (f tracked) Path() string                 { return f.name }
func (f tracked) Lstat() (os.FileInfo, error)  { return os.Lstat(filepath.Join(f.root, f.name)) }
func (f tracked) Open() (io.ReadCloser, error) { return os.Open(filepath.Join(f.root, f.name)) }
