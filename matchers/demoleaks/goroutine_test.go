package demoleaks_test

import (
	"context"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/matchers"
)

// A slow upstream: the checkout gives up after --give-up; the payment
// finishes later and, in the leaky shop, blocks forever sending its result
// on an unbuffered channel nobody reads any more. The fixed one's buffer of
// one takes it.
var _ = describeLeak(leakCase{
	leak:  "goroutine",
	fault: "payments answers after 900ms, the shop gives up after 400ms, 10 concurrent checkouts",
	args:  []string{"--give-up=400ms"},
	provoke: func(ctx context.Context, r *rig) {
		GinkgoHelper()
		r.up.SetLatency(900 * time.Millisecond)
		expectCheckouts(ctx, r.shop.URL, 10, 10, http.StatusGatewayTimeout)
	},
	check: matchers.HaveNoExtraGoroutines,
	culprit: []string{
		`goroutines \[chan send\]: \d+ → \d+ \(tolerance \+0\)\n\s+` + culpritLine(fnPaySend, "checkout.go"),
	},
	grown: goroutinesGrown(fnPaySend),
	min:   10,
})
