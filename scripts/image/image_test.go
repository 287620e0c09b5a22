package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// TestImageLayout builds the layout as scripts/image.sh does (two cross
// builds of the CLI, which hit the build cache) and reads it back with the
// layout package: this is the CI check of the image's config.
func TestImageLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-builds the CLI twice")
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := build(dir, "/etc/ssl/certs/ca-certificates.crt"); err != nil {
		t.Fatalf("build: %v", err)
	}
	if err := verifyLayout(dir); err != nil {
		t.Fatalf("verify: %v", err)
	}

	// A second build into the same directory is refused, not appended.
	if err := build(dir, "/etc/ssl/certs/ca-certificates.crt"); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("build into a non-empty directory: err = %v, want a 'not empty' error", err)
	}
}

// TestVerifyImageRejects shows the check can fail: a root user, a wrong
// entrypoint and an image without the binary are each named.
func TestVerifyImageRejects(t *testing.T) {
	base, err := baseLayer([]byte("-----BEGIN CERTIFICATE-----\n"), epoch)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, base)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user, entry, want string
	}{
		{"root", "0:0", entrypoint, "non-root"},
		{"entrypoint", user, "/bin/sh", "Entrypoint"},
		{"no binary", user, entrypoint, "no /usr/local/bin/aftershock"},
	} {
		c := cf.DeepCopy()
		c.OS, c.Architecture = platforms[0].OS, platforms[0].Architecture
		c.Config.User = tc.user
		c.Config.Entrypoint = []string{tc.entry}
		c.Config.Env = []string{pathEnv}
		c.Config.WorkingDir = "/"
		bad, err := mutate.ConfigFile(img, c)
		if err != nil {
			t.Fatal(err)
		}
		err = verifyImage(bad, platforms[0])
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: verifyImage error = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
