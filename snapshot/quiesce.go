package snapshot

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotQuiet is returned by Quiesce when ctx ended while the target's
// goroutine count was still changing.
var ErrNotQuiet = errors.New("goroutine count still changing")

// Quiesce polls the goroutine profile until the target's goroutine count
// has held still for window, and returns the last snapshot (light, without
// MemStats). Polls are `every` apart, or further when the target is large
// enough that each costs it more than DefaultBudget of a core (see Pace),
// but at most window apart; they force no GC. A
// baseline taken while a service still winds down (workers idling out,
// pooled connections closing, requests finishing) would hide leaks of the
// same kind, so take the baseline after Quiesce.
//
// The window must be longer than the target's longest idle timer: a pool
// of idle workers holds its count still until the timer fires. When ctx
// ends first, Quiesce returns the last snapshot and an error wrapping
// ErrNotQuiet (or the capture's error).
func (c *Client) Quiesce(ctx context.Context, window, every time.Duration) (*Snapshot, error) {
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	var last *Snapshot
	count, since := -1, time.Now()
	for {
		s, err := c.CaptureCount(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return last, fmt.Errorf("quiesce %s: %w: %w", c.BaseURL(), ErrNotQuiet, ctx.Err())
		case err != nil:
			return last, fmt.Errorf("quiesce: %w", err)
		}
		last = s
		if n := s.Summary().Goroutines; n != count {
			count, since = n, time.Now()
		} else if time.Since(since) >= window {
			return s, nil
		}
		// Paced by cost, but never further apart than the window: a
		// count read once and not again before ctx ends confirms
		// nothing (a capture slowed by a busy machine would otherwise
		// space the polls past the deadline and report a quiet target as
		// still changing). Quiesce lasts a few windows; at 100,000
		// goroutines a count costs the target about 5% of a core then.
		t := time.NewTimer(min(Pace(s.Cost, every, DefaultBudget), max(window, every)))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return last, fmt.Errorf("quiesce %s: %w after %v (now %d goroutines): %w",
				c.BaseURL(), ErrNotQuiet, time.Since(since).Round(time.Millisecond), count, ctx.Err())
		}
	}
}
