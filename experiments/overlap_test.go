package experiments

import (
	"strings"
	"testing"
	"time"
)

// overlapDrill is a drill of four faults; faults holds their blocks after
// the names, so that a case adds overlap lines.
func overlapDrill(extra map[string]string) string {
	var b strings.Builder
	b.WriteString(`apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: overlaps}
spec:
  target: {url: "http://127.0.0.1:8080"}
  upstreams:
    - {name: a, listen: "127.0.0.1:9001", forward: "127.0.0.1:9101"}
    - {name: b, listen: "127.0.0.1:9002", forward: "127.0.0.1:9102"}
  faults:
`)
	for _, name := range []string{"one", "two", "three", "four"} {
		b.WriteString("    - name: " + name + "\n")
		b.WriteString("      upstream: a\n      duration: 4s\n      networkChaos: {action: delay, delay: {latency: 100ms}}\n")
		if x, ok := extra[name]; ok {
			b.WriteString("      " + x + "\n")
		}
	}
	return b.String()
}

func TestEpisodes(t *testing.T) {
	d, err := Parse("o.yaml", []byte(overlapDrill(map[string]string{
		"two":   "overlap: {with: one, after: 1s}",
		"three": "overlap: {with: two, after: 2s}", // through two: 3s after one
	})))
	if err != nil {
		t.Fatal(err)
	}
	eps := d.Episodes()
	if len(eps) != 2 {
		t.Fatalf("%d episodes, want 2", len(eps))
	}
	var names []string
	for _, f := range eps[0].Faults {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, ","); got != "one,two,three" || eps[0].Name() != "one" {
		t.Errorf("first episode %s named %s, want one,two,three named one", got, eps[0].Name())
	}
	if want := []time.Duration{0, time.Second, 3 * time.Second}; !slicesEqual(eps[0].Offsets, want) {
		t.Errorf("offsets %v, want %v", eps[0].Offsets, want)
	}
	if eps[0].End() != 7*time.Second {
		t.Errorf("end %s, want 7s (three: 3s + 4s)", eps[0].End())
	}
	if len(eps[1].Faults) != 1 || eps[1].Name() != "four" {
		t.Errorf("second episode %+v, want four alone", eps[1])
	}
	if e, ok := d.Episode("three"); !ok || e.Name() != "one" {
		t.Errorf("Episode(three) = %s, %v", e.Name(), ok)
	}
}

func slicesEqual(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBadOverlaps: each mistake is named at its line, with the field path.
func TestBadOverlaps(t *testing.T) {
	for _, c := range []struct {
		name  string
		extra map[string]string
		want  string
	}{
		{"unknown", map[string]string{"two": "overlap: {with: five}"}, `o.yaml:18:23: spec.faults[1].overlap.with: "five" is not a fault written before "two"`},
		{"later", map[string]string{"two": "overlap: {with: three}"}, `spec.faults[1].overlap.with: "three" is not a fault written before "two": a fault overlaps one that is already held; allowed: one`},
		{"itself", map[string]string{"two": "overlap: {with: two}"}, `spec.faults[1].overlap.with: fault "two" cannot overlap itself`},
		{"missing with", map[string]string{"two": "overlap: {after: 1s}"}, `spec.faults[1].overlap.with: with is required`},
		{"after the hold", map[string]string{"two": "overlap: {with: one, after: 4s}"}, `spec.faults[1].overlap.after: after 4s is not inside "one"'s hold of 4s: the faults would not overlap`},
		{"negative", map[string]string{"two": "overlap: {with: one, after: -1s}"}, `spec.faults[1].overlap.after`},
		{"unknown field", map[string]string{"two": "overlap: {with: one, at: 1s}"}, `spec.faults[1].overlap.at`},
		{"not contiguous", map[string]string{"two": "overlap: {with: one}", "four": "overlap: {with: one}"},
			`spec.faults[3].overlap.with: "one" is in the episode "one" leads, which ended before "three" (written just before "four") started another`},
		{"two qdiscs on one netns upstream", map[string]string{"one": "engine: netns", "two": "engine: netns\n      overlap: {with: one}"},
			`faults "one" and "two" both queue packets on upstream a (engine netns`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("o.yaml", []byte(overlapDrill(c.extra)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}
