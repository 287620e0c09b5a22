package demoleaks_test

import "github.com/aftershock/aftershock/matchers"

// Any failed checkout: the leaky shop stops the checkout's progress reporter
// only on success, so every failure leaves a reporter ticking forever.
var _ = describeLeak(leakCase{
	leak:    "ticker",
	fault:   "payments answers 503 to 20 checkouts",
	provoke: failedPayments(20, 4),
	check:   matchers.HaveNoExtraGoroutines,
	culprit: []string{culpritLine(fnProgress, "progress.go")},
	grown:   goroutinesGrown(fnProgress),
	min:     20,
})
