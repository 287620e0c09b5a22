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
	"strings"

	"github.com/onsi/gomega/format"
	"github.com/onsi/gomega/types"

	"github.com/aftershock/aftershock/snapshot"
)

// ReturnToBaseline succeeds when a snapshot (the actual, a
// *snapshot.Snapshot) has no more goroutines per group, connections per
// class and post-GC heap than base, within the tolerances of opts.
func ReturnToBaseline(base *snapshot.Snapshot, opts ...Option) types.GomegaMatcher {
	return newMatcher("ReturnToBaseline", base, Resources, opts)
}

// HaveNoExtraGoroutines succeeds when no goroutine group has grown over
// base by more than MaxExtraGoroutines (default 0). The goroutines of idle
// pooled HTTP/1 client connections are allowed MaxExtraIdleConnections
// more.
func HaveNoExtraGoroutines(base *snapshot.Snapshot, opts ...Option) types.GomegaMatcher {
	return newMatcher("HaveNoExtraGoroutines", base, []Resource{Goroutines}, opts)
}

// HaveNoExtraConnections succeeds when no connection class has grown over
// base by more than MaxExtraConnections (default 0), idle pooled HTTP/1
// client connections by more than MaxExtraIdleConnections (default 2).
func HaveNoExtraConnections(base *snapshot.Snapshot, opts ...Option) types.GomegaMatcher {
	return newMatcher("HaveNoExtraConnections", base, []Resource{Connections}, opts)
}

// HaveHeapWithin succeeds when the post-GC heap (HeapAlloc) has grown over
// base by at most max(MaxHeapGrowth, MaxHeapGrowthRatio × base), by default
// max(1 MiB, 10 %).
func HaveHeapWithin(base *snapshot.Snapshot, opts ...Option) types.GomegaMatcher {
	return newMatcher("HaveHeapWithin", base, []Resource{Heap}, opts)
}

type baselineMatcher struct {
	name      string
	base      *snapshot.Snapshot
	resources []Resource
	cfg       config
	last      *Findings // of the last Match, for the messages
}

func newMatcher(name string, base *snapshot.Snapshot, rs []Resource, opts []Option) *baselineMatcher {
	return &baselineMatcher{name: name, base: base, resources: rs, cfg: newConfig(opts)}
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
	f, err := m.cfg.judge(m.base, now)
	if err != nil {
		return false, fmt.Errorf("%s matcher: %w", m.name, err)
	}
	m.last = f
	return f.OK(m.resources...), nil
}

// FailureMessage says what did not return to the baseline.
func (m *baselineMatcher) FailureMessage(any) string {
	if m.last == nil {
		return fmt.Sprintf("%s matcher: no snapshot was compared", m.name)
	}
	return fmt.Sprintf("Expected the service to return to its baseline (%s), but it has not:\n\n%s", m.name, m.last.Message(m.resources...))
}

// NegatedFailureMessage says that everything is back within tolerance.
func (m *baselineMatcher) NegatedFailureMessage(any) string {
	if m.last == nil {
		return fmt.Sprintf("%s matcher: no snapshot was compared", m.name)
	}
	return fmt.Sprintf("Expected the service NOT to be back at its baseline (%s), but it is, within tolerance:\n\n%s", m.name, m.last.Message(m.resources...))
}

// HaveReturned succeeds when findings (the actual, a *Findings, as a
// drill's verdict holds them) have nothing over tolerance in rs (every
// resource when none is given). Its failure message is the findings'.
//
//	Expect(fault.Findings).To(matchers.HaveReturned(matchers.Goroutines))
func HaveReturned(rs ...Resource) types.GomegaMatcher {
	return &findingsMatcher{resources: resources(rs)}
}

type findingsMatcher struct {
	resources []Resource
	last      *Findings
}

func (m *findingsMatcher) Match(actual any) (bool, error) {
	f, ok := actual.(*Findings)
	if !ok || f == nil {
		return false, fmt.Errorf("HaveReturned matcher expects *matchers.Findings (nil when nothing could be judged: see the fault's Error).  Got:\n%s", format.Object(actual, 1))
	}
	m.last = f
	return f.OK(m.resources...), nil
}

func (m *findingsMatcher) FailureMessage(any) string {
	return fmt.Sprintf("Expected the service to have returned to its baseline (%s), but it has not:\n\n%s", resourceList(m.resources), m.last.Message(m.resources...))
}

func (m *findingsMatcher) NegatedFailureMessage(any) string {
	return fmt.Sprintf("Expected the service NOT to have returned to its baseline (%s), but it has:\n\n%s", resourceList(m.resources), m.last.Message(m.resources...))
}

func resourceList(rs []Resource) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}
