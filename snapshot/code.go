package snapshot

import (
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/google/pprof/profile"

	"github.com/aftershock/aftershock/snapshot/internal/gostd"
)

// Owner is whose code a frame is.
type Owner uint8

// Owners.
const (
	// Std is the Go distribution's: the runtime and the standard library.
	Std Owner = iota + 1
	// Dependency is a module the service imports.
	Dependency
	// Own is the service's own code: its main module.
	Own
)

func (o Owner) String() string {
	switch o {
	case Std:
		return "standard library"
	case Dependency:
		return "dependency"
	case Own:
		return "own"
	}
	return "unknown"
}

// Code tells whose code a frame is — the standard library's, a
// dependency's or the service's own — from the target's own facts, never
// from the spelling of a package path (a module path need not have a dot:
// "module shop" is as common as "github.com/acme/shop"). It is the one
// rule culprits, creators, attribution, ignore rules and labels ask. In
// order:
//
//   - a frame whose file lies under the target's GOROOT (read from the
//     runtime's own frames) is the standard library's;
//   - with the binary's build info, the longest module path a package
//     falls under decides: the main module's is the service's own,
//     another's a dependency's;
//   - a package in the standard library of the target's Go release (the
//     lists `go list std` prints, embedded per release; all releases'
//     when the release is unknown) is the standard library's;
//   - a frame whose file lies in a module cache (<module>@<version>/…) or
//     a vendor directory is a dependency's;
//   - what is left is the service's own (without build info), or the
//     toolchain's (with it: every module of the binary is named there).
//
// The zero Code (or nil) knows no facts: standard library by the lists,
// dependencies by file path, the rest own.
type Code struct {
	// GoVersion is the target's Go version ("go1.26.8"), when known.
	GoVersion string
	// GOROOT is where the target's standard library sources were, as its
	// frames name them ("" when unknown: built with -trimpath).
	GOROOT string
	// Main is the main module's path and Deps its dependencies', from the
	// binary's build info ("" without).
	Main string
	Deps []string
	// Source says where the facts were read from.
	Source string

	stdOnce  sync.Once
	std      map[string]bool
	stdExact bool

	mu     sync.Mutex
	owners map[string]Owner // by function: a dump repeats its functions thousands of times
}

// NewCode is the rule for a target of Go version goVersion ("" unknown),
// GOROOT goroot ("" unknown), main module main and dependencies deps (""
// and nil without build info).
func NewCode(goVersion, goroot, main string, deps []string, source string) *Code {
	return &Code{GoVersion: goVersion, GOROOT: strings.TrimSuffix(goroot, "/"), Main: main, Deps: deps, Source: source}
}

func (c *Code) stdlib() map[string]bool {
	c.stdOnce.Do(func() { c.std, c.stdExact = gostd.Packages(c.GoVersion) })
	return c.std
}

var noFacts = &Code{Source: "no facts of the target"}

// Owner tells whose code frame f is.
func (c *Code) Owner(f Frame) Owner {
	if c == nil {
		return noFacts.owner(f) // not cached: a shared cache would keep every dump's strings
	}
	c.mu.Lock()
	o, ok := c.owners[f.Function]
	c.mu.Unlock()
	if ok {
		return o
	}
	o = c.owner(f)
	c.mu.Lock()
	if c.owners == nil {
		c.owners = map[string]Owner{}
	}
	c.owners[f.Function] = o
	c.mu.Unlock()
	return o
}

func (c *Code) owner(f Frame) Owner {
	pkg := packagePath(f.Function)
	switch {
	case pkg == "":
		return Std
	case pkg == "main":
		return Own
	case c.GOROOT != "" && strings.HasPrefix(f.File, c.GOROOT+"/src/"):
		return Std
	}
	if c.Main != "" {
		switch m := c.module(pkg); {
		case m == c.Main:
			return Own
		case m != "":
			return Dependency
		}
	}
	switch {
	case c.stdlib()[pkg]:
		return Std
	case dependencyFile(f.File):
		return Dependency
	case c.Main != "":
		// Every module of the binary is in its build info: a package of
		// none is the toolchain's (a release newer than the lists).
		return Std
	}
	return Own
}

// IsOwn tells whether frame f is the service's own code.
func (c *Code) IsOwn(f Frame) bool { return f.Function != "" && c.Owner(f) == Own }

// moduleVersion finds <module>@v<version>/ in a module cache path.
var moduleVersion = regexp.MustCompile(`@v[0-9]+\.[0-9]+\.[0-9]+[^/]*/`)

// dependencyFile tells a file of a dependency: in a module cache
// (GOMODCACHE, or <module>@<version>/… under -trimpath) or a vendor
// directory.
func dependencyFile(file string) bool {
	return moduleVersion.MatchString(file) || strings.Contains(file, "/vendor/") || strings.HasPrefix(file, "vendor/")
}

// module is the longest module path, of Main and Deps, that pkg falls
// under ("" for none).
func (c *Code) module(pkg string) string {
	best := ""
	consider := func(m string) {
		if len(m) > len(best) && (pkg == m || strings.HasPrefix(pkg, m+"/")) {
			best = m
		}
	}
	consider(c.Main)
	for _, m := range c.Deps {
		consider(m)
	}
	return best
}

// Known tells whether the service's own code can be told apart by more
// than elimination: the binary's build info or the target's GOROOT.
func (c *Code) Known() bool { return c != nil && (c.Main != "" || c.GOROOT != "" || c.GoVersion != "") }

