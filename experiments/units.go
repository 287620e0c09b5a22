package experiments

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aftershock/aftershock/matchers"
)

// Duration is a non-negative time.Duration written as Go and Chaos Mesh
// write durations: "500ms", "1m30s". A bare number is refused, so "5" can
// never silently mean five nanoseconds.
type Duration struct {
	time.Duration
}

// D returns a Duration of d.
func D(d time.Duration) Duration { return Duration{d} }

// ParseDuration parses a non-negative duration such as "500ms" or "2m".
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Duration{}, errors.New(`empty duration; write e.g. "500ms", "5s", "1m"`)
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil && s != "0" {
		return Duration{}, fmt.Errorf("duration %q has no unit; write e.g. %q", s, s+"s")
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return Duration{}, fmt.Errorf(`bad duration %q; write e.g. "500ms", "5s", "1m"`, s)
	}
	if d < 0 {
		return Duration{}, fmt.Errorf("duration %q is negative", s)
	}
	return Duration{d}, nil
}

// String prints the duration as time.Duration does ("1m30s").
func (d Duration) String() string { return d.Duration.String() }

// IsZero reports whether the duration is zero; `omitzero` uses it.
func (d Duration) IsZero() bool { return d.Duration == 0 }

// MarshalText writes the duration in the form ParseDuration reads.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a duration written as ParseDuration expects.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// UnmarshalJSON reads a JSON string duration; numbers are refused because
// their unit would be a guess.
func (d *Duration) UnmarshalJSON(b []byte) error {
	return unmarshalJSONText(b, d.UnmarshalText, "duration")
}

// Size is a byte count written with a unit: "512B", "64KiB", "1MiB", "1.5GB".
// IEC units (KiB, MiB, GiB, TiB; Kubernetes' Ki, Mi, Gi, Ti) are powers of
// 1024, SI units (kB/KB, MB, GB, TB) powers of 1000. A bare integer is bytes.
type Size struct {
	Bytes int64
}

