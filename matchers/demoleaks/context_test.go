package demoleaks_test

import (
	"context"
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/matchers"
)

// A hung upstream: the leaky shop's payment calls have no deadline, so each
// stays pinned in postPayment (under callPayments' goroutine) after the
// checkout gave up, and stays so once the upstream is healthy again (a hung
// request stays hung). The fixed one's deadline (--upstream-timeout, shorter
// than --give-up here) ends each call.
var _ = describeLeak(leakCase{
	leak:  "context",
	fault: "payments hangs for 10 concurrent checkouts",
	args:  []string{"--give-up=700ms", "--upstream-timeout=400ms"},
	provoke: func(ctx context.Context, r *rig) {
		GinkgoHelper()
		hung := r.up.Stats().Hung
		r.up.SetHang(true)
		// 504 when the checkout gave up first (leaky), 502 when the
		// payment's deadline ended it first (fixed).
		expectCheckouts(ctx, r.shop.URL, 10, 10, http.StatusGatewayTimeout, http.StatusBadGateway)
		Expect(r.up.Stats().Hung-hung).To(BeEquivalentTo(10), "payments that hung")
	},
	check: matchers.HaveNoExtraGoroutines,
	culprit: []string{
		culpritLine(fnPostPayment, "payments.go") + `(?s:.*)` + `callPayments\.func1`,
	},
	grown: goroutinesGrown(fnPostPayment),
	min:   10,
})
