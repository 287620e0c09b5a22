// Command gen writes the standard library's package list of every Go
// release that aftershock knows, one file per release (std/go1.N.txt), as
// `go list std` of that release's toolchain prints it. The toolchains come
// through the module proxy (GOTOOLCHAIN=go1.N.0), as the go command fetches
// them; run it from the gostd directory (go generate does).
//
//	go run ./gen [go1.N ...]
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// releases are the Go releases whose lists are embedded. A new release is
// added here and generated; the package picks it up from the file.
var releases = []string{"go1.21", "go1.22", "go1.23", "go1.24", "go1.25", "go1.26", "go1.27"}

func main() {
	rs := releases
	if len(os.Args) > 1 {
		rs = os.Args[1:]
	}
	// Outside any module: the toolchain's own std, whatever go.mod says.
	tmp, err := os.MkdirTemp("", "gostd")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(tmp)
	for _, r := range rs {
		cmd := exec.Command("go", "list", "std")
		cmd.Dir = tmp
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN="+r+".0", "GOFLAGS=", "GO111MODULE=")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			fail(fmt.Errorf("go list std of %s: %w: %s", r, err, strings.TrimSpace(stderr.String())))
		}
		if !bytes.Contains(out, []byte("\nruntime\n")) {
			fail(fmt.Errorf("go list std of %s lists no runtime package:\n%s", r, out))
		}
		file := filepath.Join("std", r+".txt")
		if err := os.WriteFile(file, out, 0o644); err != nil {
			fail(err)
		}
		fmt.Printf("%s: %d packages\n", file, bytes.Count(out, []byte("\n")))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gen:", err)
	os.Exit(1)
}
