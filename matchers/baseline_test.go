package matchers_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gleak"
	"github.com/onsi/gomega/types"

	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

const targetPkg = "github.com/aftershock/aftershock/snapshot/snapshottest"

// rig is a real target process and a client for its pprof.
type rig struct {
	*snapshottest.Target
	g      *WithT
	client *snapshot.Client
}

func newRig(t *testing.T) *rig {
	t.Helper()
	target := snapshottest.Start(t)
	c, err := snapshot.NewClient(target.PprofURL)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{Target: target, g: NewWithT(t), client: c}
}

func (r *rig) capture() *snapshot.Snapshot {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := r.client.Capture(ctx)
	r.g.Expect(err).NotTo(HaveOccurred())
	return s
}

// settle polls the target as a drill's settle does.
func (r *rig) settle() AsyncAssertion {
	return r.g.Eventually(context.Background(), r.client.Capture).WithTimeout(15 * time.Second).WithPolling(50 * time.Millisecond)
}

// failsWith matches now with m and expects a failure whose message holds
// every one of parts.
func (r *rig) failsWith(m types.GomegaMatcher, now *snapshot.Snapshot, parts ...string) string {
	ok, err := m.Match(now)
	r.g.Expect(err).NotTo(HaveOccurred())
	msg := m.FailureMessage(now)
	r.g.Expect(ok).To(BeFalse(), "matcher passed on a leaking target:\n%s", msg)
	for _, p := range parts {
		r.g.Expect(msg).To(ContainSubstring(p))
	}
	return msg
}

func TestGoroutineLeakFailsNamingTheCulpritThenSettles(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	base := r.capture()
	r.settle().Should(matchers.ReturnToBaseline(base))

	r.Park(5)
	now := r.capture()
	msg := r.failsWith(matchers.HaveNoExtraGoroutines(base), now,
		"+5 goroutines [chan receive]: 0 → 5 (tolerance +0)",
		"culprit:    "+targetPkg+".ParkedWorker at ", "snapshottest/leaks.go:",
		"created by: "+targetPkg+".(*state).park at ", "snapshottest/leaks.go:",
		"example, goroutine ")
	t.Logf("failure message:\n%s", msg)
	r.failsWith(matchers.ReturnToBaseline(base), now, targetPkg+".ParkedWorker")
	r.g.Expect(now).To(matchers.HaveNoExtraConnections(base))

	r.Release()
	r.settle().Should(matchers.ReturnToBaseline(base))
}

func TestIgnoreOptions(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	base := r.capture()
	r.Park(3)
	for name, opt := range map[string]matchers.Option{
		"top function":        matchers.IgnoringTopFunction(targetPkg + ".ParkedWorker"),
		"top function, state": matchers.IgnoringTopFunction(targetPkg + ".ParkedWorker [chan receive]"),
		"top function prefix": matchers.IgnoringTopFunction(targetPkg + "..."),
		"in backtrace":        matchers.IgnoringInBacktrace("ParkedWorker"),
		"creator":             matchers.IgnoringCreator(targetPkg + ".(*state).park"),
		"gleak matcher":       matchers.Ignoring(gleak.IgnoringTopFunction(targetPkg + ".ParkedWorker")),
		"string":              matchers.Ignoring(targetPkg + ".ParkedWorker"),
		"baseline goroutines": matchers.Ignoring(r.capture().GleakGoroutines()),
		"tolerance per group": matchers.MaxExtraGoroutines(3),
	} {
		t.Run(name, func(t *testing.T) {
			r.settle().Should(matchers.ReturnToBaseline(base, opt))
		})
	}
	// Ignoring something else, or a tolerance just short, still fails.
	now := r.capture()
	r.failsWith(matchers.HaveNoExtraGoroutines(base, matchers.IgnoringTopFunction(targetPkg+".ParkedWorker [select]")), now, "ParkedWorker")
	r.failsWith(matchers.HaveNoExtraGoroutines(base, matchers.MaxExtraGoroutines(2)), now, "+3 goroutines", "(tolerance +2)")
}

func TestConnectionLeakFailsNamingTheClass(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	base := r.capture()
	r.LeakBodies(3)
	now := r.capture()
	msg := r.failsWith(matchers.HaveNoExtraConnections(base), now,
		"http1-client-body-pending: 0 → 3 (+3, tolerance +0)", "resp.Body.Close", "net/http.(*persistConn).readLoop")
	t.Logf("failure message:\n%s", msg)
	r.failsWith(matchers.ReturnToBaseline(base), now, "http1-client-body-pending")
	r.failsWith(matchers.HaveNoExtraGoroutines(base), now, "net/http.(*persistConn).readLoop", "holds:      a http1-client-body-pending connection")

	r.CloseConns()
	r.settle().Should(matchers.ReturnToBaseline(base))
}

func TestIdlePooledConnectionsHaveTheirOwnTolerance(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	base := r.capture()
	r.IdleConns(2)
	now := r.capture()
	// Healthy idle connections are within the default idle tolerance, for
	// the connection and the goroutine checks alike...
	r.g.Expect(now).To(matchers.ReturnToBaseline(base))
	// ...and over a stricter one they are reported as idle, not as a leak.
	r.failsWith(matchers.HaveNoExtraConnections(base, matchers.MaxExtraIdleConnections(1)), now,
		"http1-client-idle: 0 → 2 (+2, tolerance +1)", "healthy")
	r.g.Expect(now).To(matchers.HaveNoExtraConnections(base, matchers.MaxExtraConnections(0)))
}

