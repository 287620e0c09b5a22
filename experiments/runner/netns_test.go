package runner_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/injectors/netns"
)

// TestNetnsDelayNeedsNetem: on a kernel without netem a kernel delay is
// refused before anything is injected, as could-not-run, naming the fault's
// line and the reason — never run as something else or left out.
func TestNetnsDelayNeedsNetem(t *testing.T) {
	if netns.NetemSupport() == nil {
		t.Skip("this kernel has netem, so a kernel delay runs; suites/netns covers the engine")
	}
	d, err := experiments.Parse("netns.yaml", []byte(`apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: netns}
spec:
  target: {url: "http://127.0.0.1:1"}
  upstreams: [{name: up, engine: netns, listen: "198.18.0.2:9200", forward: "127.0.0.1:9"}]
  faults: [{name: slow, upstream: up, duration: 1s, networkChaos: {action: delay, delay: {latency: 50ms}}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = runner.Run(context.Background(), d)
	if !errors.Is(err, runner.ErrCouldNotRun) {
		t.Fatalf("Run = %v, want could not run", err)
	}
	for _, want := range []string{"netns.yaml:7:", "spec.faults[0].networkChaos.action", "fault slow", "netem"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
