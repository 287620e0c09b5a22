// Command image writes the aftershock container image as an OCI image layout
// on disk, with no Docker daemon and no registry: a multi-arch index
// (linux/amd64, linux/arm64) of a static aftershock on a base built from
// scratch (the machine's CA bundle, a nonroot passwd/group entry). It lives
// under scripts/ so that the CLI does not depend on go-containerregistry.
//
//	go run ./scripts/image OUT_DIR          # build (scripts/image.sh wraps this)
//	go run ./scripts/image -verify OUT_DIR  # read a layout back and check it
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// The uid/gid distroless and Kubernetes' restricted profile use for
	// "nonroot"; the CronJob that render --schedule writes runs as it.
	nonrootID  = 65532
	user       = "65532:65532"
	binaryPath = "usr/local/bin/aftershock"
	entrypoint = "/" + binaryPath
	pathEnv    = "PATH=/usr/local/bin:/usr/bin:/bin"
	caPath     = "etc/ssl/certs/ca-certificates.crt"
	source     = "https://github.com/aftershock/aftershock"
	// refName tags the index inside the layout, so that `crane push DIR`
	// and `skopeo copy oci:DIR:latest` find it without --index.
	refName = "latest"
)

var epoch = time.Unix(0, 0).UTC()

// platforms the index holds, in this order.
var platforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64"},
}

// elfMachine is what each architecture's binary must be built for.
var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

func main() {
	verify := flag.Bool("verify", false, "read the layout at OUT_DIR back and check it instead of building it")
	caFile := flag.String("ca", "/etc/ssl/certs/ca-certificates.crt", "the CA bundle to put in the image (Debian's ca-certificates)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./scripts/image [-ca FILE] OUT_DIR\n       go run ./scripts/image -verify OUT_DIR\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	out := flag.Arg(0)
	var err error
	if *verify {
		err = verifyLayout(out)
	} else {
		err = build(out, *caFile)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	if *verify {
		fmt.Printf("%s: OCI layout ok: linux/amd64 and linux/arm64, user %s, entrypoint %s\n", out, user, entrypoint)
	} else {
		fmt.Printf("wrote OCI image layout to %s (push it with: crane push %s REGISTRY/aftershock:TAG)\n", out, out)
	}
}

// build cross-compiles the CLI for each platform and writes the layout.
func build(out, caFile string) error {
	if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 {
		// Appending to an old layout would leave two images tagged latest.
		return fmt.Errorf("output directory %s exists and is not empty: remove it or choose another", out)
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("read the CA bundle (install Debian's ca-certificates, or pass -ca): %w", err)
	}
	if !bytes.Contains(ca, []byte("BEGIN CERTIFICATE")) {
		return fmt.Errorf("CA bundle %s holds no PEM certificate", caFile)
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	revision := gitOutput(root, "rev-parse", "HEAD")
	// The commit time, not the wall clock, so the same commit gives the same
	// digests; the epoch when there is no git checkout.
	created := epoch
	if s := gitOutput(root, "log", "-1", "--format=%ct"); s != "" {
		if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
			created = time.Unix(sec, 0).UTC()
		}
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds: %w", s, err)
		}
		created = time.Unix(sec, 0).UTC()
	}

	base, err := baseLayer(ca, created)
	if err != nil {
		return err
	}
	binDir, err := os.MkdirTemp("", "aftershock-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(binDir)

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		bin := filepath.Join(binDir, "aftershock-"+p.Architecture)
		if err := crossBuild(root, p, bin); err != nil {
			return err
		}
		img, err := platformImage(base, bin, p, created, revision)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", p.OS, p.Architecture, err)
		}
		plat := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &plat},
		})
	}

	lp, err := layout.Write(out, empty.Index)
	if err != nil {
		return fmt.Errorf("write the layout to %s: %w", out, err)
	}
	return lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": refName,
	}))
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the aftershock module: run from the repository")
	}
	return filepath.Dir(gomod), nil
}

func gitOutput(dir string, args ...string) string {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// crossBuild builds a static CLI: CGO off, so the image needs no libc.
func crossBuild(root string, p v1.Platform, bin string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/aftershock")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build ./cmd/aftershock for %s/%s: %w", p.OS, p.Architecture, err)
	}
	return nil
}

type entry struct {
	name     string
	mode     int64
	uid, gid int
	body     []byte // nil for a directory
}

// tarLayer builds an uncompressed tar in memory; the layer package gzips it.
func tarLayer(entries []entry, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: mtime, Format: tar.FormatPAX}
		if e.body == nil {
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// baseLayer is the minimal base, shared by every platform: CA bundle,
// nonroot user and group, its home, and a world-writable /tmp.
func baseLayer(ca []byte, mtime time.Time) (v1.Layer, error) {
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group := "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
	return tarLayer([]entry{
		{name: "etc", mode: 0o755},
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: "etc/group", mode: 0o644, body: []byte(group)},
		{name: "etc/ssl", mode: 0o755},
		{name: "etc/ssl/certs", mode: 0o755},
		{name: caPath, mode: 0o644, body: ca},
		{name: "home", mode: 0o755},
		{name: "home/nonroot", mode: 0o700, uid: nonrootID, gid: nonrootID},
		{name: "tmp", mode: 0o1777},
	}, mtime)
}