func TestHeapGrowthFailsNamingTheAllocationSite(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	base := r.capture()
	r.Retain(16 << 20)
	now := r.capture()
	msg := r.failsWith(matchers.HaveHeapWithin(base), now,
		"Heap (HeapAlloc after GC): ", "tolerance +1.0 MiB", targetPkg+".RetainHeap at ", "snapshottest/leaks.go:")
	t.Logf("failure message:\n%s", msg)
	r.g.Expect(now).To(matchers.HaveHeapWithin(base, matchers.MaxHeapGrowth(64<<20)))
	r.g.Expect(now).To(matchers.HaveHeapWithin(base, matchers.MaxHeapGrowthRatio(100)))

	r.Free()
	r.settle().Should(matchers.HaveHeapWithin(base))
}

// Eventually stops polling as soon as the service is back: the settle
// takes as long as the leak lasts, not the settle timeout.
func TestSettlePassesAsSoonAsTheLeakEnds(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	base := r.capture()
	r.Park(4)
	r.LeakBodies(2)
	released := make(chan time.Time, 1)
	go func() {
		time.Sleep(500 * time.Millisecond) // the leak lasts half a second
		r.Release()
		r.CloseConns()
		released <- time.Now()
	}()
	start := time.Now()
	r.settle().Should(matchers.ReturnToBaseline(base))
	end := time.Now()
	at := <-released
	r.g.Expect(end).To(BeTemporally(">=", at), "passed while the leak was still there")
	r.g.Expect(end.Sub(start)).To(BeNumerically("<", 5*time.Second))
}

func TestNegatedMessageAndWrongActual(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	base := r.capture()
	m := matchers.ReturnToBaseline(base)
	r.settle().Should(m)
	msg := m.NegatedFailureMessage(nil)
	r.g.Expect(msg).To(ContainSubstring("NOT to be back at its baseline (ReturnToBaseline)"))
	r.g.Expect(msg).To(ContainSubstring("no group over its tolerance"))
	r.g.Expect(msg).To(ContainSubstring("Heap (HeapAlloc after GC)"))

	for _, actual := range []any{"snapshot", nil, (*snapshot.Snapshot)(nil), []*snapshot.Snapshot{base}} {
		_, err := matchers.ReturnToBaseline(base).Match(actual)
		r.g.Expect(err).To(MatchError(ContainSubstring("ReturnToBaseline matcher expects a *snapshot.Snapshot.  Got:\n")))
	}
	_, err := matchers.HaveHeapWithin(nil).Match(base)
	r.g.Expect(err).To(MatchError(ContainSubstring("nil baseline")))
	_, err = matchers.ReturnToBaseline(base, matchers.Ignoring(42)).Match(base)
	r.g.Expect(err).To(MatchError(ContainSubstring("Ignoring expects a string")))
}

func TestLightSnapshotsJudgeGroupsByCulprit(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	base, err := r.client.CaptureLight(ctx)
	r.g.Expect(err).NotTo(HaveOccurred())
	r.Park(3)
	now, err := r.client.CaptureLight(ctx)
	r.g.Expect(err).NotTo(HaveOccurred())
	msg := r.failsWith(matchers.HaveNoExtraGoroutines(base), now, "+3 goroutines [state unknown]: 0 → 3", targetPkg+".ParkedWorker", "light snapshot")
	r.g.Expect(msg).NotTo(ContainSubstring("created by"), "a light snapshot knows no creators")
	r.Release()
	r.g.Eventually(ctx, r.client.CaptureLight).WithTimeout(15 * time.Second).Should(matchers.ReturnToBaseline(base))
}

// TestFullBaselineJudgesLightPolls: a full baseline compares with light
// polls, group by group, as a settle's cheap polls do.
func TestFullBaselineJudgesLightPolls(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	base := r.capture()
	r.Park(2)
	now, err := r.client.CaptureLight(ctx)
	r.g.Expect(err).NotTo(HaveOccurred())
	f, err := matchers.Judge(base, now)
	r.g.Expect(err).NotTo(HaveOccurred())
	r.g.Expect(f.Goroutines.Light).To(BeTrue())
	r.g.Expect(f.Culprits(matchers.Goroutines)).To(ConsistOf(ContainSubstring("+2 goroutines in " + targetPkg + ".ParkedWorker")))
	r.Release()
	r.g.Eventually(ctx, r.client.CaptureLight).WithTimeout(15 * time.Second).Should(matchers.HaveNoExtraGoroutines(base))
}

// TestRulesOnStatesAndCreatorsAgainstLightPolls: a rule on a wait state
// or a creator cannot be applied to a light snapshot, which has neither;
// judging a full baseline against a light poll applies every rule to what
// both sides know, so goroutines left out of one side are not counted as
// grown on the other.
func TestRulesOnStatesAndCreatorsAgainstLightPolls(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.Park(5)
	base := r.capture()
	light, err := r.client.CaptureLight(context.Background())
	r.g.Expect(err).NotTo(HaveOccurred())
	for _, rule := range []matchers.Option{
		matchers.IgnoringTopFunction("runtime.gopark [chan receive]"),
		matchers.IgnoringCreator(targetPkg + ".(*state).park"),
		matchers.IgnoringInBacktrace(targetPkg + ".ParkedWorker"),
	} {
		f, err := matchers.Judge(base, light, rule)
		r.g.Expect(err).NotTo(HaveOccurred())
		r.g.Expect(f.OK(matchers.Goroutines)).To(BeTrue(), "parked goroutines that did not change count as grown:\n%s", f.Message())
	}
	r.Release()
}
