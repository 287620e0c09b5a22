// Package matchers holds Gomega matchers over snapshots of a running
// service, made to be the settle of a drill:
//
//	base, err := client.Capture(ctx)
//	// ... inject a fault, clear it ...
//	Eventually(ctx, client.Capture).Should(matchers.ReturnToBaseline(base))
//
// Eventually polls until the service is back within tolerance and, when it
// never is, fails with the diff: each goroutine group that grew (count
// before → after, the culprit function with file:line, its creator, the
// wait state, one example stack), the connection classes that grew, and the
// heap growth with the allocation sites that grew most.
package matchers

import (
	"fmt"

	"github.com/onsi/gomega/format"
	"github.com/onsi/gomega/types"

	"github.com/aftershock/aftershock/snapshot"
)

// check is a set of what a matcher verifies.
type check uint8

const (
	checkGoroutines check = 1 << iota
	checkConnections
	checkHeap
	checkAll = checkGoroutines | checkConnections | checkHeap
)

// ReturnToBaseline succeeds when a snapshot (the actual, a
// *snapshot.Snapshot) has no more goroutines per group, connections per
// class and post-GC heap than base, within the tolerances of opts.
func ReturnToBaseline(base *snapshot.Snapshot, opts ...Option) types.GomegaMatcher {
	return newMatcher("ReturnToBaseline", base, checkAll, opts)
}

// HaveNoExtraGoroutines succeeds when no goroutine group has grown over
// base by more than MaxExtraGoroutines (default 0). The goroutines of idle
// pooled HTTP/1 client connections are held to MaxExtraIdleConnections.
func HaveNoExtraGoroutines(base *snapshot.Snapshot, opts ...Option) types.GomegaMatcher {
	return newMatcher("HaveNoExtraGoroutines", base, checkGoroutines, opts)
}

// HaveNoExtraConnections succeeds when no connection class has grown over
// base by more than MaxExtraConnections (default 0), idle pooled HTTP/1
// client connections by more than MaxExtraIdleConnections (default 2).
func HaveNoExtraConnections(base *snapshot.Snapshot, opts ...Option) types.GomegaMatcher {
	return newMatcher("HaveNoExtraConnections", base, checkConnections, opts)
}

// HaveHeapWithin succeeds when the post-GC heap (HeapAlloc) has grown over
// base by at most max(MaxHeapGrowth, MaxHeapGrowthRatio × base), by default
// max(1 MiB, 10 %).
func HaveHeapWithin(base *snapshot.Snapshot, opts ...Option) types.GomegaMatcher {
	return newMatcher("HaveHeapWithin", base, checkHeap, opts)
}

type baselineMatcher struct {
	name   string
	base   *snapshot.Snapshot
	checks check
	cfg    config
	last   *verdict // of the last Match, for the messages
}

func newMatcher(name string, base *snapshot.Snapshot, checks check, opts []Option) *baselineMatcher {
	return &baselineMatcher{name: name, base: base, checks: checks, cfg: newConfig(opts)}
}

// Match compares actual with the baseline.
func (m *baselineMatcher) Match(actual any) (bool, error) {
	now, ok := actual.(*snapshot.Snapshot)
	if !ok || now == nil {
		return false, fmt.Errorf("%s matcher expects a *snapshot.Snapshot.  Got:\n%s", m.name, format.Object(actual, 1))
	}
	if m.base == nil {
		return false, fmt.Errorf("%s matcher was given a nil baseline snapshot", m.name)
	}
	if m.cfg.err != nil {
		return false, fmt.Errorf("%s matcher: %w", m.name, m.cfg.err)
	}
	var filterErr error
	diff, err := snapshot.Compare(m.base, now, m.cfg.ignoreFunc(&filterErr))
	if err != nil {
		return false, fmt.Errorf("%s matcher: %w", m.name, err)
	}
	if filterErr != nil {
		return false, fmt.Errorf("%s matcher: ignore filter: %w", m.name, filterErr)
	}
	m.last = judge(diff, m.checks, &m.cfg, m.base.Light || now.Light)
	return m.last.ok(), nil
}

// FailureMessage says what did not return to the baseline.
func (m *baselineMatcher) FailureMessage(actual any) string {
	return m.message(false)
}

// NegatedFailureMessage says that everything is back within tolerance.
func (m *baselineMatcher) NegatedFailureMessage(actual any) string {
	return m.message(true)
}
