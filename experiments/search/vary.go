package search

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aftershock/aftershock/experiments"
)

// Field is a magnitude of a fault that a search can vary: where it sits
// in the fault block, and how its values are read and written.
type Field struct {
	Name string
	// Path is the field's place in the fault block.
	Path []string
	// Unit is what a value of the search counts: "ms", "%", "clients".
	Unit string
	// parse reads a bound as the user writes it; format writes a value as
	// the fault block takes it.
	parse  func(string) (float64, error)
	format func(float64) any
}

// Fields are the magnitudes a search can vary, by the name --vary takes.
var Fields = map[string]Field{
	"latency":  durationField("latency", "networkChaos", "delay", "latency"),
	"jitter":   durationField("jitter", "networkChaos", "delay", "jitter"),
	"duration": durationField("duration", "duration"),
	"loss": {Name: "loss", Path: []string{"networkChaos", "loss", "loss"}, Unit: "%",
		parse: func(s string) (float64, error) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
			if err != nil || v < 0 || v > 100 {
				return 0, fmt.Errorf("%q is not a percentage (0..100)", s)
			}
			return v, nil
		},
		format: func(v float64) any { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }},
	"count": {Name: "count", Path: []string{"stalledClients", "count"}, Unit: "clients",
		parse: func(s string) (float64, error) {
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("%q is not a count of clients", s)
			}
			return float64(v), nil
		},
		format: func(v float64) any { return int(math.Round(v)) }},
}

func durationField(name string, path ...string) Field {
	return Field{Name: name, Path: path, Unit: "ms",
		parse: func(s string) (float64, error) {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				return 0, fmt.Errorf("%q is not a duration (e.g. 10ms, 3s)", s)
			}
			return float64(d) / float64(time.Millisecond), nil
		},
		format: func(v float64) any { return Format(v, "ms") }}
}

// Format writes a value of a field in unit as a person reads it.
func Format(v float64, unit string) string {
	switch unit {
	case "ms":
		return time.Duration(math.Round(v * float64(time.Millisecond))).Round(time.Millisecond / 10).String()
	case "%":
		return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) + "%"
	}
	return strconv.FormatFloat(math.Round(v), 'f', -1, 64) + " " + unit
}

// Vary is what a search varies: a field of one fault of a drill, over a
// range.
type Vary struct {
	Field     Field
	Low, High float64
}

// ParseVary reads FIELD=LOW..HIGH (latency=10ms..3s, loss=1..50,
// count=10..2000).
func ParseVary(s string) (Vary, error) {
	name, rng, ok := strings.Cut(s, "=")
	f, known := Fields[name]
	if !ok || !known {
		return Vary{}, fmt.Errorf("--vary %q: want FIELD=LOW..HIGH with FIELD one of %s", s, fieldNames())
	}
	lo, hi, ok := strings.Cut(rng, "..")
	if !ok {
		return Vary{}, fmt.Errorf("--vary %q: the range must be LOW..HIGH", s)
	}
	var v Vary
	var err error
	v.Field = f
	if v.Low, err = f.parse(lo); err != nil {
		return Vary{}, fmt.Errorf("--vary %q: low end: %w", s, err)
	}
	if v.High, err = f.parse(hi); err != nil {
		return Vary{}, fmt.Errorf("--vary %q: high end: %w", s, err)
	}
	if v.High <= v.Low {
		return Vary{}, fmt.Errorf("--vary %q: the high end must be above the low end", s)
	}
	return v, nil
}

func fieldNames() string {
	return "latency, jitter, duration, loss, count"
}

// Drill is d reduced to fault alone (without the faults it overlaps),
// with the field set to value: the
// drill one trial runs, and the minimal Drill file that reproduces a
// verdict at that value. It returns the drill and its YAML, loaded as
// strictly as any Drill file.
func (v Vary) Drill(d *experiments.Drill, fault string, value float64) (*experiments.Drill, []byte, error) {
	doc, err := d.Document()
	if err != nil {
		return nil, nil, err
	}
	spec, _ := doc["spec"].(map[string]any)
	faults, _ := spec["faults"].([]any)
	var block map[string]any
	for _, f := range faults {
		if m, ok := f.(map[string]any); ok && m["name"] == fault {
			block = m
		}
	}
	if block == nil {
		return nil, nil, fmt.Errorf("drill %s has no fault %q", d.Metadata.Name, fault)
	}
	m := block
	for i, key := range v.Field.Path[:len(v.Field.Path)-1] {
		next, ok := m[key].(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("fault %s of drill %s has no %s: --vary %s varies %s",
				fault, d.Metadata.Name, strings.Join(v.Field.Path[:i+1], "."), v.Field.Name, strings.Join(v.Field.Path, "."))
		}
		m = next
	}
	m[v.Field.Path[len(v.Field.Path)-1]] = v.Field.format(value)
	// The fault alone: what it overlapped in the drill is not searched.
	delete(block, "overlap")
	spec["faults"] = []any{block}
	// Problems cite the generated document, not the drill's file.
	name := fmt.Sprintf("%s (fault %s at %s %s)", cmp.Or(d.File, d.Metadata.Name+".yaml"), fault, v.Field.Name, Format(value, v.Field.Unit))
	nd, out, err := experiments.ParseDocument(name, doc)
	if err != nil {
		return nil, out, fmt.Errorf("%s at %s: %w", v.Field.Name, Format(value, v.Field.Unit), err)
	}
	return nd, out, nil
}

// magnitudes are the fields that say how hard a fault hits, which a
// schedule's scale multiplies: delays, jitter, loss, stalled clients.
var magnitudes = []Field{
	Fields["latency"], Fields["jitter"], Fields["loss"], Fields["count"],
	durationField("delay", "httpChaos", "delay"),
	durationField("delay", "grpcChaos", "delay", "latency"),
	durationField("jitter", "grpcChaos", "delay", "jitter"),
}

// Scale multiplies every magnitude fault block has by k (0 < k ≤ 1 lowers
// it): a network or gRPC delay and its jitter, an HTTP delay, a loss, the
// count of stalled clients (at least 1). It returns the fields it scaled;
// none for a fault without a magnitude (a partition, an abort).
func Scale(block map[string]any, k float64) ([]string, error) {
	var scaled []string
	for _, f := range magnitudes {
		m := block
		for _, key := range f.Path[:len(f.Path)-1] {
			if m, _ = m[key].(map[string]any); m == nil {
				break
			}
		}
		last := f.Path[len(f.Path)-1]
		raw, ok := m[last]
		if m == nil || !ok {
			continue
		}
		v, err := f.parse(fmt.Sprint(raw))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strings.Join(f.Path, "."), err)
		}
		v *= k
		if f.Name == "count" {
			v = max(1, math.Round(v))
		}
		m[last] = f.format(v)
		scaled = append(scaled, strings.Join(f.Path, "."))
	}
	return scaled, nil
}
