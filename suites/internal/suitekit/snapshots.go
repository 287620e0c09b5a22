package suitekit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"

	"github.com/aftershock/aftershock/snapshot"
)

// quietEvery is how often Baseline samples the goroutine count while it
// waits for the target to be quiet.
const quietEvery = 200 * time.Millisecond

// Snapshots takes the snapshots of one spec (or Ordered container) with
// one snapshot client — the baseline and every later capture must come
// from the same client — and saves them under Dir.
type Snapshots struct {
	Target *Target
	Client *snapshot.Client
	// Dir is where this spec's bundles go.
	Dir string
	// Base is the baseline, once taken.
	Base *snapshot.Snapshot
}

// NewSnapshots opens a snapshot client on the target's pprof endpoint and
// closes it when the spec (or Ordered container) ends.
func NewSnapshots(t *Target) *Snapshots {
	GinkgoHelper()
	h := http.Header{}
	for k, v := range t.Headers {
		h.Set(k, v)
	}
	c, err := snapshot.NewClient(t.Pprof, snapshot.WithHeaders(h))
	Expect(err).NotTo(HaveOccurred(), "snapshot client for %s", t.Pprof)
	DeferCleanup(c.Close)
	return &Snapshots{Target: t, Client: c, Dir: SpecArtifacts()}
}

// SpecArtifacts is a fresh directory name for the current spec's
// artifacts: <artifacts>/<suite>/<spec>-p<process>-<time>. It is created
// when something is saved into it.
func SpecArtifacts() string {
	r := CurrentSpecReport()
	// The outermost container is declared in the suite's own package (the
	// spec itself may come from a shared behaviour of this package).
	file := r.FileName()
	if locs := r.ContainerHierarchyLocations; len(locs) > 0 {
		file = locs[0].FileName
	}
	suite := filepath.Base(filepath.Dir(file))
	name := slug(r.FullText())
	if name == "" {
		name = slug(r.LeafNodeText)
	}
	return filepath.Join(ArtifactsDir(), suite,
		fmt.Sprintf("%s-p%d-%s", name, GinkgoParallelProcess(), time.Now().Format("20060102-150405.000")))
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	s = strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 80 {
		s = strings.TrimRight(s[:80], "-")
	}
	return s
}

// Baseline waits until the target is quiet — its goroutine count held
// still for the target's quiesce window, longer than its idle timers, so
// that a service still winding down does not set a baseline that hides
// leaks of the same kind — for at most the window plus the settle
// deadline (then it goes ahead and says so), takes the baseline, saves it
// and reports it. Pause the load first.
func (s *Snapshots) Baseline(ctx context.Context) *snapshot.Snapshot {
	GinkgoHelper()
	By(fmt.Sprintf("waiting until %s holds still for %s, then taking the baseline", s.Target.URL, s.Target.Quiesce))
	qctx, cancel := context.WithTimeout(ctx, s.Target.Quiesce+s.Target.Settle)
	_, err := s.Client.Quiesce(qctx, s.Target.Quiesce, quietEvery)
	cancel()
	switch {
	case ctx.Err() != nil:
		Fail(fmt.Sprintf("interrupted while waiting for %s to be quiet: %v", s.Target.Name, context.Cause(ctx)))
	case errors.Is(err, snapshot.ErrNotQuiet):
		fmt.Fprintf(GinkgoWriter, "warning: %v; baseline taken anyway\n", err)
	case err != nil:
		Fail(fmt.Sprintf("pprof of %s: %v", s.Target.Name, err))
	}
	base, err := s.Client.Capture(ctx)
	Expect(err).NotTo(HaveOccurred(), "baseline snapshot of %s", s.Target.Name)
	s.Base = base
	path := s.save(base, "baseline")
	sum := base.Summary()
	AddReportEntry("baseline", ReportEntryVisibilityFailureOrVerbose, fmt.Sprintf("%s\n%d goroutines, %d connections, heap %s\nbundle: %s",
		s.Target.Describe(), sum.Goroutines, connCount(sum), bytesString(int64(sum.HeapAlloc)), path))
	return base
}

