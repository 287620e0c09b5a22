package matchers

import (
	"fmt"

	"github.com/onsi/gomega/format"
	"github.com/onsi/gomega/gleak"
	"github.com/onsi/gomega/gleak/goroutine"
	"github.com/onsi/gomega/types"

	"github.com/aftershock/aftershock/snapshot"
)

// Default tolerances: a drill that sets none judges with these.
const (
	// DefaultMaxExtraGoroutines is how many goroutines a group may gain.
	DefaultMaxExtraGoroutines = 0
	// DefaultMaxExtraConnections is how many connections a class may gain.
	DefaultMaxExtraConnections = 0
	// DefaultMaxExtraIdleConnections is how many idle pooled HTTP/1 client
	// connections may be left over: they are healthy and close at the
	// pool's idle timeout (90 s for http.DefaultTransport, longer than a
	// settle). It is net/http's default idle pool size per host.
	DefaultMaxExtraIdleConnections = 2
	// DefaultMaxHeapGrowth and DefaultMaxHeapGrowthRatio: the post-GC heap
	// may grow by max(1 MiB, 10 %) over the baseline.
	DefaultMaxHeapGrowth      int64   = 1 << 20
	DefaultMaxHeapGrowthRatio float64 = 0.10
)

// Option sets a tolerance or an ignore rule of a matcher.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	maxExtraGoroutines  int
	maxExtraConnections int
	maxExtraIdle        int
	maxHeapGrowth       int64
	maxHeapGrowthRatio  float64
	heapFloor           *NoiseFloor
	ignore              []ignoreRule
	err                 error
}

// ignoreRule is one ignore rule and how findings name it.
type ignoreRule struct {
	desc string
	m    types.GomegaMatcher
}

func (c *config) tolerances() Tolerances {
	t := Tolerances{
		Goroutines: c.maxExtraGoroutines, Connections: c.maxExtraConnections, IdleConnections: c.maxExtraIdle,
		HeapBytes: c.maxHeapGrowth, HeapRatio: c.maxHeapGrowthRatio, HeapFloor: c.heapFloor,
	}
	for _, r := range c.ignore {
		t.Ignore = append(t.Ignore, r.desc)
	}
	return t
}

