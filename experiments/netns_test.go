package experiments

import (
	"errors"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/injectors/netns"
)

// TestNetnsRefusesWhatItCannotHonour: fields the kernel faults do not
// apply (a delay's correlation, tbf's peakrate and minburst) are refused
// for netns as for the proxy, never dropped silently.
func TestNetnsRefusesWhatItCannotHonour(t *testing.T) {
	for _, tc := range []struct{ block, path string }{
		{`{action: delay, delay: {latency: 50ms, correlation: "25"}}`, "spec.faults[0].networkChaos.delay.correlation"},
		{`{action: bandwidth, bandwidth: {rate: 1mbps, limit: 65536, buffer: 16384, peakrate: 2000000}}`, "spec.faults[0].networkChaos.bandwidth.peakrate"},
		{`{action: bandwidth, bandwidth: {rate: 1mbps, limit: 65536, buffer: 16384, minburst: 1500}}`, "spec.faults[0].networkChaos.bandwidth.minburst"},
	} {
		_, err := Parse("netns.yaml", []byte(`apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: netns}
spec:
  target: {url: "http://127.0.0.1:1"}
  upstreams: [{name: up, engine: netns, listen: "198.18.0.2:9200", forward: "127.0.0.1:9"}]
  faults: [{name: f, upstream: up, duration: 1s, networkChaos: `+tc.block+`}]
`))
		if err == nil || !strings.Contains(err.Error(), tc.path+": the netns engine cannot honour") {
			t.Errorf("%s: %v; want a refusal at %s", tc.block, err, tc.path)
		}
	}
}

// TestNetnsRefusedWhereNotLinux: on a system without network namespaces a
// drill with a netns upstream is refused before anything starts, naming
// the line and why (the runner turns it into exit 3), and a drill without
// one is not.
func TestNetnsRefusedWhereNotLinux(t *testing.T) {
	defer func(f func() error) { kernelFaults = f }(kernelFaults)
	kernelFaults = func() error { return netns.ErrUnsupported }
	const head = `apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: netns}
spec:
  target: {url: "http://127.0.0.1:1"}
`
	d, err := Parse("netns.yaml", []byte(head+`  upstreams: [{name: up, engine: netns, listen: "198.18.0.2:9200", forward: "127.0.0.1:9"}]
  faults: [{name: f, upstream: up, duration: 1s, networkChaos: {action: partition}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	err = d.CheckEngines(false)
	if err == nil || !strings.Contains(err.Error(), "netns.yaml:6") || !strings.Contains(err.Error(), "spec.upstreams[0].engine") ||
		!strings.Contains(err.Error(), "need Linux") || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("CheckEngines = %v; want a refusal at netns.yaml:6 spec.upstreams[0].engine saying kernel faults need Linux", err)
	}
	if _, ok := AsProblems(err); ok {
		t.Errorf("refusal is a Problems (bad input, exit 2); want a could-not-run error: the file is valid")
	}
	d, err = Parse("proxy.yaml", []byte(head+`  upstreams: [{name: up, listen: "127.0.0.1:9200", forward: "127.0.0.1:9"}]
  faults: [{name: f, upstream: up, duration: 1s, networkChaos: {action: partition}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CheckEngines(false); err != nil {
		t.Errorf("proxy drill refused where kernel faults are not: %v", err)
	}
}
