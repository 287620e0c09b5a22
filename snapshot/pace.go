package snapshot

import "time"

// DefaultBudget is the share of one core that polling may cost the target:
// 1 %.
const DefaultBudget = 0.01

// Pace is how long to wait after a capture that took cost before the next
// one, so that polling costs the target at most budget of one core: the
// capture's wall time stands for its cost on the target (it bounds the
// time the target spent writing the profile, stopped world included), and
// the wait is cost/budget, never less than floor. A 2 ms goroutine profile
// may then be polled every 200 ms, a 1.6 s debug=2 dump of 100,000
// goroutines once in 160 s.
//
// Every poll of a target (the quiesce before a baseline, the settle
// before a verdict, the timeline samples) is paced by this one rule.
func Pace(cost, floor time.Duration, budget float64) time.Duration {
	if budget <= 0 || budget > 1 {
		budget = DefaultBudget
	}
	return max(floor, time.Duration(float64(cost)/budget))
}
