//go:build race

package stall

// raceEnabled: the race detector enlarges stacks and heap, so memory
// figures are logged but not held to the bound.
const raceEnabled = true