func newConfig(opts []Option) config {
	c := config{
		maxExtraGoroutines:  DefaultMaxExtraGoroutines,
		maxExtraConnections: DefaultMaxExtraConnections,
		maxExtraIdle:        DefaultMaxExtraIdleConnections,
		maxHeapGrowth:       DefaultMaxHeapGrowth,
		maxHeapGrowthRatio:  DefaultMaxHeapGrowthRatio,
	}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// MaxExtraGoroutines lets every goroutine group gain up to n goroutines.
func MaxExtraGoroutines(n int) Option {
	return optionFunc(func(c *config) { c.maxExtraGoroutines = n })
}

// MaxExtraConnections lets every connection class but idle pooled HTTP/1
// client connections gain up to n connections.
func MaxExtraConnections(n int) Option {
	return optionFunc(func(c *config) { c.maxExtraConnections = n })
}

// MaxExtraIdleConnections lets up to n more idle pooled HTTP/1 client
// connections (and their goroutines) stay than in the baseline. Raise it for
// a service with large idle pools, or lower its transport's IdleConnTimeout
// below the settle time.
func MaxExtraIdleConnections(n int) Option {
	return optionFunc(func(c *config) { c.maxExtraIdle = n })
}

// MaxHeapGrowth lets the post-GC heap grow by up to n bytes, or by the
// ratio of MaxHeapGrowthRatio when that is larger.
func MaxHeapGrowth(n int64) Option {
	return optionFunc(func(c *config) { c.maxHeapGrowth = n })
}

// MaxHeapGrowthRatio lets the post-GC heap grow by up to ratio (0.10 is
// 10 %) of the baseline, or by MaxHeapGrowth bytes when that is larger.
func MaxHeapGrowthRatio(ratio float64) Option {
	return optionFunc(func(c *config) { c.maxHeapGrowthRatio = ratio })
}

// IgnoringTopFunction leaves out goroutines whose innermost function is
// name, in gleak's syntax: "pkg.fn", "pkg.fn..." (anything below pkg.fn),
// "pkg.fn [chan receive]" (and in that state).
func IgnoringTopFunction(name string) Option {
	return ignoring("top function "+name, gleak.IgnoringTopFunction(name))
}

// IgnoringInBacktrace leaves out goroutines with name anywhere in their
// backtrace, as gleak's IgnoringInBacktrace.
func IgnoringInBacktrace(name string) Option {
	return ignoring("in backtrace "+name, gleak.IgnoringInBacktrace(name))
}

// IgnoringCreator leaves out goroutines started by name ("pkg.fn" or
// "pkg.fn..."), as gleak's IgnoringCreator.
func IgnoringCreator(name string) Option {
	return ignoring("creator "+name, gleak.IgnoringCreator(name))
}

func ignoring(desc string, m types.GomegaMatcher) Option {
	return optionFunc(func(c *config) { c.ignore = append(c.ignore, ignoreRule{desc, m}) })
}

// Ignoring leaves out goroutines the way gleak.HaveLeaked's arguments do:
// a string is a top function (see IgnoringTopFunction), a
// []goroutine.Goroutine ignores those goroutines, and any Gomega matcher
// over a goroutine.Goroutine (gleak.IgnoringTopFunction,
// gleak.IgnoringInBacktrace, gleak.IgnoringCreator, your own) ignores
// what it matches.
func Ignoring(filters ...any) Option {
	return optionFunc(func(c *config) {
		for _, f := range filters {
			switch f := f.(type) {
			case string:
				c.ignore = append(c.ignore, ignoreRule{"top function " + f, gleak.IgnoringTopFunction(f)})
			case []goroutine.Goroutine:
				c.ignore = append(c.ignore, ignoreRule{fmt.Sprintf("%d given goroutines", len(f)), gleak.IgnoringGoroutines(f)})
			case types.GomegaMatcher:
				c.ignore = append(c.ignore, ignoreRule{fmt.Sprintf("matcher %T", f), f})
			default:
				c.err = fmt.Errorf("Ignoring expects a string, []goroutine.Goroutine or a Gomega matcher.  Got:\n%s", format.Object(f, 1))
			}
		}
	})
}

// recorder applies the ignore rules for a comparison, and then says which
// ignored groups grew and by which rule.
type recorder struct {
	rules []ignoreRule
	err   error // the first error of a rule
}

func (c *config) newRecorder() *recorder { return &recorder{rules: c.ignore} }

// match returns the index of the first rule that matches g, or -1.
func (r *recorder) match(g *snapshot.Goroutine) int {
	gg := g.Gleak()
	for i, rule := range r.rules {
		ok, err := rule.m.Match(gg)
		if err != nil {
			if r.err == nil {
				r.err = err
			}
			return -1
		}
		if ok {
			return i
		}
	}
	return -1
}

// ignore is the snapshot's filter (nil without rules).
func (r *recorder) ignore() func(*snapshot.Goroutine) bool {
	if len(r.rules) == 0 {
		return nil
	}
	return func(g *snapshot.Goroutine) bool { return r.match(g) >= 0 }
}

// grown lists the ignored groups that grew from base to now, with the
// rule that left each out. They are the verdict's own groups
// (snapshot.CompareGroups: one identity, snapshot.GroupKey, with call
// sites and borrowed stacks as the verdict has them) of the goroutines
// each rule, the first that matches, leaves out. Snapshots with a dump
// only: a light one has too little to say which rule left out what.
func (r *recorder) grown(base, now *snapshot.Snapshot) []IgnoredGroup {
	if len(r.rules) == 0 || base.Light || now.Light {
		return nil
	}
	// Each rule is asked once per goroutine, however many rules there
	// are; only the rules that leave out something now can have grown.
	matched := map[*snapshot.Goroutine]int{}
	match := func(g *snapshot.Goroutine) int {
		i, ok := matched[g]
		if !ok {
			i = r.match(g)
			matched[g] = i
		}
		return i
	}
	used := make([]bool, len(r.rules))
	for i := range now.Goroutines {
		if j := match(&now.Goroutines[i]); j >= 0 {
			used[j] = true
		}
	}
	var out []IgnoredGroup
	for j, rule := range r.rules {
		if !used[j] {
			continue
		}
		for _, g := range snapshot.CompareGroups(base, now, func(g *snapshot.Goroutine) bool { return match(g) != j }) {
			out = append(out, IgnoredGroup{
				Culprit: g.Culprit, Creator: g.Creator, Conn: g.Conn, CallSite: g.CallSite,
				Before: g.Before, After: g.Count, Rule: rule.desc,
			})
		}
	}
	return out
}
