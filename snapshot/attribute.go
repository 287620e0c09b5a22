package snapshot

import (
	"cmp"
	"debug/buildinfo"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/google/pprof/profile"
)

// CallSite is a frame of the service's own code that the live allocations
// of a leak grew through: inferred from the heap profile's allocation
// stacks, not seen on the leaked goroutines themselves.
type CallSite struct {
	Site Frame `json:"site"`
	// Bytes and Objects are the sampled growth of the live heap allocated
	// through it, now less the baseline (as pprof -diff_base counts).
	Bytes   int64 `json:"bytes"`
	Objects int64 `json:"objects"`
	// Share is its part of the growth of all the sites named.
	Share float64 `json:"share"`
}

// Attribution names the service's own call sites behind a leak.
type Attribution struct {
	// Sites are the call sites whose allocations grew, most first; empty
	// when no live sample ties the leak to the service's code.
	Sites []CallSite `json:"sites,omitempty"`
	// Minor counts the sites that grew too, by less than a quarter of the
	// largest (or past the three named), left out.
	Minor int `json:"minor,omitempty"`
	// NoTie says why no site is named.
	NoTie string `json:"noTie,omitempty"`
	// Through are the functions whose allocation stacks were read.
	Through []string `json:"through"`
	// Rate is the heap profile's sampling rate: on average one sample
	// per Rate bytes allocated (runtime.MemProfileRate).
	Rate int64 `json:"rate"`
	// Own says how the service's own code was told apart: its modules and
	// where they were read from.
	Own string `json:"own"`
}

// InferredText marks an attribution in every rendering: it is read from
// allocation stacks, not from the leaked goroutines.
const InferredText = "inferred from allocation stacks"

// maxCallSites bounds the sites an attribution names.
const maxCallSites = 3

// minorShare: a site is named only when its growth is at least
// 1/minorShare of the largest site's.
const minorShare = 4

// clientCalls are the frames every HTTP/1 client call passes through on
// the caller's goroutine: what opens, and holds, a client connection of
// the service.
var clientCalls = []string{"net/http.(*Client).do", "net/http.(*Transport).roundTrip"}

// Through is what an attribution reads for a goroutine group: for the
// goroutines of an HTTP/1 client connection (started by the transport, on
// a goroutine of its own), the client calls; for others, the stacks
// through the group's creator or culprit function (what the goroutine
// that started them, or they themselves, allocated).
func Through(g Group) []string {
	switch {
	case g.Conn == HTTPClientIdle, g.Conn == HTTPClientAwaiting, g.Conn == HTTPClientBodyPending, g.Culprit.Function == h1WriteLoop:
		return clientCalls
	}
	var fs []string
	for _, f := range []string{g.Creator.Function, g.Culprit.Function} {
		if f != "" && !slices.Contains(fs, f) {
			fs = append(fs, f)
		}
	}
	return fs
}

// ThroughConn is what an attribution reads for a connection class; nil
// when no function of the caller's opens it.
func ThroughConn(c ConnClass) []string {
	switch c {
	case HTTPClientIdle, HTTPClientAwaiting, HTTPClientBodyPending:
		return clientCalls
	}
	return nil
}

// Own tells the service's own code apart from the standard library and
// its dependencies, by module path.
type Own struct {
	// Modules are the module paths of the service's own code.
	Modules []string
	// Source says where they were read from.
	Source string
}

// Has tells whether package pkg is the service's own code.
func (o Own) Has(pkg string) bool {
	if pkg == "main" {
		return true
	}
	for _, m := range o.Modules {
		if pkg == m || strings.HasPrefix(pkg, m+"/") {
			return true
		}
	}
	return false
}

// HasFunc tells whether function fn ("pkg.(*T).M") is the service's own
// code.
func (o Own) HasFunc(fn string) bool { return fn != "" && o.Has(packagePath(fn)) }

func (o Own) String() string {
	return fmt.Sprintf("modules %s (%s)", strings.Join(o.Modules, ", "), o.Source)
}

var buildInfos sync.Map // binary path → Own, or nil when unreadable

// OwnCode finds the service's own modules for snapshot s: the main module
// in the build info of its binary, when the heap profile's main mapping
// names a file this process can read (a service on this machine); else
// inferred from the main goroutine, as the module of the outermost
// package of its stack that is not the standard library (the first three
// path elements on a code host such as github.com, else up to a cmd,
// internal or pkg element).
func OwnCode(s *Snapshot) (Own, bool) {
	if p := s.HeapProfile; p != nil && len(p.Mapping) > 0 && p.Mapping[0].File != "" {
		file := p.Mapping[0].File
		if v, ok := buildInfos.Load(file); ok {
			if v != nil {
				return v.(Own), true
			}
		} else if bi, err := readBuildInfo(file); err == nil && bi.Main.Path != "" {
			own := Own{Modules: []string{bi.Main.Path}, Source: "the build info of " + file}
			buildInfos.Store(file, own)
			return own, true
		} else {
			buildInfos.Store(file, nil)
		}
	}
	for _, g := range s.Goroutines {
		if g.ID != 1 {
			continue
		}
		for i := len(g.Frames) - 1; i >= 0; i-- {
			pkg := packagePath(g.Frames[i].Function)
			if pkg == "main" || isStdlib(pkg) {
				continue
			}
			return Own{Modules: []string{modulePath(pkg)}, Source: "inferred from the main goroutine's stack"}, true
		}
	}
	return Own{}, false
}

