package experiments

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{"500ms": 500 * time.Millisecond, "1m30s": 90 * time.Second, "0": 0, " 2h ": 2 * time.Hour}
	for in, want := range good {
		d, err := ParseDuration(in)
		if err != nil || d.Duration != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	bad := map[string]string{"10": "no unit", "-1s": "negative", "fast": "bad duration", "": "empty", "1.5": "no unit"}
	for in, want := range bad {
		if _, err := ParseDuration(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDuration(%q) error = %v, want %q", in, err, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]int64{"1MiB": 1 << 20, "512KiB": 512 << 10, "1.5MB": 1500000, "10B": 10, "1024": 1024, "2Gi": 2 << 30, "1kB": 1000, "0": 0}
	for in, want := range good {
		s, err := ParseSize(in)
		if err != nil || s.Bytes != want {
			t.Errorf("ParseSize(%q) = %v, %v; want %d", in, s, err, want)
		}
	}
	for _, in := range []string{"1MiBs", "MiB", "-1MiB", "1e3", "1.5B", "NaNB", "Inf", "1 mb", "0x10"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
	for in, want := range map[int64]string{1 << 20: "1MiB", 3 << 10: "3KiB", 1536: "1536B", 1000: "1000B", 0: "0B"} {
		if got := (Size{Bytes: in}).String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", in, got, want)
		}
	}
}

func TestParsePercent(t *testing.T) {
	good := map[string]float64{"99%": 99, "99.9%": 99.9, "0%": 0, "100%": 100, " 5 % ": 5}
	for in, want := range good {
		p, err := ParsePercent(in)
		if err != nil || p.Value != want {
			t.Errorf("ParsePercent(%q) = %v, %v; want %v", in, p, err, want)
		}
	}
	for _, in := range []string{"99", "0.99", "101%", "-1%", "%", "abc%", "NaN%", "1e2%"} {
		if _, err := ParsePercent(in); err == nil {
			t.Errorf("ParsePercent(%q) accepted", in)
		}
	}
}

func TestGrowth(t *testing.T) {
	cases := []struct {
		in       string
		baseline int64
		allowed  int64
		str      string
	}{
		{"1MiB", 100 << 20, 1 << 20, "1MiB"},
		{"10%", 100 << 20, 10 << 20, "10%"},
		{"max(1MiB, 10%)", 5 << 20, 1 << 20, "max(1MiB, 10%)"},
		{"max(1MiB,10%)", 50 << 20, 5 << 20, "max(1MiB, 10%)"},
		{"0B", 1 << 30, 0, "0B"},
	}
	for _, c := range cases {
		g, err := ParseGrowth(c.in)
		if err != nil {
			t.Fatalf("ParseGrowth(%q): %v", c.in, err)
		}
		if got := g.Allowed(c.baseline); got != c.allowed {
			t.Errorf("%q.Allowed(%d) = %d, want %d", c.in, c.baseline, got, c.allowed)
		}
		if g.String() != c.str {
			t.Errorf("%q.String() = %q, want %q", c.in, g.String(), c.str)
		}
	}
	for _, in := range []string{"max(1MiB)", "max(10%, 1MiB)", "1MiBs", "max(1MiB, 10)", "fast"} {
		if _, err := ParseGrowth(in); err == nil {
			t.Errorf("ParseGrowth(%q) accepted", in)
		}
	}
}

// TestUnitsJSON: the value types travel through JSON (journals, --output
// json) as the strings a Drill file holds.
func TestUnitsJSON(t *testing.T) {
	type doc struct {
		D Duration `json:"d"`
		S Size     `json:"s"`
		P Percent  `json:"p"`
		G Growth   `json:"g"`
	}
	in := doc{D(1500 * time.Millisecond), Size{Bytes: 1 << 20}, Percent{99.5}, DefaultHeapGrowth()}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"d":"1.5s","s":"1MiB","p":"99.5%","g":"max(1MiB, 10%)"}`; string(b) != want {
		t.Errorf("marshal = %s, want %s", b, want)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.D != in.D || out.S != in.S || out.P != in.P || out.G.String() != in.G.String() {
		t.Errorf("round trip = %+v, want %+v", out, in)
	}
	var s Size
	if err := json.Unmarshal([]byte(`2048`), &s); err != nil || s.Bytes != 2048 {
		t.Errorf("size from a JSON integer = %v, %v", s, err)
	}
	var d Duration
	if err := json.Unmarshal([]byte(`5`), &d); err == nil {
		t.Errorf("a duration from a bare JSON number must be refused")
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"HOST": "127.0.0.1", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	good := map[string]string{
		"http://${HOST}:8080":      "http://127.0.0.1:8080",
		"${MISSING:-fallback}":     "fallback",
		"${EMPTY:-fallback}":       "fallback",
		"${HOST:-x}":               "127.0.0.1",
		"$$HOME":                   "$HOME",
		"cost $5":                  "cost $5",
		"${EMPTY}":                 "",
		"trailing $":               "trailing $",
		"${HOST}${HOST}":           "127.0.0.1127.0.0.1",
		"${MISSING:-http://a:1/x}": "http://a:1/x",
	}
	for in, want := range good {
		got, err := expand(in, lookup)
		if err != nil || got != want {
			t.Errorf("expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{"${MISSING}": "${MISSING} is not set", "${HOST": "unclosed", "${1X}": "bad variable", "${}": "bad variable"}
	for in, want := range bad {
		if _, err := expand(in, lookup); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("expand(%q) error = %v, want %q", in, err, want)
		}
	}
}
