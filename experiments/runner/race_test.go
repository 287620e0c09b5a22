//go:build race

package runner_test

// raceEnabled: the race detector instruments every allocation, in this
// test binary (the snapshottest target) and in the services launched from
// it, so heap figures of a few hundred bytes per request are not what the
// service allocates without it.
const raceEnabled = true
