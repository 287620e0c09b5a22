//go:build !race

package stall

const raceEnabled = false
