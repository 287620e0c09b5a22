package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/pprof/profile"
	"github.com/onsi/gomega/gleak/goroutine"
)

// Snapshot is one capture of a target's goroutines, connections and heap.
type Snapshot struct {
	// URL is the pprof base URL it was taken from ("" when loaded from files
	// that do not say).
	URL string
	// Time is when the capture started.
	Time time.Time
	// Light tells a snapshot without the debug=2 dump (CaptureLight): no
	// Goroutines, no creators and wait states; counts, groups (by culprit
	// and connection) and connection classes come from the goroutine
	// profile.
	Light bool
	// Collected tells that MemStats and HeapProfile were read right after a
	// GC the capture forced (Capture): HeapAlloc is then the live heap,
	// exactly. Otherwise HeapAlloc also counts garbage not yet collected,
	// an upper bound of the live heap.
	Collected bool
	// Dump is the raw goroutine?debug=2 text, as the target wrote it.
	Dump string
	// Goroutines are the parsed goroutines of Dump, without the goroutine
	// that served the capture's own request.
	Goroutines []Goroutine
	// GoroutineProfile is the goroutine profile (protobuf).
	GoroutineProfile *profile.Profile
	// HeapProfile is the heap profile (protobuf) as of the GC the capture
	// forced; nil unless Collected.
	HeapProfile *profile.Profile
	// MemStats are the runtime's figures (nil-valued when not read).
	MemStats MemStats
	// Cost is how long the target took to answer the capture's requests
	// (each from sending it to having its body, not parsing it here): the
	// measure polls are paced by.
	Cost time.Duration

	mu      sync.Mutex
	summary *Summary // of the figures as they were when it was computed
	sumOf   bool     // Collected when summary was computed

	codeOnce sync.Once
	code     *Code
}