var sizeUnits = []struct {
	suffix string
	factor float64
}{
	// Longest suffixes first so "MiB" is not read as "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
	{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// sizeAllowed is the hint printed with a bad size.
const sizeAllowed = `a number with a unit: B, KiB, MiB, GiB, TiB (1024-based) or kB, MB, GB, TB (1000-based), e.g. "1MiB"`

// ParseSize parses a size such as "1MiB" or "512KiB".
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	num, factor := s, 1.0
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, factor = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.factor
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" || strings.ContainsAny(num, "eEnNxXpP_+") {
		return Size{}, fmt.Errorf("bad size %q; want %s", s, sizeAllowed)
	}
	if f < 0 {
		return Size{}, fmt.Errorf("size %q is negative", s)
	}
	b := f * factor
	if b > math.MaxInt64/2 {
		return Size{}, fmt.Errorf("size %q is too large", s)
	}
	if factor == 1 && b != math.Trunc(b) {
		return Size{}, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	return Size{Bytes: int64(math.Round(b))}, nil
}

// String prints the size with the largest IEC unit that divides it exactly.
func (s Size) String() string {
	for _, u := range []struct {
		name string
		n    int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if s.Bytes != 0 && s.Bytes%u.n == 0 {
			return strconv.FormatInt(s.Bytes/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(s.Bytes, 10) + "B"
}

// IsZero reports whether the size is zero bytes.
func (s Size) IsZero() bool { return s.Bytes == 0 }

// MarshalText writes the size in the form ParseSize reads.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a size written as ParseSize expects.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// UnmarshalJSON reads a size from a JSON string, or a JSON integer of bytes.
func (s *Size) UnmarshalJSON(b []byte) error {
	return unmarshalJSONText(b, s.UnmarshalText, "size")
}

// Percent is a percentage written with its sign: "99%", "0.5%". The sign is
// required so that 0.99 and 99 cannot be confused. Values lie in [0, 100].
type Percent struct {
	Value float64
}

// ParsePercent parses a percentage such as "99.9%".
func ParsePercent(s string) (Percent, error) {
	s = strings.TrimSpace(s)
	num, ok := strings.CutSuffix(s, "%")
	if !ok {
		return Percent{}, fmt.Errorf(`bad percentage %q; write it with a %% sign, e.g. "99%%"`, s)
	}
	num = strings.TrimSpace(num)
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || strings.ContainsAny(num, "eEnNxXpP_+") {
		return Percent{}, fmt.Errorf(`bad percentage %q; write a number followed by %%, e.g. "99%%"`, s)
	}
	if f < 0 || f > 100 {
		return Percent{}, fmt.Errorf("percentage %q is outside 0%%..100%%", s)
	}
	return Percent{Value: f}, nil
}

// Fraction returns the percentage as a fraction in [0, 1].
func (p Percent) Fraction() float64 { return p.Value / 100 }

// String prints the percentage with its sign ("99.5%").
func (p Percent) String() string { return strconv.FormatFloat(p.Value, 'f', -1, 64) + "%" }

// MarshalText writes the percentage in the form ParsePercent reads.
func (p Percent) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads a percentage written as ParsePercent expects.
func (p *Percent) UnmarshalText(b []byte) error {
	v, err := ParsePercent(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// UnmarshalJSON reads a percentage from a JSON string.
func (p *Percent) UnmarshalJSON(b []byte) error {
	return unmarshalJSONText(b, p.UnmarshalText, "percentage")
}

// Growth is an allowed growth over a baseline: an absolute Size ("1MiB"), a
// Percent of the baseline ("10%"), or the larger of both
// ("max(1MiB, 10%)", the heap default).
type Growth struct {
	// Bytes is the absolute allowance; used when Percent is nil or larger.
	Bytes Size
	// Percent, when set, allows that share of the baseline.
	Percent *Percent
}

// DefaultHeapGrowth is the heap tolerance of a drill that sets none, the
// matchers' default: +max(1 MiB, 10 %).
func DefaultHeapGrowth() Growth {
	return Growth{Bytes: Size{Bytes: matchers.DefaultMaxHeapGrowth}, Percent: &Percent{Value: 100 * matchers.DefaultMaxHeapGrowthRatio}}
}

// ParseGrowth parses "1MiB", "10%" or "max(1MiB, 10%)".
func ParseGrowth(s string) (Growth, error) {
	s = strings.TrimSpace(s)
	if inner, ok := strings.CutPrefix(s, "max("); ok {
		inner, ok = strings.CutSuffix(inner, ")")
		parts := strings.Split(inner, ",")
		if !ok || len(parts) != 2 {
			return Growth{}, fmt.Errorf(`bad growth %q; write "1MiB", "10%%" or "max(1MiB, 10%%)"`, s)
		}
		size, err := ParseSize(parts[0])
		if err != nil {
			return Growth{}, err
		}
		pct, err := ParsePercent(parts[1])
		if err != nil {
			return Growth{}, err
		}
		return Growth{Bytes: size, Percent: &pct}, nil
	}
	if strings.HasSuffix(s, "%") {
		pct, err := ParsePercent(s)
		if err != nil {
			return Growth{}, err
		}
		return Growth{Percent: &pct}, nil
	}
	size, err := ParseSize(s)
	if err != nil {
		return Growth{}, fmt.Errorf(`bad growth %q; write a size ("1MiB"), a percentage ("10%%") or "max(1MiB, 10%%)"`, s)
	}
	return Growth{Bytes: size}, nil
}

// Allowed returns how many bytes may be added to baseline.
func (g Growth) Allowed(baseline int64) int64 {
	allowed := g.Bytes.Bytes
	if g.Percent != nil {
		if p := int64(float64(baseline) * g.Percent.Fraction()); p > allowed {
			allowed = p
		}
	}
	return allowed
}

// String prints the growth in the form ParseGrowth reads.
func (g Growth) String() string {
	switch {
	case g.Percent == nil:
		return g.Bytes.String()
	case g.Bytes.Bytes == 0:
		return g.Percent.String()
	default:
		return "max(" + g.Bytes.String() + ", " + g.Percent.String() + ")"
	}
}

// IsZero reports whether nothing may grow.
func (g Growth) IsZero() bool { return g.Bytes.Bytes == 0 && g.Percent == nil }

// MarshalText writes the growth in the form ParseGrowth reads.
func (g Growth) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText reads a growth written as ParseGrowth expects.
func (g *Growth) UnmarshalText(b []byte) error {
	v, err := ParseGrowth(string(b))
	if err != nil {
		return err
	}
	*g = v
	return nil
}

// UnmarshalJSON reads a growth from a JSON string, or a JSON integer of bytes.
func (g *Growth) UnmarshalJSON(b []byte) error {
	return unmarshalJSONText(b, g.UnmarshalText, "growth")
}

// unmarshalJSONText feeds a JSON string to parse. A JSON integer is passed
// through as its digits, which sizes read as bytes and the other types
// refuse with their own message.
func unmarshalJSONText(b []byte, parse func([]byte) error, what string) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		return parse([]byte(s))
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		return parse([]byte(n.String()))
	}
	return fmt.Errorf("%s must be a string, got %s", what, b)
}
