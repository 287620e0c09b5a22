package proxy

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Slicer works like Toxiproxy's slicer toxic: every chunk of its direction
// is sent as slices of AverageSize ± SizeVariation bytes (uniform), with
// Delay between slices, so that a reader sees many small reads instead of
// one. Bytes keep their order and none is lost. With several slicers on a
// direction the smallest average wins.
type Slicer struct {
	Direction     Direction
	AverageSize   int
	SizeVariation int
	Delay         time.Duration
}

// Validate checks that the sizes make sense and the delay is not negative.
func (f Slicer) Validate() error {
	switch {
	case f.AverageSize <= 0:
		return fmt.Errorf("slicer: average size %d is not positive", f.AverageSize)
	case f.SizeVariation < 0 || f.SizeVariation >= f.AverageSize:
		return fmt.Errorf("slicer: size variation %d must be at least 0 and below the average size %d", f.SizeVariation, f.AverageSize)
	case f.Delay < 0:
		return fmt.Errorf("slicer: delay %v is negative", f.Delay)
	}
	return f.Direction.validate()
}

func (f Slicer) String() string {
	return fmt.Sprintf("slicer %d±%d B every %v %v", f.AverageSize, f.SizeVariation, f.Delay, f.Direction)
}

func (f Slicer) shape(pl *plan, d Direction, _ time.Time, _ uint64) {
	if f.Direction.covers(d) && (pl.slice.AverageSize == 0 || f.AverageSize < pl.slice.AverageSize) {
		pl.slice = f
	}
}

// next is the size of the next slice of a chunk with n bytes left.
func (f Slicer) next(n int) int {
	size := f.AverageSize
	if f.SizeVariation > 0 {
		size += rand.IntN(2*f.SizeVariation+1) - f.SizeVariation
	}
	return min(size, n)
}
