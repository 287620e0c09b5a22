package proxy

import "fmt"

// Direction selects which bytes a fault acts on, read as Chaos Mesh's
// NetworkChaos direction with the upstream as the selected side.
type Direction int

const (
	// To is the bytes from the upstream to the service (the default).
	To Direction = iota
	// From is the bytes from the service to the upstream.
	From
	// Both is both directions.
	Both
)

// ParseDirection reads "to", "from" or "both"; "" means [To].
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "", "to":
		return To, nil
	case "from":
		return From, nil
	case "both":
		return Both, nil
	}
	return 0, fmt.Errorf("unknown direction %q (allowed: to, from, both)", s)
}

// String returns "to", "from" or "both".
func (d Direction) String() string {
	switch d {
	case To:
		return "to"
	case From:
		return "from"
	case Both:
		return "both"
	}
	return fmt.Sprintf("direction(%d)", int(d))
}

// validate reports a direction that is none of the three.
func (d Direction) validate() error {
	if d < To || d > Both {
		return fmt.Errorf("invalid direction %d (allowed: to, from, both)", int(d))
	}
	return nil
}

// covers reports whether d includes the single direction x (To or From).
func (d Direction) covers(x Direction) bool { return d == Both || d == x }

// other returns the opposite single direction.
func (d Direction) other() Direction { return 1 - d }
