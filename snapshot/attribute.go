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
	// Basis says what the sites are read from, in every rendering and in
	// JSON: InferredText.
	Basis string `json:"basis"`
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
// quarter of the largest one's growth; when none grew, NoTie says so,
// with the sampling rate.
func Attribute(base, now *profile.Profile, through []string, own Own) Attribution {
	return AttributeAll(base, now, [][]string{through}, own)[0]
}

// AttributeAll is Attribute for several culprits at once, in one pass
// over each profile's samples: what a verdict with many groups and
// classes over tolerance costs is one reading of the heap profiles.
func AttributeAll(base, now *profile.Profile, throughs [][]string, own Own) []Attribution {
	out := make([]Attribution, len(throughs))
	for i, t := range throughs {
		out[i] = Attribution{Basis: InferredText, Through: t, Own: own.String()}
	}
	fail := func(why string) []Attribution {
		for i := range out {
			out[i].NoTie = why
		}
		return out
	}
	if now == nil || base == nil {
		return fail("no heap profile to read allocation stacks from")
	}
	for i := range out {
		out[i].Rate = now.Period
	}
	if len(own.Modules) == 0 {
		return fail("the service's own code could not be told apart (no build info, no main goroutine)")
	}
	// Which culprits each function is a through frame of.
	of := map[string][]int{}
	for i, t := range throughs {
		for _, fn := range t {
			of[fn] = append(of[fn], i)
		}
	}
	type growth struct{ bytes, objects int64 }
	sites := make([]map[Frame]*growth, len(throughs))
	for i := range sites {
		sites[i] = map[Frame]*growth{}
	}
	ok := true
	read := func(p *profile.Profile, sign int64) {
		space, objects := sampleIndex(p, "inuse_space"), sampleIndex(p, "inuse_objects")
		if space < 0 {
			ok = false
			return
		}
		frames := newFrameIndex(p, of, own)
		// Growth by culprit and own frame of this profile, summed into
		// sites (by Frame, which the profiles share) at the end.
		bytes, objs := make([][]int64, len(throughs)), make([][]int64, len(throughs))
		for i := range throughs {
			bytes[i], objs[i] = make([]int64, len(frames.frames)), make([]int64, len(frames.frames))
		}
		defer func() {
			for i := range throughs {
				for k, n := range bytes[i] {
					if n == 0 && objs[i][k] == 0 {
						continue
					}
					g := sites[i][frames.frames[k]]
					if g == nil {
						g = &growth{}
						sites[i][frames.frames[k]] = g
					}
					g.bytes += sign * n
					g.objects += sign * objs[i][k]
				}
			}
		}()
		// seen: a through frame of culprit i was passed in this sample's
		// stack; sited: its call site was found, once per sample.
		seen, sited := make([]bool, len(throughs)), make([]bool, len(throughs))
		for _, smp := range p.Sample {
			clear(seen)
			clear(sited)
			pending := 0
			for _, loc := range smp.Location {
				for _, f := range frames.of(loc) {
					if f.through >= 0 {
						for _, i := range frames.through[f.through] {
							if !seen[i] && !sited[i] {
								seen[i] = true
								pending++
							}
						}
					}
					if !f.own || pending == 0 {
						continue
					}
					// The first own frame at or outward of a through
					// frame is the site of every culprit seen so far and
					// not yet sited.
					for i := range seen {
						if !seen[i] {
							continue
						}
						bytes[i][f.frame] += smp.Value[space]
						if objects >= 0 {
							objs[i][f.frame] += smp.Value[objects]
						}
						seen[i], sited[i] = false, true
					}
					pending = 0
				}
			}
		}
	}
	read(now, 1)
	read(base, -1)
	if !ok {
		return fail("no allocation stacks to read")
	}
	for i := range out {
		a := &out[i]
		if len(a.Through) == 0 {
			a.NoTie = "no allocation stacks to read"
			continue
		}
		var total int64
		for f, g := range sites[i] {
			if g.bytes > 0 {
				a.Sites = append(a.Sites, CallSite{Site: f, Bytes: g.bytes, Objects: max(g.objects, 0)})
				total += g.bytes
			}
		}
		slices.SortFunc(a.Sites, func(x, y CallSite) int {
			return cmp.Or(cmp.Compare(y.Bytes, x.Bytes), cmp.Compare(x.Site.Function, y.Site.Function), cmp.Compare(x.Site.Line, y.Site.Line))
		})
		// Sites under a quarter of the largest are left out, counted: a
		// call that did not leak still holds some of its allocations for
		// a while (until its client's timeout timer fires: up to the
		// client's Timeout after the call), and a call site that did not
		// leak must not be named beside one that did. Measured on the
		// fanout fixture: the call site that closes its bodies held
		// 6–11 % of the growth.
		for k := range a.Sites {
			a.Sites[k].Share = float64(a.Sites[k].Bytes) / float64(total)
			if k > 0 && (a.Sites[k].Bytes*minorShare < a.Sites[0].Bytes || k >= maxCallSites) {
				a.Minor = len(a.Sites) - k
				a.Sites = a.Sites[:k]
				break
			}
		}
		if len(a.Sites) == 0 {
			a.NoTie = fmt.Sprintf("no allocation sample ties this to your code; sampled at %s", rateText(a.Rate))
		}
	}
	return out
}