func readBuildInfo(file string) (*buildinfo.BuildInfo, error) {
	if _, err := os.Stat(file); err != nil {
		return nil, err
	}
	return buildinfo.ReadFile(file)
}

// modulePath guesses the module of a package from its path alone.
func modulePath(pkg string) string {
	parts := strings.Split(pkg, "/")
	switch parts[0] {
	case "github.com", "gitlab.com", "bitbucket.org", "codeberg.org":
		return strings.Join(parts[:min(3, len(parts))], "/")
	}
	for i, p := range parts {
		if i > 0 && (p == "cmd" || p == "internal" || p == "pkg") {
			return strings.Join(parts[:i], "/")
		}
	}
	return pkg
}

// Attribute names the call sites of the service's own code through which
// the live heap reached by through grew from base to now: for every
// sample whose stack passes a function of through, the first own frame
// outward of it (or at it) is the call site; the samples of now count
// plus, the baseline's minus, as pprof -diff_base counts them. Only sites
// that grew are named, most first, at most three, each with at least a
// quarter of the largest one's growth; when none grew, NoTie says so, with
// the sampling rate.
func Attribute(base, now *profile.Profile, through []string, own Own) Attribution {
	a := Attribution{Through: through, Own: own.String()}
	if now == nil || base == nil {
		a.NoTie = "no heap profile to read allocation stacks from"
		return a
	}
	a.Rate = now.Period
	space, objects := sampleIndex(now, "inuse_space"), sampleIndex(now, "inuse_objects")
	bspace, bobjects := sampleIndex(base, "inuse_space"), sampleIndex(base, "inuse_objects")
	if len(own.Modules) == 0 {
		a.NoTie = "the service's own code could not be told apart (no build info, no main goroutine)"
		return a
	}
	if space < 0 || bspace < 0 || len(through) == 0 {
		a.NoTie = "no allocation stacks to read"
		return a
	}
	type growth struct{ bytes, objects int64 }
	sites := map[Frame]*growth{}
	add := func(p *profile.Profile, si, oi int, sign int64) {
		for _, smp := range p.Sample {
			site, ok := callSite(smp, through, own)
			if !ok {
				continue
			}
			g := sites[site]
			if g == nil {
				g = &growth{}
				sites[site] = g
			}
			g.bytes += sign * smp.Value[si]
			if oi >= 0 {
				g.objects += sign * smp.Value[oi]
			}
		}
	}
	add(now, space, objects, 1)
	add(base, bspace, bobjects, -1)
	var total int64
	for f, g := range sites {
		if g.bytes > 0 {
			a.Sites = append(a.Sites, CallSite{Site: f, Bytes: g.bytes, Objects: max(g.objects, 0)})
			total += g.bytes
		}
	}
	slices.SortFunc(a.Sites, func(x, y CallSite) int {
		return cmp.Or(cmp.Compare(y.Bytes, x.Bytes), cmp.Compare(x.Site.Function, y.Site.Function), cmp.Compare(x.Site.Line, y.Site.Line))
	})
	// Sites under a quarter of the largest are left out, counted: a call
	// that did not leak still holds some of its allocations for a while
	// (until its client's timeout timer fires: up to the client's
	// Timeout after the call), and a call site that did not leak must not
	// be named beside one that did. Measured on the fanout fixture: the
	// call site that closes its bodies held 6–11 % of the growth.
	for i := range a.Sites {
		a.Sites[i].Share = float64(a.Sites[i].Bytes) / float64(total)
		if i > 0 && (a.Sites[i].Bytes*minorShare < a.Sites[0].Bytes || i >= maxCallSites) {
			a.Minor = len(a.Sites) - i
			a.Sites = a.Sites[:i]
			break
		}
	}
	if len(a.Sites) == 0 {
		a.NoTie = fmt.Sprintf("no allocation sample ties this to your code; sampled at %s", rateText(a.Rate))
	}
	return a
}

// callSite finds, in a sample's stack, the first own frame at or outward
// of the innermost frame of a through function.
func callSite(smp *profile.Sample, through []string, own Own) (Frame, bool) {
	seen := false
	for _, loc := range smp.Location {
		for _, ln := range loc.Line {
			if ln.Function == nil {
				continue
			}
			if !seen && slices.Contains(through, ln.Function.Name) {
				seen = true
			}
			if seen && own.Has(packagePath(ln.Function.Name)) {
				return Frame{Function: ln.Function.Name, File: ln.Function.Filename, Line: int(ln.Line)}, true
			}
		}
	}
	return Frame{}, false
}

// rateText writes a sampling rate as people set it: "512 KiB".
func rateText(rate int64) string {
	switch {
	case rate <= 0:
		return "an unknown rate"
	case rate%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", rate>>30)
	case rate%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", rate>>20)
	case rate%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", rate>>10)
	}
	return fmt.Sprintf("%d B", rate)
}
