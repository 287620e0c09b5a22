// Package explore searches schedules of faults for one that fails a drill,
// and shrinks a failing schedule to the smallest one that still fails, as
// property-based testing shrinks a failing input.
//
// A schedule draws faults from a drill's faults (the pool): which of
// them, in which order, held how long, how hard, and which overlap which.
// It is drawn from a seed, so that the same seed draws the same schedules;
// every schedule is run as a Drill file of its own (experiments.Overlap
// holds faults together), and the smallest failing one is written as one.
//
// Why not pgregory.net/rapid, which the project uses for its property
// tests: its shrinker works on the random bitstream behind a value and
// may try hundreds of candidates within a wall-clock budget (30 s by
// default), its seed, check count and shrink time are process-wide flags,
// and it reports a failure that does not reproduce as a flaky test. A
// candidate here is a whole drill of tens of seconds on a real process,
// whose verdict near a boundary is noisy: the shrinker here takes the
// steps a person would (drop a fault, pull overlapping faults apart,
// shorten a hold, lower a magnitude), counts its trials, accepts a step
// only when the candidate fails every one of its trials, and confirms
// the result by running it again.
package explore

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/search"
)

// Entry is one fault of a schedule.
type Entry struct {
	// Fault names the fault of the pool it is drawn from; it keeps that
	// name in the schedule's Drill file.
	Fault string `json:"fault"`
	// Episode numbers the episode the fault is held in: the faults of an
	// episode whose holds overlap are held together.
	Episode int `json:"episode"`
	// Start is when the fault is injected, after its episode's first fault
	// took effect.
	Start time.Duration `json:"start"`
	// Hold is how long it is held.
	Hold time.Duration `json:"hold"`
	// Scale multiplies its magnitudes (latency, loss, stalled clients):
	// 1 is as the pool writes it.
	Scale float64 `json:"scale"`
}

// Schedule is faults drawn from a pool, and the seed that drew them.
type Schedule struct {
	Seed    uint64  `json:"seed"`
	Entries []Entry `json:"entries"`
}

// Pool is the faults of a drill that schedules draw from, and the drill
// that runs them.
type Pool struct {
	drill  *experiments.Drill
	doc    map[string]any
	blocks map[string]map[string]any
	names  []string
	holds  map[string]time.Duration
	min    map[string]time.Duration // the shortest hold of each fault
	scaled map[string]bool          // faults with a magnitude to lower
}

// NewPool reads the faults of d as a pool. Faults on engine chaos-mesh
// are refused: schedules run on this machine.
func NewPool(d *experiments.Drill) (*Pool, error) {
	if err := d.RefuseCluster("the schedule search"); err != nil {
		return nil, err
	}
	doc, err := d.Document()
	if err != nil {
		return nil, err
	}
	p := &Pool{doc: doc, drill: d, blocks: map[string]map[string]any{}, holds: map[string]time.Duration{}, min: map[string]time.Duration{}, scaled: map[string]bool{}}
	spec, _ := p.doc["spec"].(map[string]any)
	faults, _ := spec["faults"].([]any)
	for i, f := range faults {
		block, ok := f.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("drill %s: fault %d is not a mapping", d.Metadata.Name, i)
		}
		delete(block, "overlap") // the schedule decides what overlaps
		name := d.Spec.Faults[i].Name
		p.blocks[name] = block
		p.names = append(p.names, name)
		p.holds[name] = d.Spec.Faults[i].Duration.Duration
		// A scaled delay may stop failing calls, never start: the
		// minimum at full scale holds for every scale.
		p.min[name] = max(MinHold, d.MinHold(&d.Spec.Faults[i]))
		fields, err := search.Scale(deepCopy(block), 0.5)
		if err != nil {
			return nil, fmt.Errorf("drill %s: fault %s: %w", d.Metadata.Name, name, err)
		}
		p.scaled[name] = len(fields) > 0
	}
	return p, nil
}

// Names are the pool's faults, in the drill's order.
func (p *Pool) Names() []string { return slices.Clone(p.names) }

// Generation bounds.
const (
	// MinHold is the shortest hold a schedule draws or shrinks to (or
	// the drill's own minimum for the fault, when longer: see
	// experiments.Drill.MinHold).
	MinHold = 500 * time.Millisecond
	// MinScale is the lowest scale a shrink lowers a magnitude to.
	MinScale = 0.1
	// overlapChance is how often a fault after the first joins the
	// episode before it instead of starting one of its own.
	overlapChance = 0.6
)

// Generate draws a schedule from the pool with seed: between two and
// maxFaults of its faults (one when the pool has one), each at most once,
// in a random order; each held for 50–100 % of its duration in the drill,
// its magnitudes at 50–100 %; each after the first overlapping a fault of
// the episode before it (starting inside that fault's hold) more often
// than not, or starting an episode of its own. The same pool and seed
// draw the same schedule.
func (p *Pool) Generate(seed uint64, maxFaults int) Schedule {
	r := rand.New(rand.NewPCG(seed, 0xaf7e45))
	n := min(max(maxFaults, 1), len(p.names))
	if n > 1 {
		n = 2 + r.IntN(n-1)
	}
	s := Schedule{Seed: seed}
	episode, members := 0, []int(nil)
	for i, k := range r.Perm(len(p.names))[:n] {
		name := p.names[k]
		e := Entry{Fault: name, Hold: max(p.min[name], round(time.Duration(float64(p.holds[name])*(0.5+0.5*r.Float64())), 100*time.Millisecond)), Scale: 1}
		if p.scaled[name] {
			e.Scale = math.Round((0.5+0.5*r.Float64())*20) / 20
		}
		if i > 0 && r.Float64() < overlapChance {
			j := members[r.IntN(len(members))]
			w := s.Entries[j]
			e.Episode = episode
			e.Start = w.Start + round(time.Duration(0.8*r.Float64()*float64(w.Hold)), 100*time.Millisecond)
		} else {
			if i > 0 {
				episode++
			}
			e.Episode, members = episode, nil
		}
		members = append(members, i)
		s.Entries = append(s.Entries, e)
	}
	return s.normal()
}

