package snapshot

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

// LabelCount is how many goroutines of a group carry one set of pprof
// labels, before and after.
type LabelCount struct {
	// Labels are "key=value" pairs, sorted, comma-separated; "" for the
	// goroutines without labels.
	Labels string `json:"labels"`
	Before int    `json:"before"`
	After  int    `json:"after"`
}

// Extra is how many goroutines with these labels the group gained.
func (l LabelCount) Extra() int { return l.After - l.Before }

// GroupLabels are the pprof label sets of the goroutines of the group
// key names (by its light part: culprit function and connection class,
// what the goroutine profile knows), that grew from base to now, most
// first. Labels set with pprof.Do or
// pprof.SetGoroutineLabels are inherited by the goroutines started under
// them, so a service that labels its handlers ("handler", "/checkout")
// has every goroutine a handler started — a leaked one included — carry
// its handler's name: the goroutine profile (debug=0) holds them, the
// debug=2 dump does not. The unlabelled goroutines that grew are counted
// too (Labels ""), beside the labelled ones; none at all when nothing
// labelled grew. The counts are per light key: two groups parked in one
// function, started by different go statements, share them.
func GroupLabels(base, now *Snapshot, key GroupKey) []LabelCount {
	counts := map[string]*LabelCount{}
	add := func(s *Snapshot, after bool) {
		if s == nil || s.GoroutineProfile == nil {
			return
		}
		code := s.Code()
		for _, smp := range s.GoroutineProfile.Sample {
			if len(smp.Value) == 0 {
				continue
			}
			frames := sampleFrames(smp)
			if len(frames) == 0 || culprit(frames, code).Function != key.Culprit {
				continue
			}
			if class, _ := Classify(frames); class != key.Conn {
				continue
			}
			key := labelText(smp.Label)
			c := counts[key]
			if c == nil {
				c = &LabelCount{Labels: key}
				counts[key] = c
			}
			if after {
				c.After += int(smp.Value[0])
			} else {
				c.Before += int(smp.Value[0])
			}
		}
	}
	add(base, false)
	add(now, true)
	var out []LabelCount
	labelled := false
	for _, c := range counts {
		if c.Extra() > 0 {
			out = append(out, *c)
			labelled = labelled || c.Labels != ""
		}
	}
	if !labelled {
		return nil // nothing labelled grew: the service sets no labels here
	}
	slices.SortFunc(out, func(a, b LabelCount) int {
		return cmp.Or(cmp.Compare(b.Extra(), a.Extra()), cmp.Compare(a.Labels, b.Labels))
	})
	if len(out) > maxLabelSets {
		out = out[:maxLabelSets]
	}
	return out
}

// maxLabelSets bounds the label sets a group reports.
const maxLabelSets = 3

func labelText(l map[string][]string) string {
	parts := make([]string, 0, len(l))
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+"="+strings.Join(l[k], "|"))
	}
	return strings.Join(parts, ",")
}