// Capture takes a full snapshot: goroutine?debug=2 (every goroutine with
// state, wait time, frames and creator), the goroutine profile, the
// MemStats figures after one forced GC (heap?debug=1&gc=1) and the heap
// profile as of that GC.
//
// Mind the cost on the target. Writing the debug=2 dump stops the
// target's world for its whole length, about 1.6 s for 100,000 goroutines
// on a 2-core machine, against about 0.15 s for the goroutine protobuf
// that CaptureLight reads; and the forced GC costs what a collection of the
// whole live heap costs. Take full snapshots for the baseline and the heap
// verdict only, CaptureGoroutines where per-goroutine detail is needed
// without the heap, and poll with CaptureLight.
func (c *Client) Capture(ctx context.Context) (*Snapshot, error) {
	s, err := c.captureGoroutines(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.collectHeap(ctx, s); err != nil {
		return nil, err
	}
	c.done(s, "full", s.Cost, true)
	return s, nil
}

// CaptureGoroutines takes the goroutine?debug=2 dump, the goroutine
// profile and the MemStats figures, forcing no GC: everything a verdict on
// goroutines and connections needs, and an upper bound of the heap.
func (c *Client) CaptureGoroutines(ctx context.Context) (*Snapshot, error) {
	s, err := c.captureGoroutines(ctx)
	if err != nil {
		return nil, err
	}
	if s.MemStats, err = c.memStats(ctx, false, &s.Cost); err != nil {
		return nil, err
	}
	c.done(s, "goroutines", s.Cost, false)
	return s, nil
}

func (c *Client) captureGoroutines(ctx context.Context) (*Snapshot, error) {
	s := &Snapshot{URL: c.BaseURL(), Time: time.Now()}
	dump, err := c.timedGet(ctx, "goroutine?debug=2", &s.Cost)
	if err != nil {
		return nil, fmt.Errorf("capture goroutines: %w", err)
	}
	if !bytes.HasPrefix(dump, []byte(headerPrefix)) {
		return nil, fmt.Errorf("capture goroutines: %s/goroutine?debug=2 does not start with a goroutine header: %q",
			c.BaseURL(), truncate(string(dump[:min(len(dump), 80)]), 80))
	}
	// The buffer is ours alone and never written again: view, not copy.
	s.Dump = bytesString(dump)
	all, err := ParseGoroutines(s.Dump)
	if err != nil {
		return nil, fmt.Errorf("capture goroutines from %s: %w", c.BaseURL(), err)
	}
	s.Goroutines = withoutSelf(all)
	if s.GoroutineProfile, err = c.profile(ctx, "goroutine", &s.Cost); err != nil {
		return nil, err
	}
	return s, nil
}

// CollectHeap forces one GC on the target and completes s with the
// MemStats figures read right after it and the heap profile as of it (the
// heap profile always reports the last completed GC, so it needs no
// second one). s is then Collected.
func (c *Client) CollectHeap(ctx context.Context, s *Snapshot) error {
	before := s.Cost
	err := c.collectHeap(ctx, s)
	if err == nil {
		c.done(s, "heap", s.Cost-before, true)
	}
	return err
}

// Redrained takes ms as s's heap figures: MemStats read after a GC forced
// since s's own heap reading (ReadMemStats after CaptureLeaked), which
// make s a reading after two GCs, drained of the pools' victim caches.
// The heap profile stays s's.
func (s *Snapshot) Redrained(ms MemStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.MemStats, s.Collected = ms, true
	s.summary = nil
}

// collectHeap completes s only when both figures were read: a failure
// leaves s as it was.
func (c *Client) collectHeap(ctx context.Context, s *Snapshot) error {
	ms, err := c.memStats(ctx, true, &s.Cost)
	if err != nil {
		return err
	}
	hp, err := c.profile(ctx, "heap", &s.Cost)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.MemStats, s.HeapProfile, s.Collected = ms, hp, true
	s.summary = nil // of the figures before: read again (a second GC drains pools)
	s.mu.Unlock()
	return nil
}

// CaptureLight takes a cheap snapshot for polls and timelines: the
// goroutine profile (protobuf: goroutine count, groups by culprit,
// connection classes) and the MemStats figures, forcing no GC. It skips
// the debug=2 dump, which stops the target's world about ten times
// longer.
func (c *Client) CaptureLight(ctx context.Context) (*Snapshot, error) {
	s, err := c.captureCount(ctx)
	if err != nil {
		return nil, err
	}
	if s.MemStats, err = c.memStats(ctx, false, &s.Cost); err != nil {
		return nil, err
	}
	c.done(s, "light", s.Cost, false)
	return s, nil
}

// CaptureCount takes the goroutine profile alone: the least a poll that
// waits for the goroutine count to settle can ask of the target.
func (c *Client) CaptureCount(ctx context.Context) (*Snapshot, error) {
	s, err := c.captureCount(ctx)
	if err == nil {
		c.done(s, "count", s.Cost, false)
	}
	return s, err
}

func (c *Client) captureCount(ctx context.Context) (*Snapshot, error) {
	s := &Snapshot{URL: c.BaseURL(), Time: time.Now(), Light: true}
	var err error
	if s.GoroutineProfile, err = c.profile(ctx, "goroutine", &s.Cost); err != nil {
		return nil, err
	}
	return s, nil
}

// ErrNoLeakProfile is returned by CaptureLeaked when the target does not
// serve the goroutineleak profile: it was built without
// GOEXPERIMENT=goroutineleakprofile (Go 1.26; generally available from Go
// 1.27), or its pprof handler does not know the profile.
var ErrNoLeakProfile = errors.New("the target serves no goroutineleak profile (build it with GOEXPERIMENT=goroutineleakprofile, Go 1.26+)")

// CaptureLeaked asks the target's runtime which goroutines are leaked:
// the goroutineleak profile runs a GC that finds the goroutines blocked on
// a channel or sync object that no running goroutine can reach, and lists
// them. Such a goroutine can never run again, so it is a leak proved, not
// suspected. The runtime misses goroutines blocked on network I/O,
// sleeping, or waiting on something still reachable: its silence proves
// nothing.
//
// The snapshot it returns is light and holds only the leaked goroutines
// (in GoroutineProfile; Summary groups them by culprit). It is tallied as
// "leaked" with a forced GC, and not shown to the observer: it is not a
// picture of the target's resources. Its GC is a full one: MemStats read
// right after it (ReadMemStats) are figures after a GC.
func (c *Client) CaptureLeaked(ctx context.Context) (*Snapshot, error) {
	s := &Snapshot{URL: c.BaseURL(), Time: time.Now(), Light: true}
	var err error
	s.GoroutineProfile, err = c.profile(ctx, "goroutineleak", &s.Cost)
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.Code == http.StatusNotFound {
			return nil, fmt.Errorf("%s: %w", c.BaseURL(), ErrNoLeakProfile)
		}
		return nil, err
	}
	c.tally.add("leaked", s.Cost, true)
	return s, nil
}

