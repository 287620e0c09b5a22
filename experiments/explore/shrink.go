package explore

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// shrink takes the first shrink step whose candidate fails every one of
// its trials, again and again, until no step's candidate fails: the
// schedule then is the smallest found. Steps come largest first (keep one
// episode, drop a fault, pull a fault out of its overlap, start it sooner,
// halve a hold, lower a magnitude), so that a few trials take the big
// cuts.
//
// Like the threshold search, the shrink assumes that less fails less:
// once dropping a fault let the schedule pass, that fault is needed in
// every smaller schedule too, and once a hold or a magnitude of a fault
// was too small to fail, no smaller one is tried. That keeps the trials
// few, each being a whole drill.
func (x *explorer) shrink(ctx context.Context, first Trial) (Schedule, []string, error) {
	cur, culprits := first.Schedule.normal(), first.Culprits
	x.chain = append(x.chain, step{cur, culprits})
	// passed holds, per step kind and fault, the value at which a
	// candidate passed: a candidate at or below it is not run; ran holds
	// every schedule run, which is never run twice.
	passed := map[string]float64{}
	ran := map[string]bool{cur.String(): true}
	for {
		taken := false
		for _, c := range candidates(x.p, cur) {
			key := c.s.String()
			if v, ok := passed[c.key]; (c.key != "" && ok && c.value <= v) || ran[key] {
				continue
			}
			if _, _, err := x.p.Drill(c.s); err != nil {
				continue // a schedule the drill's rules refuse is no candidate
			}
			ran[key] = true
			failed, cul, err := x.fails(ctx, c.why, c.s)
			if err != nil {
				x.res.Reason = fmt.Sprintf("not shrunk further: %v", err)
				return cur, culprits, err
			}
			if !failed {
				if c.key != "" {
					passed[c.key] = max(passed[c.key], c.value)
				}
				continue
			}
			cur, culprits, taken = c.s, cul, true
			x.chain = append(x.chain, step{cur, culprits})
			x.res.Steps = append(x.res.Steps, c.why)
			break
		}
		if !taken {
			return cur, culprits, nil
		}
	}
}

// fails runs a candidate until a trial passes, at most Repeats times, and
// tells whether every trial failed.
func (x *explorer) fails(ctx context.Context, why string, s Schedule) (bool, []string, error) {
	var culprits []string
	for range x.opts.Repeats {
		t, err := x.run(ctx, why, s)
		if err != nil || !t.Failed {
			return false, nil, err
		}
		culprits = t.Culprits
	}
	return true, culprits, nil
}

// candidate is a schedule one shrink step away. key names the step's
// kind and fault, value is the size it leaves (a hold, a scale; 0 for
// dropping or pulling apart); "" for a step not remembered by kind: see
// shrink.
type candidate struct {
	why, key string
	value    float64
	s        Schedule
}

// candidates are the schedules one shrink step away from s, largest step
// first, each normal.
func candidates(p *Pool, s Schedule) []candidate {
	var out []candidate
	seen := map[string]bool{s.String(): true}
	add := func(why, key string, value float64, es []Entry) {
		c := candidate{why, key, value, Schedule{Seed: s.Seed, Entries: es}.normal()}
		if !seen[c.s.String()] {
			seen[c.s.String()] = true
			out = append(out, c)
		}
	}
	byEpisode := map[int][]Entry{}
	for _, e := range s.Entries {
		byEpisode[e.Episode] = append(byEpisode[e.Episode], e)
	}
	if len(byEpisode) > 1 {
		for ep := range s.Episodes() {
			kept := Schedule{Entries: byEpisode[ep]}.normal()
			add(fmt.Sprintf("keep episode %d alone (%s)", ep+1, kept), "episode:"+kept.String(), 0, slices.Clone(byEpisode[ep]))
		}
	}
	if len(s.Entries) > 1 {
		for i, e := range s.Entries {
			add("drop "+e.Fault, "drop:"+e.Fault, 0, slices.Delete(slices.Clone(s.Entries), i, i+1))
		}
	}
	for i, e := range s.Entries {
		if len(byEpisode[e.Episode]) < 2 {
			continue
		}
		es := slices.Clone(s.Entries)
		es[i].Episode, es[i].Start = s.Episodes(), 0
		add("hold "+e.Fault+" alone, overlapping nothing", "alone:"+e.Fault, 0, es)
	}
	// Starts and holds: the least first, then half. A start is relative
	// to its episode's origin, which moves as the schedule shrinks, so
	// starts are not remembered by value (key "").
	for i, e := range s.Entries {
		for _, st := range []time.Duration{0, (e.Start / 2).Round(100 * time.Millisecond)} {
			if st < e.Start {
				es := slices.Clone(s.Entries)
				es[i].Start = st
				add(fmt.Sprintf("start %s sooner: %s into its episode (was %s)", e.Fault, st, e.Start), "", 0, es)
			}
		}
	}
	for i, e := range s.Entries {
		least := p.min[e.Fault]
		for _, h := range []time.Duration{least, max(least, (e.Hold / 2).Round(100*time.Millisecond))} {
			if h < e.Hold {
				es := slices.Clone(s.Entries)
				es[i].Hold = h
				add(fmt.Sprintf("hold %s %s (was %s)", e.Fault, h, e.Hold), "hold:"+e.Fault, float64(h), es)
			}
		}
	}
	for i, e := range s.Entries {
		if !p.scaled[e.Fault] {
			continue
		}
		// Halving only: the shrink says which faults, held how, break the
		// service; how hard exactly is the threshold search's question.
		if v := max(MinScale, math.Round(e.Scale*50)/100); v < e.Scale {
			es := slices.Clone(s.Entries)
			es[i].Scale = v
			add(fmt.Sprintf("%s at ×%g of its magnitude (was ×%g)", e.Fault, v, e.Scale), "scale:"+e.Fault, v, es)
		}
	}
	return out
}
