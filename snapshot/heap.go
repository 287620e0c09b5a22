package snapshot

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/google/pprof/profile"
)

// HeapSite is the live heap attributed to one allocation site.
type HeapSite struct {
	// Site is the allocating frame that explains the memory (the innermost
	// application frame of the allocation stack, as for goroutines).
	Site Frame `json:"site"`
	// InuseBytes and InuseObjects are the sampled estimates of the heap
	// profile (inuse_space, inuse_objects); a diff's may be negative.
	InuseBytes   int64 `json:"inuseBytes"`
	InuseObjects int64 `json:"inuseObjects"`
}

// sampleFrames turns a profile sample's stack into frames, innermost first
// (inlined calls included).
func sampleFrames(s *profile.Sample) []Frame {
	frames := make([]Frame, 0, len(s.Location)+4)
	for _, loc := range s.Location {
		for _, ln := range loc.Line {
			if ln.Function == nil {
				continue
			}
			frames = append(frames, Frame{Function: ln.Function.Name, File: ln.Function.Filename, Line: int(ln.Line)})
		}
	}
	return frames
}

// heapSites sums inuse_space and inuse_objects by allocation site, largest
// first (for a diff: largest growth first, shrinking sites last).
func heapSites(p *profile.Profile, code *Code) []HeapSite {
	space, objects := sampleIndex(p, "inuse_space"), sampleIndex(p, "inuse_objects")
	if space < 0 {
		return nil
	}
	bySite := map[Frame]*HeapSite{}
	for _, smp := range p.Sample {
		site := culprit(sampleFrames(smp), code)
		h := bySite[site]
		if h == nil {
			h = &HeapSite{Site: site}
			bySite[site] = h
		}
		h.InuseBytes += smp.Value[space]
		if objects >= 0 {
			h.InuseObjects += smp.Value[objects]
		}
	}
	out := make([]HeapSite, 0, len(bySite))
	for _, h := range bySite {
		if h.InuseBytes != 0 || h.InuseObjects != 0 {
			out = append(out, *h)
		}
	}
	slices.SortFunc(out, func(a, b HeapSite) int {
		if c := cmp.Compare(b.InuseBytes, a.InuseBytes); c != 0 {
			return c
		}
		// Ties broken on the whole frame, so that reports and bundles read
		// the same from run to run (map iteration order is random).
		return cmp.Or(
			cmp.Compare(a.Site.Function, b.Site.Function),
			cmp.Compare(a.Site.File, b.Site.File),
			cmp.Compare(a.Site.Line, b.Site.Line),
		)
	})
	return out
}

func sampleIndex(p *profile.Profile, typ string) int {
	for i, st := range p.SampleType {
		if st.Type == typ {
			return i
		}
	}
	return -1
}

// HeapDiffProfile computes now minus base the way `go tool pprof
// -diff_base` does: the base copied, labelled pprof::base, scaled by -1 and
// merged with now. The result opens in pprof like a -diff_base view.
func HeapDiffProfile(base, now *profile.Profile) (*profile.Profile, error) {
	if base == nil || now == nil {
		return nil, fmt.Errorf("heap diff: both snapshots need a heap profile")
	}
	b := base.Copy()
	b.SetLabel("pprof::base", []string{"true"})
	b.Scale(-1)
	d, err := profile.Merge([]*profile.Profile{now.Copy(), b})
	if err != nil {
		return nil, fmt.Errorf("heap diff: merge profiles: %w", err)
	}
	return d, nil
}