func round(d, to time.Duration) time.Duration { return d.Round(to) }

// normal is the schedule as its Drill file runs it: episodes numbered in
// order from 0, faults by episode and start, every episode starting at 0,
// and a fault that starts after every fault before it in its episode has
// cleared starting an episode of its own (it overlaps nothing).
func (s Schedule) normal() Schedule {
	out := Schedule{Seed: s.Seed}
	es := slices.Clone(s.Entries)
	slices.SortStableFunc(es, func(a, b Entry) int { return cmp.Or(cmp.Compare(a.Episode, b.Episode), cmp.Compare(a.Start, b.Start)) })
	episode, origin := -1, time.Duration(0)
	var members []Entry
	prev := -1
	for _, e := range es {
		held := false
		if e.Episode == prev {
			for _, m := range members {
				if m.Start+origin <= e.Start && e.Start < m.Start+origin+m.Hold {
					held = true
					break
				}
			}
		}
		if !held {
			episode++
			origin, members = e.Start, nil
		}
		prev = e.Episode
		e.Episode, e.Start = episode, e.Start-origin
		members = append(members, e)
		out.Entries = append(out.Entries, e)
	}
	return out
}

// Episodes counts the schedule's episodes.
func (s Schedule) Episodes() int {
	if len(s.Entries) == 0 {
		return 0
	}
	return s.Entries[len(s.Entries)-1].Episode + 1
}

// String describes the schedule, one episode after another: "slow-prices
// 3s ×0.75 + slow-stock 2s ×0.9 from 1.2s | stock-503 2.5s".
func (s Schedule) String() string {
	var b strings.Builder
	for i, e := range s.Entries {
		switch {
		case i == 0:
		case e.Episode != s.Entries[i-1].Episode:
			b.WriteString(" | ")
		default:
			b.WriteString(" + ")
		}
		fmt.Fprintf(&b, "%s %s", e.Fault, e.Hold)
		if e.Scale != 1 {
			fmt.Fprintf(&b, " ×%g", e.Scale)
		}
		if e.Start > 0 {
			fmt.Fprintf(&b, " from %s", e.Start)
		}
	}
	return b.String()
}

// Drill is the schedule as a drill of its own, and its YAML: the pool's
// drill with the schedule's faults, each overlapping the first fault of
// its episode whose hold it starts in.
func (p *Pool) Drill(s Schedule) (*experiments.Drill, []byte, error) {
	s = s.normal()
	doc := deepCopy(p.doc)
	var faults []any
	for i, e := range s.Entries {
		block, ok := p.blocks[e.Fault]
		if !ok {
			return nil, nil, fmt.Errorf("the pool has no fault %q (it has %s)", e.Fault, strings.Join(p.names, ", "))
		}
		block = deepCopy(block)
		block["duration"] = e.Hold.String()
		if e.Scale != 1 {
			if _, err := search.Scale(block, e.Scale); err != nil {
				return nil, nil, err
			}
		}
		for _, w := range s.Entries[:i] {
			if w.Episode == e.Episode && w.Start <= e.Start && e.Start < w.Start+w.Hold {
				block["overlap"] = map[string]any{"with": w.Fault, "after": (e.Start - w.Start).String()}
				break
			}
		}
		faults = append(faults, block)
	}
	doc["spec"].(map[string]any)["faults"] = faults
	// Problems cite the generated document, not the pool's file.
	name := fmt.Sprintf("%s (schedule %s)", cmp.Or(p.drill.File, p.drill.Metadata.Name+".yaml"), s)
	d, out, err := experiments.ParseDocument(name, doc)
	if err != nil {
		return nil, out, fmt.Errorf("schedule %s: %w", s, err)
	}
	return d, out, nil
}

// File is the schedule as a Drill file of its own, named name: what
// `aftershock explore` writes, which `aftershock drill` runs (and
// `aftershock report` keeps apart from the pool's drill).
func (p *Pool) File(s Schedule, name string) ([]byte, error) {
	_, doc, err := p.Drill(s)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(doc, &m); err != nil {
		return nil, err
	}
	m["metadata"].(map[string]any)["name"] = name
	return yaml.Marshal(m)
}

// deepCopy copies a YAML document's maps and lists.
func deepCopy[T any](v T) T {
	var copyAny func(any) any
	copyAny = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			m := make(map[string]any, len(x))
			for k, e := range x {
				m[k] = copyAny(e)
			}
			return m
		case []any:
			l := make([]any, len(x))
			for i, e := range x {
				l[i] = copyAny(e)
			}
			return l
		}
		return v
	}
	return copyAny(v).(T)
}
