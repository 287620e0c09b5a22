// Package suitekit is what the Ginkgo suites under suites/ share: which
// service they drill (the target), and the few steps every spec repeats —
// a fault proxy in front of an upstream, steady load, a quiet baseline, the
// settle against it, and report entries with the diff and the saved pprof
// bundles. Every acquire registers its release with DeferCleanup, so a spec
// that fails or times out leaves no proxy, fault, load or process behind.
//
// # Target selection
//
// By default the suites build the demo shop (fixtures/cmd/shop) once per
// suite and start the demo stack (fixtures/stack) in every Ginkgo process,
// with every fix on: everything passes.
//
//	AFTERSHOCK_TARGET=env.yaml        or  -- --target=env.yaml
//
// points them at a running service instead. The env file holds the target
// and upstreams blocks of a Drill's spec at its top level, with the same
// fields, checked as strictly as a Drill file (errors cite file:line:col);
// load (the request mix of the steady load), verify (tolerances, settle,
// SLO bounds) and allowHosts may be given as well. See LoadEnv.
//
//	AFTERSHOCK_DEMO_LEAKS=body,ticker  or  -- --demo-leaks=body,ticker
//
// starts the demo with those leaks on and their fixes off (and the fixes
// that would hide them: timeouts hides body and context, the breaker hides
// cache);
// the suites then fail, each failure naming its culprit.
// AFTERSHOCK_DEMO_FIXES overrides the fixes outright.
//
// # Artifacts
//
// Snapshot bundles (files `go tool pprof` opens) and drill journals go
// under AFTERSHOCK_ARTIFACTS (or -- --artifacts=DIR), default
// $TMPDIR/aftershock-suites; report entries give their paths.
package suitekit