func platformImage(base v1.Layer, bin string, p v1.Platform, created time.Time, revision string) (v1.Image, error) {
	body, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	app, err := tarLayer([]entry{
		{name: "usr", mode: 0o755},
		{name: "usr/local", mode: 0o755},
		{name: "usr/local/bin", mode: 0o755},
		{name: binaryPath, mode: 0o755, body: body},
	}, created)
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, base, app)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = p.OS, p.Architecture
	cf.Created = v1.Time{Time: created}
	cf.Config.User = user
	cf.Config.Entrypoint = []string{entrypoint}
	cf.Config.Env = []string{pathEnv, "SSL_CERT_FILE=/" + caPath}
	cf.Config.WorkingDir = "/"
	cf.Config.Labels = map[string]string{"org.opencontainers.image.source": source}
	if revision != "" {
		cf.Config.Labels["org.opencontainers.image.revision"] = revision
	}
	return mutate.ConfigFile(img, cf)
}

// verifyLayout reads a layout back and checks what the issue asks of the
// image: exactly linux/amd64 and linux/arm64, non-root, the aftershock
// entrypoint, a static binary of the right machine, the CA bundle and the
// nonroot entries.
func verifyLayout(dir string) error {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return fmt.Errorf("%s is not an OCI layout: %w", dir, err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		return err
	}
	tm, err := top.IndexManifest()
	if err != nil {
		return err
	}
	if len(tm.Manifests) != 1 || !tm.Manifests[0].MediaType.IsIndex() {
		return fmt.Errorf("%s/index.json: want one entry, a multi-arch index; got %d entries", dir, len(tm.Manifests))
	}
	if got := tm.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != refName {
		return fmt.Errorf("%s/index.json: the index is tagged %q, want %q", dir, got, refName)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		return err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	var got []string
	for _, d := range im.Manifests {
		if d.Platform == nil {
			return fmt.Errorf("manifest %s has no platform", d.Digest)
		}
		got = append(got, d.Platform.OS+"/"+d.Platform.Architecture)
	}
	if !slices.Equal(got, []string{"linux/amd64", "linux/arm64"}) {
		return fmt.Errorf("index holds platforms %v, want [linux/amd64 linux/arm64]", got)
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		if err := verifyImage(img, *d.Platform); err != nil {
			return fmt.Errorf("%s/%s: %w", d.Platform.OS, d.Platform.Architecture, err)
		}
	}
	return nil
}

func verifyImage(img v1.Image, p v1.Platform) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	if cf.OS != p.OS || cf.Architecture != p.Architecture {
		return fmt.Errorf("config says %s/%s", cf.OS, cf.Architecture)
	}
	c := cf.Config
	if c.User != user {
		return fmt.Errorf("config User is %q, want %q (non-root)", c.User, user)
	}
	if !slices.Equal(c.Entrypoint, []string{entrypoint}) {
		return fmt.Errorf("config Entrypoint is %q, want [%s]", c.Entrypoint, entrypoint)
	}
	if !slices.Contains(c.Env, pathEnv) {
		return fmt.Errorf("config Env %q lacks %s", c.Env, pathEnv)
	}
	if c.WorkingDir != "/" {
		return fmt.Errorf("config WorkingDir is %q, want /", c.WorkingDir)
	}

	files := map[string][]byte{}
	headers := map[string]*tar.Header{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read the image's filesystem: %w", err)
		}
		name := strings.TrimPrefix(strings.TrimSuffix(h.Name, "/"), "./")
		headers[name] = h
		if h.Typeflag == tar.TypeReg {
			if files[name], err = io.ReadAll(tr); err != nil {
				return err
			}
		}
	}

	bin, ok := files[binaryPath]
	if !ok {
		return fmt.Errorf("no /%s in the image", binaryPath)
	}
	if headers[binaryPath].Mode&0o111 != 0o111 {
		return fmt.Errorf("/%s has mode %o, not executable by everyone", binaryPath, headers[binaryPath].Mode)
	}
	ef, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("/%s is not an ELF binary: %w", binaryPath, err)
	}
	if want := elfMachine[p.Architecture]; ef.Machine != want {
		return fmt.Errorf("/%s is built for %v, want %v", binaryPath, ef.Machine, want)
	}
	for _, prog := range ef.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("/%s is dynamically linked (has an ELF interpreter): the base has no libc", binaryPath)
		}
	}
	if !bytes.Contains(files[caPath], []byte("BEGIN CERTIFICATE")) {
		return fmt.Errorf("no CA bundle at /%s", caPath)
	}
	if !hasLine(files["etc/passwd"], "nonroot:x:65532:65532:") {
		return errors.New("/etc/passwd has no nonroot 65532:65532 entry")
	}
	if !hasLine(files["etc/group"], "nonroot:x:65532:") {
		return errors.New("/etc/group has no nonroot 65532 entry")
	}
	if h := headers["tmp"]; h == nil || h.Mode&0o1777 != 0o1777 {
		return errors.New("no world-writable /tmp")
	}
	return nil
}

func hasLine(b []byte, prefix string) bool {
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}