func (c *Code) String() string {
	if c == nil {
		c = noFacts
	}
	var parts []string
	if c.Main != "" {
		parts = append(parts, "module "+c.Main)
	} else {
		parts = append(parts, "code outside GOROOT, the module cache and vendor directories")
	}
	if c.GoVersion != "" {
		parts = append(parts, c.GoVersion)
	}
	return strings.Join(parts, ", ") + " (" + c.Source + ")"
}

var buildInfos sync.Map // binary path and build ID → *buildFacts, or nil when unreadable

type buildFacts struct {
	main, goVersion, file string
	deps                  []string
}

// Code is the rule that tells the snapshot's target's own code (see
// Code): from the build info of its binary, when a profile's main mapping
// names a regular file this process can read whose build ID is the
// mapping's (the service's binary, on this machine); the target's GOROOT
// and Go version from its runtime frames' file paths. Computed once.
func (s *Snapshot) Code() *Code {
	s.codeOnce.Do(func() { s.code = codeOf(s) })
	return s.code
}

func codeOf(s *Snapshot) *Code {
	goroot := gorootOf(s)
	version := versionIn(goroot)
	var sources []string
	var bf *buildFacts
	for _, p := range []*profile.Profile{s.GoroutineProfile, s.HeapProfile} {
		if p == nil || len(p.Mapping) == 0 || p.Mapping[0].File == "" {
			continue
		}
		m := p.Mapping[0]
		key := m.File + "\x00" + m.BuildID
		if v, ok := buildInfos.Load(key); ok {
			bf, _ = v.(*buildFacts)
		} else {
			var err error
			if bf, err = readBuild(m.File, m.BuildID); err != nil {
				bf = nil
				buildInfos.Store(key, nil)
			} else {
				buildInfos.Store(key, bf)
			}
		}
		if bf != nil {
			break
		}
	}
	c := &Code{GOROOT: goroot, GoVersion: version}
	if bf != nil {
		c.Main, c.Deps, c.GoVersion = bf.main, bf.deps, bf.goVersion
		sources = append(sources, "the build info of "+bf.file)
	}
	if goroot != "" {
		sources = append(sources, "GOROOT "+goroot)
	}
	if len(sources) == 0 {
		sources = append(sources, "no build info of the service's binary here")
	}
	c.Source = strings.Join(sources, ", ")
	return c
}

// gorootOf finds the target's GOROOT in the file paths of its runtime
// frames (…/src/runtime/proc.go); "" when they are relative (-trimpath)
// or there are none.
func gorootOf(s *Snapshot) string {
	root := func(fn, file string) string {
		if !strings.HasPrefix(fn, "runtime.") {
			return ""
		}
		if i := strings.LastIndex(file, "/src/runtime/"); i > 0 && strings.IndexByte(file[i+len("/src/runtime/"):], '/') < 0 {
			return file[:i]
		}
		return ""
	}
	for i := range s.Goroutines {
		for _, f := range s.Goroutines[i].Frames {
			if r := root(f.Function, f.File); r != "" {
				return r
			}
		}
	}
	for _, p := range []*profile.Profile{s.GoroutineProfile, s.HeapProfile} {
		if p == nil {
			continue
		}
		for _, f := range p.Function {
			if r := root(f.Name, f.Filename); r != "" {
				return r
			}
		}
	}
	return ""
}

// goVersionIn finds a Go version in a GOROOT path: a toolchain from the
// module proxy (…/golang.org/toolchain@v0.0.1-go1.26.0.linux-amd64),
// /usr/lib/go-1.22, /usr/local/go1.22.1.
var goVersionIn = regexp.MustCompile(`go-?(1\.[0-9]+(?:\.[0-9]+|rc[0-9]+)?)`)

func versionIn(goroot string) string {
	if m := goVersionIn.FindStringSubmatch(goroot); m != nil {
		return "go" + m[1]
	}
	return ""
}

// readBuild reads the build info of the binary at file, when it is the
// one with build ID id (the GNU build ID pprof records; unchecked when
// either is missing).
func readBuild(file, id string) (*buildFacts, error) {
	st, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", file)
	}
	if id != "" {
		if got, err := gnuBuildID(file); err == nil && got != "" && got != id {
			return nil, fmt.Errorf("%s has build ID %s, the profile's binary %s", file, got, id)
		}
	}
	bi, err := buildinfo.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if bi.Main.Path == "" {
		return nil, fmt.Errorf("%s: no main module in its build info", file)
	}
	bf := &buildFacts{main: bi.Main.Path, goVersion: bi.GoVersion, file: file}
	for _, d := range bi.Deps {
		bf.deps = append(bf.deps, d.Path)
	}
	return bf, nil
}

// gnuBuildID reads the GNU build ID note of an ELF file, in hex.
func gnuBuildID(file string) (string, error) {
	f, err := elf.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sec := f.Section(".note.gnu.build-id")
	if sec == nil {
		return "", nil
	}
	data, err := sec.Data()
	if err != nil || len(data) < 16 {
		return "", err
	}
	order := f.ByteOrder
	namesz, descsz := order.Uint32(data[0:4]), order.Uint32(data[4:8])
	off := 12 + (namesz+3)&^3
	if uint64(off)+uint64(descsz) > uint64(len(data)) {
		return "", nil
	}
	return hex.EncodeToString(data[off : off+descsz]), nil
}
