package experiments

import "github.com/aftershock/aftershock/matchers"

// IdleAllowance is the growth allowed in idle pooled HTTP/1 client
// connections: verify.connections.maxIdleExtra when the drill sets it,
// else measured (what the runner saw the target pool), and never less
// than matchers.DefaultMaxExtraIdleConnections when not set.
func (v Verify) IdleAllowance(measured int) int {
	if n := v.Connections.MaxIdleExtra; n != nil {
		return *n
	}
	return max(measured, matchers.DefaultMaxExtraIdleConnections)
}

// MatcherOptions turns the verify block into the matchers' tolerances and
// ignore rules, with idle as the idle allowance (see IdleAllowance). It is
// the one translation of a drill's tolerances: the runner, the suites and
// `aftershock diff` all judge with it.
func (v Verify) MatcherOptions(idle int) []matchers.Option {
	g := v.Heap.MaxGrowth // the default when unwritten: loading sets it (DefaultVerify)
	ratio := 0.0
	if g.Percent != nil {
		ratio = g.Percent.Fraction()
	}
	opts := []matchers.Option{
		matchers.MaxExtraGoroutines(v.Goroutines.MaxExtra),
		matchers.MaxExtraConnections(v.Connections.MaxExtra),
		matchers.MaxExtraIdleConnections(idle),
		matchers.MaxHeapGrowth(g.Bytes.Bytes),
		matchers.MaxHeapGrowthRatio(ratio),
	}
	if len(v.Ignore) > 0 {
		fs := make([]any, len(v.Ignore))
		for i, p := range v.Ignore {
			fs[i] = p
		}
		opts = append(opts, matchers.Ignoring(fs...))
	}
	return opts
}
