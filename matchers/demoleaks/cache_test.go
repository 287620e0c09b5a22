package demoleaks_test

import "github.com/aftershock/aftershock/matchers"

// Failed payments are kept for retry, 48 KiB each: the leaky shop's map only
// grows; the fixed one is bounded and emptied by the next success. 128
// failures (6 MiB) are well over the heap tolerance (1 MiB) and leave the
// sampled heap profile (one sample per 512 KiB on average) no real chance
// to miss the allocation site.
var _ = describeLeak(leakCase{
	leak:    "cache",
	fault:   "payments answers 503 to 128 checkouts",
	provoke: failedPayments(128, 8),
	check:   matchers.HaveHeapWithin,
	culprit: []string{heapSiteLine(fnRetryAdd, "retrycache.go")},
	grown:   heapGrown,
	min:     4 << 20,
})