// CheckHeapProfile fetches the heap profile (forcing no GC) and checks
// that it parses: a preflight for targets that serve goroutines but not
// the heap.
func (c *Client) CheckHeapProfile(ctx context.Context) error {
	var cost time.Duration
	_, err := c.profile(ctx, "heap", &cost)
	return err
}

func (c *Client) profile(ctx context.Context, path string, cost *time.Duration) (*profile.Profile, error) {
	body, err := c.timedGet(ctx, path, cost)
	if err != nil {
		return nil, fmt.Errorf("capture %s profile: %w", path, err)
	}
	p, err := profile.ParseData(body)
	if err != nil {
		return nil, fmt.Errorf("capture %s profile: parse %s/%s (%d bytes, truncated or not a profile?): %w",
			path, c.BaseURL(), path, len(body), err)
	}
	return p, nil
}

// ReadMemStats reads the target's MemStats figures (heap?debug=1),
// forcing no GC: right after a GC forced otherwise (CaptureLeaked's), they
// are that GC's figures, plus what the target allocated since.
func (c *Client) ReadMemStats(ctx context.Context) (MemStats, error) {
	var cost time.Duration
	m, err := c.memStats(ctx, false, &cost)
	if err == nil {
		c.tally.add("memstats", cost, false)
	}
	return m, err
}

func (c *Client) memStats(ctx context.Context, gc bool, cost *time.Duration) (MemStats, error) {
	path := "heap?debug=1"
	if gc {
		path += "&gc=1"
	}
	body, seq, err := c.timedGetSeq(ctx, path, cost)
	if err != nil {
		return MemStats{}, fmt.Errorf("capture memstats: %w", err)
	}
	m, err := ParseMemStats(body)
	if err != nil {
		return MemStats{}, fmt.Errorf("capture memstats from %s: %w", c.BaseURL(), err)
	}
	m.seq = seq
	return m, nil
}

// Close closes the client's connection to the target.
func (c *Client) Close() {
	if c.ownHTTP {
		c.http.CloseIdleConnections()
	}
}

// withoutSelf drops the goroutines serving a pprof request (the capture's
// own) and the ones they started (net/http's background read of that
// connection).
func withoutSelf(gs []Goroutine) []Goroutine {
	self := map[uint64]bool{}
	for i := range gs {
		if isSelf(gs[i].Frames) {
			self[gs[i].ID] = true
		}
	}
	if len(self) == 0 {
		return gs
	}
	out := gs[:0]
	for i := range gs {
		if !self[gs[i].ID] && !self[gs[i].CreatorID] {
			out = append(out, gs[i])
		}
	}
	return out
}

// GleakGoroutines converts the snapshot's goroutines to gomega's gleak form,
// so that gleak's HaveLeaked and its Ignoring* filters judge a remote
// service:
//
//	Expect(snap.GleakGoroutines()).NotTo(gleak.HaveLeaked(base.GleakGoroutines()))
//
// Mind that HaveLeaked always drops the goroutine whose ID is that of the
// local goroutine calling it; a remote goroutine with the same ID is
// skipped with it. The matchers package has no such blind spot.
func (s *Snapshot) GleakGoroutines() []goroutine.Goroutine {
	out := make([]goroutine.Goroutine, len(s.Goroutines))
	for i := range s.Goroutines {
		out[i] = s.Goroutines[i].Gleak()
	}
	return out
}
