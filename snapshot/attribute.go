package snapshot

import (
	"cmp"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
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
	// Bytes and Objects are the growth of the live heap allocated through
	// it, now less the baseline, as the heap profile estimates it from
	// Samples samples (as pprof -diff_base counts).
	Bytes   int64 `json:"bytes"`
	Objects int64 `json:"objects"`
	Samples int64 `json:"samples"`
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

// grpcCalls are the frames every gRPC call passes through on the
// caller's goroutine: the service's call site is outward of them (past
// its generated stubs and interceptors).
var grpcCalls = []string{"google.golang.org/grpc.(*ClientConn).NewStream", "google.golang.org/grpc.(*ClientConn).Invoke"}

// Through is what an attribution reads for a goroutine group: for the
// goroutines of an HTTP/1 client connection (started by the transport, on
// a goroutine of its own: readLoop and writeLoop), the client calls; for
// others, the stacks through the group's creator or culprit function
// (what the goroutine that started them, or they themselves, allocated),
// and for gRPC's own goroutines the gRPC calls too.
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
	for _, f := range []string{g.Creator.Function, g.Culprit.Function} {
		if pkg := packagePath(f); pkg == "google.golang.org/grpc" || strings.HasPrefix(pkg, "google.golang.org/grpc/") {
			return append(fs, grpcCalls...)
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
// its dependencies.
type Own struct {
	// Main is the main module's path and Deps its dependencies' (from the
	// binary's build info): a package is the service's own when the
	// longest module path it falls under is Main's.
	Main string
	Deps []string
	// ByFile, without build info: a frame is the service's own when its
	// package is not the standard library's and its file lies in no
	// module cache or vendor directory (a dependency's files are at
	// <module>@<version>/…, in GOMODCACHE or so under -trimpath; the main
	// module's are not).
	ByFile bool
	// Source says where the rule was read from.
	Source string
}

// Known tells whether own code can be told apart at all.
func (o Own) Known() bool { return o.Main != "" || o.ByFile }

// HasFrame tells whether frame f is the service's own code. Generated
// code (*.pb.go: gRPC stubs, protobuf types) is not: the call site is
// the caller of a stub.
func (o Own) HasFrame(f Frame) bool {
	if f.Function == "" || strings.HasSuffix(f.File, ".pb.go") {
		return false
	}
	pkg := packagePath(f.Function)
	switch {
	case pkg == "main":
		return true
	case o.Main != "":
		return o.module(pkg) == o.Main
	case o.ByFile:
		return !isStdlib(pkg) && f.File != "" && !strings.Contains(f.File, "@v") && !strings.Contains(f.File, "/vendor/")
	}
	return false
}

// module is the longest module path, of Main and Deps, that pkg falls
// under ("" for none).
func (o Own) module(pkg string) string {
	best := ""
	for _, m := range append([]string{o.Main}, o.Deps...) {
		if len(m) > len(best) && (pkg == m || strings.HasPrefix(pkg, m+"/")) {
			best = m
		}
	}
	return best
}

func (o Own) String() string {
	switch {
	case o.Main != "":
		return fmt.Sprintf("module %s (%s)", o.Main, o.Source)
	case o.ByFile:
		return "files outside the module cache and vendor directories (" + o.Source + ")"
	}
	return "unknown"
}

var buildInfos sync.Map // binary path and build ID → Own, or nil when unreadable

// OwnCode finds the rule that tells the service's own code for snapshot
// s: the main module and dependencies in the build info of its binary,
// when the heap profile's main mapping names a regular file this process
// can read whose build ID is the mapping's (the service's binary, on this
// machine); else the frames' file paths (ByFile). Its second result is
// false when s has no heap profile to name a binary or files.
func OwnCode(s *Snapshot) (Own, bool) {
	p := s.HeapProfile
	if p == nil {
		return Own{}, false
	}
	if len(p.Mapping) > 0 && p.Mapping[0].File != "" {
		m := p.Mapping[0]
		key := m.File + "\x00" + m.BuildID
		if v, ok := buildInfos.Load(key); ok {
			if v != nil {
				return v.(Own), true
			}
		} else if own, err := readOwn(m.File, m.BuildID); err == nil {
			buildInfos.Store(key, own)
			return own, true
		} else {
			buildInfos.Store(key, nil)
		}
	}
	return Own{ByFile: true, Source: "no build info of the service's binary here"}, true
}

// readOwn reads the build info of the binary at file, when it is the one
// with build ID id (the GNU build ID pprof records; unchecked when either
// is missing).
func readOwn(file, id string) (Own, error) {
	st, err := os.Stat(file)
	if err != nil {
		return Own{}, err
	}
	if !st.Mode().IsRegular() {
		return Own{}, fmt.Errorf("%s is not a regular file", file)
	}
	if id != "" {
		if got, err := gnuBuildID(file); err == nil && got != "" && got != id {
			return Own{}, fmt.Errorf("%s has build ID %s, the profile's binary %s", file, got, id)
		}
	}
	bi, err := buildinfo.ReadFile(file)
	if err != nil {
		return Own{}, err
	}
	if bi.Main.Path == "" {
		return Own{}, fmt.Errorf("%s: no main module in its build info", file)
	}
	own := Own{Main: bi.Main.Path, Source: "the build info of " + file}
	for _, d := range bi.Deps {
		own.Deps = append(own.Deps, d.Path)
	}
	return own, nil
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

// Attribute names the call sites of the service's own code through which
// the live heap reached by through grew from base to now: for every
// sample whose stack passes a function of through, the first own frame
// outward of the outermost such frame is the call site (outermost: a
// service's own transport wrapper or gRPC interceptor sits between the
// through frames, and is not the call); the samples of now count plus,
// the baseline's minus, as pprof -diff_base counts them. Only sites that
// grew are named, most first, at most three, each with at least a quarter
// of the largest one's growth; when none grew, NoTie says why.
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
	if !own.Known() {
		return fail("the service's own code could not be told apart")
	}
	// Which culprits each function is a through frame of.
	of := map[string][]int{}
	for i, t := range throughs {
		for _, fn := range t {
			of[fn] = append(of[fn], i)
		}
	}
	type growth struct{ bytes, objects, samples int64 }
	sites := make([]map[Frame]*growth, len(throughs))
	for i := range sites {
		sites[i] = map[Frame]*growth{}
	}
	// through and sited count, in now, the samples that pass a through
	// frame, and those of them that reach an own frame outward of it.
	through, sited := make([]int, len(throughs)), make([]int, len(throughs))
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
		n := len(frames.frames)
		bytes, objs, count := make([][]int64, len(throughs)), make([][]int64, len(throughs)), make([][]int64, len(throughs))
		for i := range throughs {
			bytes[i], objs[i], count[i] = make([]int64, n), make([]int64, n), make([]int64, n)
		}
		// site is, per culprit, the own frame outward of the outermost
		// through frame seen so far in this sample (-1: none yet), and
		// pending whether a through frame awaits its own frame.
		site, pending := make([]int32, len(throughs)), make([]bool, len(throughs))
		for _, smp := range p.Sample {
			for i := range site {
				site[i], pending[i] = -1, false
			}
			waiting := 0
			for _, loc := range smp.Location {
				for _, f := range frames.of(loc) {
					if f.through >= 0 {
						for _, i := range frames.through[f.through] {
							if !pending[i] {
								pending[i] = true
								waiting++
							}
							site[i] = -1 // a through frame further out: its own frame is the site
						}
					}
					if !f.own || waiting == 0 {
						continue
					}
					for i := range pending {
						if pending[i] {
							site[i], pending[i] = f.frame, false
							waiting--
						}
					}
				}
			}
			for i, k := range site {
				if sign > 0 && (k >= 0 || pending[i]) {
					through[i]++
				}
				if k < 0 {
					continue
				}
				if sign > 0 {
					sited[i]++
				}
				bytes[i][k] += smp.Value[space]
				if objects >= 0 {
					objs[i][k] += smp.Value[objects]
				}
				count[i][k]++
			}
		}
		for i := range throughs {
			for k := range n {
				if bytes[i][k] == 0 && objs[i][k] == 0 && count[i][k] == 0 {
					continue
				}
				g := sites[i][frames.frames[k]]
				if g == nil {
					g = &growth{}
					sites[i][frames.frames[k]] = g
				}
				g.bytes += sign * bytes[i][k]
				g.objects += sign * objs[i][k]
				g.samples += sign * count[i][k]
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
				a.Sites = append(a.Sites, CallSite{Site: f, Bytes: g.bytes, Objects: max(g.objects, 0), Samples: max(g.samples, 0)})
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
		switch {
		case len(a.Sites) > 0:
		case through[i] == 0:
			a.NoTie = fmt.Sprintf("no allocation sample ties this to your code: no live sample passes through %s; sampled at %s",
				strings.Join(a.Through, " or "), rateText(a.Rate))
		case sited[i] == 0:
			a.NoTie = fmt.Sprintf("no allocation sample ties this to your code: the %d live samples through %s reach no frame of your code (%s)",
				through[i], strings.Join(a.Through, " or "), a.Own)
		default:
			a.NoTie = fmt.Sprintf("no allocation sample ties this to your code: none of the call sites grew; sampled at %s", rateText(a.Rate))
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
	ownFn := map[string]bool{}
	throughIdx := map[string]int32{}
	for _, loc := range p.Location {
		start := int32(len(x.lines))
		for _, ln := range loc.Line {
			if ln.Function == nil {
				continue
			}
			name := ln.Function.Name
			o, known := ownFn[name]
			if !known {
				o = own.HasFrame(Frame{Function: name, File: ln.Function.Filename})
				ownFn[name] = o
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
