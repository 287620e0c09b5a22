// Package gostd knows the standard library's packages of every Go release
// aftershock supports: the lists `go list std` prints, generated per
// release (go generate) and embedded. They tell a frame of the standard
// library from one of the service's own without guessing from the
// spelling of its package path (a module path need not have a dot:
// "module shop" is common).
package gostd

import (
	"embed"
	"path"
	"slices"
	"strings"
	"sync"
)

//go:generate go run ./gen

//go:embed std/*.txt
var files embed.FS

var (
	once     sync.Once
	lists    map[string]map[string]bool // by release ("go1.26")
	union    map[string]bool
	releases []string
)

func load() {
	lists = map[string]map[string]bool{}
	union = map[string]bool{}
	entries, err := files.ReadDir("std")
	if err != nil {
		panic("gostd: embedded lists unreadable: " + err.Error())
	}
	for _, e := range entries {
		data, err := files.ReadFile(path.Join("std", e.Name()))
		if err != nil {
			panic("gostd: " + err.Error())
		}
		r := strings.TrimSuffix(e.Name(), ".txt")
		set := map[string]bool{}
		for p := range strings.Lines(string(data)) {
			if p = strings.TrimSpace(p); p != "" {
				set[p], union[p] = true, true
			}
		}
		lists[r] = set
		releases = append(releases, r)
	}
	slices.SortFunc(releases, compareRelease)
}

// Releases lists the releases whose package lists are embedded, oldest
// first.
func Releases() []string {
	once.Do(load)
	return slices.Clone(releases)
}

// Release is the release of a Go version as runtime.Version and build
// info write it: "go1.26" for "go1.26.8", "go1.26rc1" or "go1.26.0
// X:goroutineleakprofile"; "" when version names none.
func Release(version string) string {
	v, _, _ := strings.Cut(strings.TrimPrefix(version, "devel "), " ")
	rest, ok := strings.CutPrefix(v, "go1.")
	if !ok {
		return ""
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 {
		return ""
	}
	return "go1." + rest[:n]
}

// Packages is the standard library of the release of version (see
// Release). For a release newer than every list it is the newest list,
// for an unknown or older one the union of all lists; exact tells that
// the release's own list was found.
func Packages(version string) (pkgs map[string]bool, exact bool) {
	once.Do(load)
	r := Release(version)
	if set, ok := lists[r]; ok {
		return set, true
	}
	if newest := releases[len(releases)-1]; r != "" && compareRelease(r, newest) > 0 {
		return lists[newest], false
	}
	return union, false
}

// compareRelease orders "go1.9" before "go1.21".
func compareRelease(a, b string) int {
	minor := func(r string) int {
		n := 0
		for _, c := range strings.TrimPrefix(r, "go1.") {
			n = n*10 + int(c-'0')
		}
		return n
	}
	return minor(a) - minor(b)
}