// frameIndex holds a profile's locations read once: each location's
// lines as a run of flat entries (own code or not, the culprits whose
// through frame it is, its frame), found by location ID — in a slice when
// the IDs are dense (as a parsed profile's are), else in a map. Flat and
// small, so that the pass over every sample's stack stays in cache.
type frameIndex struct {
	lines   []lineInfo
	frames  []Frame
	through [][]int
	dense   [][2]int32 // by location ID: start and end in lines
	sparse  map[uint64][2]int32
}

type lineInfo struct {
	frame   int32 // index in frames
	through int32 // index in through, -1 for none
	own     bool
}

func newFrameIndex(p *profile.Profile, of map[string][]int, own Own) *frameIndex {
	x := &frameIndex{}
	var maxID uint64
	for _, loc := range p.Location {
		maxID = max(maxID, loc.ID)
	}
	if maxID <= uint64(4*len(p.Location)+16) {
		x.dense = make([][2]int32, maxID+1)
	} else {
		x.sparse = map[uint64][2]int32{}
	}
	ownPkg := map[string]bool{}
	throughIdx := map[string]int32{}
	for _, loc := range p.Location {
		start := int32(len(x.lines))
		for _, ln := range loc.Line {
			if ln.Function == nil {
				continue
			}
			name := ln.Function.Name
			pkg := packagePath(name)
			o, known := ownPkg[pkg]
			if !known {
				o = own.Has(pkg)
				ownPkg[pkg] = o
			}
			t := int32(-1)
			if cs, ok := of[name]; ok {
				if t, ok = throughIdx[name]; !ok {
					t = int32(len(x.through))
					x.through = append(x.through, cs)
					throughIdx[name] = t
				}
			}
			fi := int32(-1)
			if o {
				fi = int32(len(x.frames))
				x.frames = append(x.frames, Frame{Function: name, File: ln.Function.Filename, Line: int(ln.Line)})
			}
			x.lines = append(x.lines, lineInfo{frame: fi, through: t, own: o})
		}
		span := [2]int32{start, int32(len(x.lines))}
		if x.dense != nil {
			x.dense[loc.ID] = span
		} else {
			x.sparse[loc.ID] = span
		}
	}
	return x
}

func (x *frameIndex) of(loc *profile.Location) []lineInfo {
	var span [2]int32
	if x.dense != nil {
		if loc.ID >= uint64(len(x.dense)) {
			return nil
		}
		span = x.dense[loc.ID]
	} else {
		span = x.sparse[loc.ID]
	}
	return x.lines[span[0]:span[1]]
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
