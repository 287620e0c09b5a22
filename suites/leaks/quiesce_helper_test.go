package leaks_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aftershock/aftershock/snapshot"
)

// quiesce polls light snapshots every `every` until the goroutine count has
// been the same in polls snapshots in a row, and returns the last one. It
// ends early, with an error, when ctx ends or a capture fails.
//
// A count that holds still only over a short window proves little: a
// service whose background work idles out after a timer (workers, pooled
// connections) keeps a constant count until the timer fires. The window,
// (polls-1) × every, must be longer than the longest such idle timer of the
// target, or quiesce returns mid-wind-down (the quiesce spec shows both).
//
// It is the local copy of a helper proposed for the snapshot package,
// (*snapshot.Client).Quiesce; experiments' drill runner has another one.
func quiesce(ctx context.Context, c *snapshot.Client, polls int, every time.Duration) (*snapshot.Snapshot, error) {
	if polls < 2 {
		return nil, fmt.Errorf("quiesce: want at least 2 polls, got %d", polls)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	last, same := -1, 0
	for {
		s, err := c.CaptureLight(ctx)
		if err != nil {
			return nil, fmt.Errorf("quiesce %s: %w", c.BaseURL(), err)
		}
		if n := s.Summary().Goroutines; n == last {
			same++
		} else {
			last, same = n, 1
		}
		if same >= polls {
			return s, nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("quiesce %s: goroutine count still changing (last %d, stable for %d of %d polls): %w",
				c.BaseURL(), last, same, polls, context.Cause(ctx))
		}
	}
}
