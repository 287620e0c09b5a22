package experiments

import (
	"strings"
	"testing"
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
