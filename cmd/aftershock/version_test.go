package main

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersion: the command prints this test binary's own build info, and
// a binary installed at a pseudo-version names its commit.
func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != 0 {
		t.Fatalf("aftershock version: exit %d: %s", code, errb.String())
	}
	bi, _ := debug.ReadBuildInfo()
	for _, want := range []string{"aftershock ", "module: github.com/aftershock/aftershock", "revision: ", "go: " + bi.GoVersion} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("aftershock version printed\n%s\nwant a line with %q", out.String(), want)
		}
	}
	out.Reset()
	writeVersion(&out, &debug.BuildInfo{GoVersion: "go1.26.0", Path: "github.com/aftershock/aftershock/cmd/aftershock",
		Main: debug.Module{Path: "github.com/aftershock/aftershock", Version: "v0.0.0-20261206120000-0123456789ab", Sum: "h1:x"}})
	for _, want := range []string{"aftershock v0.0.0-20261206120000-0123456789ab\n", "revision: 0123456789ab\n", "go: go1.26.0 "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("pseudo-version build printed\n%s\nwant %q", out.String(), want)
		}
	}
}
