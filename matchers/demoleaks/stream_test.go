package demoleaks_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"

	"github.com/aftershock/aftershock/matchers"
)

// Shoppers who hang up mid-stream: the leaky shop's producer blocks on its
// next send forever once the handler stops receiving; the fixed one selects
// on the request's context. The fault is in the traffic, not upstream.
var _ = describeLeak(leakCase{
	leak:  "stream",
	fault: "10 clients read one chunk of a 500-chunk /stream and hang up",
	provoke: func(ctx context.Context, r *rig) {
		GinkgoHelper()
		abandonStreams(ctx, r.shop.URL, 10)
	},
	check:   matchers.HaveNoExtraGoroutines,
	culprit: []string{culpritLine(fnProduceStream, "stream.go")},
	grown:   goroutinesGrown(fnProduceStream),
	min:     10,
})
