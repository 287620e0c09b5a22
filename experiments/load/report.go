package load

import (
	"slices"
	"time"
)

// PhaseStats summarises the load one phase saw. A request belongs to the
// phase in which it was sent, however long it took.
type PhaseStats struct {
	Phase       string        `json:"phase"`
	Start       time.Time     `json:"start"`
	End         time.Time     `json:"end"`
	Requests    int           `json:"requests"`
	Errors      int           `json:"errors"`
	SuccessRate float64       `json:"successRate"` // 0..1; 1 when there were no requests
	P50         time.Duration `json:"p50"`
	P90         time.Duration `json:"p90"`
	P95         time.Duration `json:"p95"`
	P99         time.Duration `json:"p99"`
	Max         time.Duration `json:"max"`
	// Codes counts the answers by HTTP status (0: no answer — a timeout,
	// a refused or reset connection) or, for a gRPC load, by gRPC status
	// code (0: OK; no answer is DeadlineExceeded or Unavailable).
	Codes map[uint16]int `json:"codes"`
}

// Bucket is one slice of the timeline.
type Bucket struct {
	Start    time.Time     `json:"start"`
	Phase    string        `json:"phase"`
	Requests int           `json:"requests"`
	Errors   int           `json:"errors"`
	P50      time.Duration `json:"p50"`
	P99      time.Duration `json:"p99"`
}

// Report is what the load saw, per phase and as a timeline.
type Report struct {
	Phases   []PhaseStats `json:"phases"`
	Timeline []Bucket     `json:"timeline"`
	// Bucket is the width of one timeline bucket.
	Bucket time.Duration `json:"bucket"`
}

// Report computes the statistics of everything recorded so far.
func (g *Generator) Report() Report {
	g.mu.Lock()
	marks := slices.Clone(g.marks)
	res := slices.Clone(g.results)
	g.mu.Unlock()
	slices.SortFunc(res, func(a, b result) int { return a.at.Compare(b.at) })

	rep := Report{Bucket: g.cfg.Bucket}
	phaseOf := func(t time.Time) int {
		// the last mark at or before t; requests before the first mark
		// (there are none in practice) count to the first phase
		i, _ := slices.BinarySearchFunc(marks, t, func(m mark, t time.Time) int {
			if m.at.After(t) {
				return 1
			}
			return -1
		})
		return max(i-1, 0)
	}
	if len(marks) == 0 {
		return rep
	}
	perPhase := make([][]result, len(marks))
	for _, r := range res {
		i := phaseOf(r.at)
		perPhase[i] = append(perPhase[i], r)
	}
	for i, m := range marks {
		end := time.Now()
		if i+1 < len(marks) {
			end = marks[i+1].at
		}
		ps := stats(perPhase[i])
		ps.Phase, ps.Start, ps.End = m.phase, m.at, end
		rep.Phases = append(rep.Phases, ps)
	}
	for start := 0; start < len(res); {
		b0 := res[start].at.Truncate(g.cfg.Bucket)
		end := start
		for end < len(res) && res[end].at.Before(b0.Add(g.cfg.Bucket)) {
			end++
		}
		s := stats(res[start:end])
		rep.Timeline = append(rep.Timeline, Bucket{
			Start: b0, Phase: marks[phaseOf(b0)].phase,
			Requests: s.Requests, Errors: s.Errors, P50: s.P50, P99: s.P99,
		})
		start = end
	}
	return rep
}

// Span is the statistics of the requests sent in [from, to), whatever
// phases they belong to: the windows SLOs are judged over need not start at
// a phase boundary.
func (g *Generator) Span(from, to time.Time) PhaseStats {
	g.mu.Lock()
	var rs []result
	for _, r := range g.results {
		if !r.at.Before(from) && r.at.Before(to) {
			rs = append(rs, r)
		}
	}
	g.mu.Unlock()
	ps := stats(rs)
	ps.Start, ps.End = from, to
	return ps
}

// Inside returns the timeline buckets that lie wholly in [from, to).
func (r Report) Inside(from, to time.Time) []Bucket {
	var out []Bucket
	for _, b := range r.Timeline {
		if !b.Start.Before(from) && !b.Start.Add(r.Bucket).After(to) {
			out = append(out, b)
		}
	}
	return out
}

func stats(rs []result) PhaseStats {
	ps := PhaseStats{Requests: len(rs), Codes: map[uint16]int{}, SuccessRate: 1}
	if len(rs) == 0 {
		return ps
	}
	lat := make([]time.Duration, len(rs))
	for i, r := range rs {
		lat[i] = r.latency
		ps.Codes[r.code]++
		if r.err {
			ps.Errors++
		}
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	ps.P50, ps.P90, ps.P95, ps.P99, ps.Max = q(0.50), q(0.90), q(0.95), q(0.99), lat[len(lat)-1]
	ps.SuccessRate = float64(len(rs)-ps.Errors) / float64(len(rs))
	return ps
}

// Phase returns the statistics of the named phase, merged if the phase was
// marked more than once.
func (r Report) Phase(name string) (PhaseStats, bool) {
	var found []PhaseStats
	for _, p := range r.Phases {
		if p.Phase == name {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		return PhaseStats{}, false
	}
	if len(found) == 1 {
		return found[0], true
	}
	// Percentiles cannot be merged exactly; take the worst, which is what
	// an SLO check wants.
	m := found[0]
	for _, p := range found[1:] {
		m.End = p.End
		m.Requests += p.Requests
		m.Errors += p.Errors
		m.P50, m.P90, m.P95, m.P99, m.Max = max(m.P50, p.P50), max(m.P90, p.P90), max(m.P95, p.P95), max(m.P99, p.P99), max(m.Max, p.Max)
		for c, n := range p.Codes {
			m.Codes[c] += n
		}
	}
	if m.Requests > 0 {
		m.SuccessRate = float64(m.Requests-m.Errors) / float64(m.Requests)
	}
	return m, true
}

// Recovery returns how long after from the load recovered: the start of
// the first timeline bucket after which every bucket up to until has a
// success rate of at least successRate (0..1). ok is false when the load
// had not recovered by until, or saw no requests after from.
func (r Report) Recovery(from, until time.Time, successRate float64) (d time.Duration, ok bool) {
	var candidate time.Time
	seen := false
	for _, b := range r.Timeline {
		if b.Start.Add(r.Bucket).Before(from) || b.Start.After(until) || b.Requests == 0 {
			continue
		}
		seen = true
		rate := float64(b.Requests-b.Errors) / float64(b.Requests)
		if rate < successRate {
			candidate = time.Time{}
			continue
		}
		if candidate.IsZero() {
			candidate = b.Start
		}
	}
	if !seen || candidate.IsZero() {
		return 0, false
	}
	return max(candidate.Sub(from), 0), true
}
