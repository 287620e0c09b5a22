package demoleaks_test

import (
	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// A 503 storm: the leaky shop returns without closing the 503 bodies, so
// every payments connection stays checked out, its readLoop waiting for the
// body forever. The fixed one drains and closes them; the connections go
// back to the pool and idle out.
var _ = describeLeak(leakCase{
	leak:    "body",
	fault:   "payments answers 503 to 20 checkouts",
	provoke: failedPayments(20, 4),
	check:   matchers.HaveNoExtraConnections,
	culprit: []string{connLine(snapshot.HTTPClientBodyPending)},
	grown:   connsGrown(snapshot.HTTPClientBodyPending),
	min:     20,
})
