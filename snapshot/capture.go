package snapshot

import (
	"bytes"
	"context"
	"fmt"
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
	// Light tells a CaptureLight snapshot: no Dump, no Goroutines, no
	// HeapProfile; counts and connection classes come from the goroutine
	// profile.
	Light bool
	// Dump is the raw goroutine?debug=2 text, as the target wrote it.
	Dump string
	// Goroutines are the parsed goroutines of Dump, without the goroutine
	// that served the capture's own request.
	Goroutines []Goroutine
	// GoroutineProfile is the goroutine profile (protobuf).
	GoroutineProfile *profile.Profile
	// HeapProfile is the heap profile (protobuf) taken after a forced GC.
	HeapProfile *profile.Profile
	// MemStats are the runtime's figures, read after a forced GC.
	MemStats MemStats

	once    sync.Once
	summary *Summary
}

// Capture takes a full snapshot: goroutine?debug=2 (every goroutine with
// state, wait time, frames and creator), the goroutine profile, the heap
// profile after a forced GC (heap?gc=1), and the MemStats figures
// (heap?debug=1&gc=1).
//
// Mind the cost on the target: writing the debug=2 dump stops the target's
// world for its whole length, about 1.6 s for 100,000 goroutines on a
// 2-core machine, against about 0.15 s for the goroutine protobuf that
// CaptureLight reads. Take full snapshots where per-goroutine detail is
// needed (the baseline and the verdict) and sample timelines with
// CaptureLight.
func (c *Client) Capture(ctx context.Context) (*Snapshot, error) {
	s := &Snapshot{URL: c.BaseURL(), Time: time.Now()}

	dump, err := c.get(ctx, "goroutine?debug=2")
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

	if s.GoroutineProfile, err = c.profile(ctx, "goroutine"); err != nil {
		return nil, err
	}
	if s.MemStats, err = c.memStats(ctx); err != nil {
		return nil, err
	}
	if s.HeapProfile, err = c.profile(ctx, "heap?gc=1"); err != nil {
		return nil, err
	}
	return s, nil
}

// CaptureLight takes a cheap snapshot for timelines: the goroutine profile
// (protobuf; goroutine count and connection classes) and the MemStats
// figures after a forced GC. It skips the debug=2 dump, which stops the
// target's world about ten times longer.
func (c *Client) CaptureLight(ctx context.Context) (*Snapshot, error) {
	s := &Snapshot{URL: c.BaseURL(), Time: time.Now(), Light: true}
	var err error
	if s.GoroutineProfile, err = c.profile(ctx, "goroutine"); err != nil {
		return nil, err
	}
	if s.MemStats, err = c.memStats(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (c *Client) profile(ctx context.Context, path string) (*profile.Profile, error) {
	body, err := c.get(ctx, path)
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

func (c *Client) memStats(ctx context.Context) (MemStats, error) {
	body, err := c.get(ctx, "heap?debug=1&gc=1")
	if err != nil {
		return MemStats{}, fmt.Errorf("capture memstats: %w", err)
	}
	m, err := ParseMemStats(body)
	if err != nil {
		return MemStats{}, fmt.Errorf("capture memstats from %s: %w", c.BaseURL(), err)
	}
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
