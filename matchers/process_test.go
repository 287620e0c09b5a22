package matchers_test

import (
	"strings"
	"testing"

	"github.com/onsi/gomega"

	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// TestRestartFindings: a restart is a finding of its own, in every
// resource's verdict, and the Gomega message opens with it.
func TestRestartFindings(t *testing.T) {
	f := &matchers.Findings{Restart: &matchers.Restart{Fault: "slow-payments", Phase: "settle", Why: "counters went back (NumGC 212 → 3)"}}
	const want = "the service restarted during slow-payments (settle): counters went back (NumGC 212 → 3)"
	for _, r := range matchers.Resources {
		if !f.Over(r) || f.OK(r) {
			t.Errorf("%s: a restart reads as within tolerance", r)
		}
		if c := f.Culprits(r); len(c) != 1 || c[0] != want {
			t.Errorf("%s: culprits = %q", r, c)
		}
	}
	g := gomega.NewGomega(func(message string, _ ...int) {
		if !strings.Contains(message, want) {
			t.Errorf("the Gomega message does not say %q:\n%s", want, message)
		}
	})
	g.Expect(f).To(matchers.HaveReturned(matchers.Goroutines))
}

// TestReplicaFindings: a target's findings are its replicas'; only the
// replica over tolerance is named, each line with its name.
func TestReplicaFindings(t *testing.T) {
	leaky := &matchers.Findings{Replica: "shop-7f9c", Goroutines: matchers.GoroutineFindings{Before: 10, After: 159, Over: []matchers.GroupFinding{{
		GroupDelta: snapshot.GroupDelta{Group: snapshot.Group{Culprit: snapshot.Frame{Function: "shop.(*Server).callPayments.func1"}, State: "chan send", Count: 159}, Before: 10},
	}}}}
	fixed := &matchers.Findings{Replica: "shop-2d41", Goroutines: matchers.GoroutineFindings{Before: 10, After: 10}}
	f := matchers.OfReplicas([]*matchers.Findings{leaky, fixed})
	if f.OK(matchers.Goroutines) || !f.OK(matchers.Connections, matchers.Heap) {
		t.Errorf("OK: goroutines %v, others %v", f.OK(matchers.Goroutines), f.OK(matchers.Connections, matchers.Heap))
	}
	c := f.Culprits()
	if len(c) != 1 || !strings.HasPrefix(c[0], "shop-7f9c: +149 goroutines [chan send] in shop.(*Server).callPayments.func1") {
		t.Errorf("culprits = %q", c)
	}
	if m := f.Message(); !strings.Contains(m, "Replica shop-7f9c: NOT within tolerance") || !strings.Contains(m, "Replica shop-2d41: within tolerance") {
		t.Errorf("message:\n%s", m)
	}
	if !matchers.OfReplicas([]*matchers.Findings{fixed, fixed}).OK() {
		t.Error("two fixed replicas are not within tolerance")
	}
}
