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
	ignore              []types.GomegaMatcher
	err                 error
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
	return Ignoring(gleak.IgnoringTopFunction(name))
}

// IgnoringInBacktrace leaves out goroutines with name anywhere in their
// backtrace, as gleak's IgnoringInBacktrace.
func IgnoringInBacktrace(name string) Option {
	return Ignoring(gleak.IgnoringInBacktrace(name))
}

// IgnoringCreator leaves out goroutines started by name ("pkg.fn" or
// "pkg.fn..."), as gleak's IgnoringCreator.
func IgnoringCreator(name string) Option {
	return Ignoring(gleak.IgnoringCreator(name))
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
				c.ignore = append(c.ignore, gleak.IgnoringTopFunction(f))
			case []goroutine.Goroutine:
				c.ignore = append(c.ignore, gleak.IgnoringGoroutines(f))
			case types.GomegaMatcher:
				c.ignore = append(c.ignore, f)
			default:
				c.err = fmt.Errorf("Ignoring expects a string, []goroutine.Goroutine or a Gomega matcher.  Got:\n%s", format.Object(f, 1))
			}
		}
	})
}

// ignoreFunc turns the ignore rules into the snapshot's filter; a filter's
// error stops the match.
func (c *config) ignoreFunc(errp *error) func(*snapshot.Goroutine) bool {
	if len(c.ignore) == 0 {
		return nil
	}
	return func(g *snapshot.Goroutine) bool {
		gg := g.Gleak()
		for _, m := range c.ignore {
			ok, err := m.Match(gg)
			if err != nil {
				if *errp == nil {
					*errp = err
				}
				return false
			}
			if ok {
				return true
			}
		}
		return false
	}
}
