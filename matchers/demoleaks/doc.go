// Package demoleaks holds the Ginkgo suite that proves aftershock's
// snapshot engine and matchers against the real demo shop (fixtures/shop): for every
// leak switch, the baseline check fails after the leak's fault clears and
// names the culprit; with the leak's own fix on, the same scenario returns to
// its baseline. It also shows that a healthy service whose background work
// winds down slowly is waited out, not reported, and that a baseline is only
// trusted once the service has quiesced.
//
// The faults are driven through the payments upstream fixture's own controls
// (fixtures/upstream), not through a fault proxy: the suite checks the
// verification engine, not the injectors. That is why it lives beside the
// matchers and not under suites/, which drill a target the way a staging
// pipeline does: `go test ./...` runs it, `go tool ginkgo ./suites/...`
// does not.
//
//	go tool ginkgo -r ./matchers/demoleaks
//	go tool ginkgo -r --label-filter=body ./matchers/demoleaks
package demoleaks