// Settle polls full snapshots until m matches (the service is back within
// tolerance of the baseline) or the settle deadline passes, which fails
// the spec with m's message: what grew, by how much, where it was created
// and where it is parked. Either way the last snapshot is saved as
// after-<what> and a report entry gives the diff and the bundles' paths.
func (s *Snapshots) Settle(ctx context.Context, what string, m types.GomegaMatcher) *snapshot.Snapshot {
	GinkgoHelper()
	Expect(s.Base).NotTo(BeNil(), "Settle before Baseline")
	By(fmt.Sprintf("settling: %s within %s", what, s.Target.Settle))
	var last *snapshot.Snapshot
	capture := func(ctx context.Context) (*snapshot.Snapshot, error) {
		snap, err := s.Client.Capture(ctx)
		if err == nil {
			last = snap
		}
		return snap, err
	}
	start := time.Now()
	// Deferred, so that the report is there when Eventually fails too.
	defer func() { s.reportSettle(what, last, time.Since(start)) }()
	Eventually(ctx, capture).WithTimeout(s.Target.Settle).WithPolling(500*time.Millisecond).Should(m,
		"%s: %s did not return to its baseline within %s", s.Target.Name, what, s.Target.Settle)
	return last
}

func (s *Snapshots) reportSettle(what string, last *snapshot.Snapshot, took time.Duration) {
	if last == nil {
		AddReportEntry("settle: "+what, ReportEntryVisibilityFailureOrVerbose, "no snapshot could be taken")
		return
	}
	phase := "after-" + slug(what)
	path := s.save(last, phase)
	text := fmt.Sprintf("%s\nafter %s:\n", s.Target.Describe(), took.Round(time.Millisecond))
	if d, err := last.Diff(s.Base); err == nil {
		text += FormatDiff(d)
	} else {
		text += "diff: " + err.Error() + "\n"
	}
	text += "bundles: " + filepath.Join(s.Dir, "baseline.*") + "  " + path + "\n"
	text += "open with: go tool pprof -diff_base " + filepath.Join(s.Dir, "baseline.heap.pb.gz") + " " +
		filepath.Join(s.Dir, phase+".heap.pb.gz")
	AddReportEntry("settle: "+what, ReportEntryVisibilityFailureOrVerbose, text)
}

// save writes a bundle and returns its path pattern; a failure to save is
// reported, not fatal: the verdict does not depend on it.
func (s *Snapshots) save(snap *snapshot.Snapshot, phase string) string {
	if err := snap.Save(s.Dir, phase); err != nil {
		fmt.Fprintf(GinkgoWriter, "warning: saving the %s bundle: %v\n", phase, err)
		return "(not saved: " + err.Error() + ")"
	}
	return filepath.Join(s.Dir, phase+".*")
}

// FormatDiff prints a diff as report entries show it: totals, then every
// goroutine group and connection class that grew, and the heap.
func FormatDiff(d *snapshot.Diff) string {
	var b strings.Builder
	fmt.Fprintf(&b, "goroutines %d → %d\n", d.GoroutinesBefore, d.GoroutinesAfter)
	for _, g := range d.Groups {
		fmt.Fprintf(&b, "  +%d %s [%s] (%d → %d), created by %s\n", g.Extra(), g.Culprit.Function, g.State, g.Before, g.Count, g.Creator.Function)
	}
	for _, c := range d.Connections {
		fmt.Fprintf(&b, "connections %s +%d (%d → %d)\n", c.Class, c.Extra(), c.Before, c.After)
	}
	fmt.Fprintf(&b, "heap %s → %s (%+d B)\n", bytesString(int64(d.HeapBefore)), bytesString(int64(d.HeapAfter)), d.HeapGrowth())
	for i, h := range d.HeapSites {
		if i == 3 || h.InuseBytes <= 0 {
			break
		}
		fmt.Fprintf(&b, "  %s %s\n", bytesString(h.InuseBytes), h.Site.Function)
	}
	return b.String()
}

func connCount(s *snapshot.Summary) int {
	n := 0
	for _, c := range s.Connections {
		n += c.Count
	}
	return n
}

func bytesString(n int64) string {
	abs := max(n, -n)
	switch {
	case abs >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case abs >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
