package snapshot

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// CallSite is a frame of the service's own code behind a leak: read
// exactly in the leaked goroutines' ancestry (ExactText), or inferred from
// the heap profile's allocation stacks (InferredText) that the leak's
// live allocations grew through.
type CallSite struct {
	Site Frame `json:"site"`
	// Goroutines is how many goroutines the site gained (exact sites).
	Goroutines int `json:"goroutines,omitempty"`
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
	// JSON: ExactText or InferredText.
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

// ExactText marks an attribution read from the leaked goroutines' own
// ancestry: what the runtime recorded when they were created.
const ExactText = "exact, from the goroutines' ancestry"

// Exact tells an attribution read from the goroutines' ancestry.
func (a *Attribution) Exact() bool { return a != nil && a.Basis == ExactText }

// ExactOrigin names the call sites of groups that grew (each with its
// CallSite, read in its goroutines' ancestry): the sites with the
// goroutines they gained, most first, named as inferred ones are (at most
// three, each with at least a quarter of the largest one's growth).
func ExactOrigin(code *Code, groups []GroupDelta) *Attribution {
	a := &Attribution{Basis: ExactText, Own: code.String()}
	by := map[Frame]int{}
	total := 0
	for _, g := range groups {
		if g.CallSite.Function != "" && g.Extra() > 0 {
			by[g.CallSite] += g.Extra()
			total += g.Extra()
		}
	}
	for f, n := range by {
		a.Sites = append(a.Sites, CallSite{Site: f, Goroutines: n, Share: float64(n) / float64(total)})
	}
	slices.SortFunc(a.Sites, func(x, y CallSite) int {
		return cmp.Or(cmp.Compare(y.Goroutines, x.Goroutines), cmp.Compare(x.Site.Function, y.Site.Function), cmp.Compare(x.Site.Line, y.Site.Line))
	})
	for k := range a.Sites {
		if k > 0 && (a.Sites[k].Goroutines*minorShare < a.Sites[0].Goroutines || k >= maxCallSites) {
			a.Minor = len(a.Sites) - k
			a.Sites = a.Sites[:k]
			break
		}
	}
	if len(a.Sites) == 0 {
		a.NoTie = "no ancestor of the goroutines ran your code"
	}
	return a
}

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

// siteFrame tells whether frame f can be a call site: the service's own
// code, generated code (*.pb.go: gRPC stubs, protobuf types) excepted —
// the call site is the caller of a stub.
func siteFrame(code *Code, f Frame) bool {
	return !strings.HasSuffix(f.File, ".pb.go") && code.IsOwn(f)
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
func Attribute(base, now *profile.Profile, through []string, code *Code) Attribution {
	return AttributeAll(base, now, [][]string{through}, code)[0]
}

// AttributeAll is Attribute for several culprits at once, in one pass
// over each profile's samples: what a verdict with many groups and
// classes over tolerance costs is one reading of the heap profiles.
func AttributeAll(base, now *profile.Profile, throughs [][]string, code *Code) []Attribution {
	out := make([]Attribution, len(throughs))
	for i, t := range throughs {
		out[i] = Attribution{Basis: InferredText, Through: t, Own: code.String()}
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
		frames := newFrameIndex(p, of, code)
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

func newFrameIndex(p *profile.Profile, of map[string][]int, code *Code) *frameIndex {
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
				o = siteFrame(code, Frame{Function: name, File: ln.Function.Filename})
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
