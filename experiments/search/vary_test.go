package search

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/experiments"
)

func TestParseVary(t *testing.T) {
	v, err := ParseVary("latency=10ms..3s")
	if err != nil || v.Field.Name != "latency" || v.Low != 10 || v.High != 3000 || v.Field.Unit != "ms" {
		t.Fatalf("%+v, %v", v, err)
	}
	for in, want := range map[string]string{
		"speed=1..2":       "FIELD one of latency, jitter, duration, loss, count",
		"latency=10ms":     "the range must be LOW..HIGH",
		"latency=fast..3s": `low end: "fast" is not a duration`,
		"loss=5..150":      `high end: "150" is not a percentage`,
		"latency=3s..10ms": "the high end must be above the low end",
		"count=10..many":   `"many" is not a count of clients`,
	} {
		if _, err := ParseVary(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want %q", in, err, want)
		}
	}
}

// TestVaryDrill: the trial's drill is the fault alone, at the value, and
// loads as strictly as a Drill file; a field the fault does not have is
// refused, naming it.
func TestVaryDrill(t *testing.T) {
	data, err := fs.ReadFile(experiments.DemoFS, "slow-upstream.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := experiments.Parse("slow-upstream.yaml", data, experiments.WithVars(map[string]string{
		experiments.VarShopURL: "http://127.0.0.1:8080", experiments.VarPaymentsProxy: "127.0.0.1:9100", experiments.VarPaymentsAddr: "127.0.0.1:9200"}))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := ParseVary("latency=10ms..3s")
	nd, doc, err := v.Drill(d, "slow-payments", 312.4)
	if err != nil {
		t.Fatal(err)
	}
	if len(nd.Spec.Faults) != 1 || nd.Spec.Faults[0].NetworkChaos.Delay.Latency != "312.4ms" || nd.Spec.Target.URL != "http://127.0.0.1:8080" {
		t.Errorf("drill at 312.4ms:\n%s", doc)
	}
	if _, _, err := v.Drill(d, "nope", 300); err == nil || !strings.Contains(err.Error(), `has no fault "nope"`) {
		t.Errorf("unknown fault: %v", err)
	}
	c, _ := ParseVary("count=10..100")
	if _, _, err := c.Drill(d, "slow-payments", 50); err == nil || !strings.Contains(err.Error(), "fault slow-payments of drill slow-upstream has no stalledClients: --vary count varies stalledClients.count") {
		t.Errorf("a field the fault lacks: %v", err)
	}
}
