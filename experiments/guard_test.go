package experiments

import (
	"strings"
	"testing"
)

func guarded(t *testing.T, target, listen, forward, allow string) *Drill {
	t.Helper()
	allowHosts := ""
	if allow != "" {
		allowHosts = "  allowHosts: [" + allow + "]\n"
	}
	d, err := Parse("guard.yaml", []byte(`apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: guard}
spec:
  target: {url: "`+target+`"}
  upstreams: [{name: up, listen: "`+listen+`", forward: "`+forward+`"}]
  faults: [{name: cut, upstream: up, duration: 1s, networkChaos: {action: partition}}]
`+allowHosts))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return d
}

func TestBlastRadiusGuard(t *testing.T) {
	cases := []struct {
		name                    string
		target, listen, forward string
		allowInFile             string
		allowFlag               []string
		refused                 []string // "line:col: path" of each refusal
	}{
		{"loopback everywhere", "http://127.0.0.1:8080", "127.0.0.1:9100", "127.0.0.1:9200", "", nil, nil},
		{"localhost and ::1", "http://localhost:8080", "[::1]:9100", "127.0.0.2:9200", "", nil, nil},
		{"remote target", "http://10.1.2.3:8080", "127.0.0.1:9100", "127.0.0.1:9200", "", nil,
			[]string{"5:17: spec.target.url"}},
		{"remote forward", "http://127.0.0.1:8080", "127.0.0.1:9100", "db.internal:5432", "", nil,
			[]string{"6:61: spec.upstreams[0].forward"}},
		{"listen on every interface", "http://127.0.0.1:8080", ":9100", "127.0.0.1:9200", "", nil,
			[]string{"6:34: spec.upstreams[0].listen"}},
		{"allowed in the file by CIDR and name", "http://10.1.2.3:8080", "127.0.0.1:9100", "db.internal:5432", "10.0.0.0/8, DB.internal", nil, nil},
		{"every interface, allowed", "http://127.0.0.1:8080", "0.0.0.0:9100", "127.0.0.1:9200", "0.0.0.0", nil, nil},
		{"allowed by flag", "http://10.1.2.3:8080", "127.0.0.1:9100", "127.0.0.1:9200", "", []string{"10.1.2.3"}, nil},
		{"flag allows another host only", "http://10.1.2.3:8080", "127.0.0.1:9100", "127.0.0.1:9200", "", []string{"10.1.2.4"},
			[]string{"5:17: spec.target.url"}},
		{"a name is not resolved", "http://myhost.localdomain:8080", "127.0.0.1:9100", "127.0.0.1:9200", "", nil,
			[]string{"5:17: spec.target.url"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := guarded(t, c.target, c.listen, c.forward, c.allowInFile)
			err := d.CheckBlastRadius(c.allowFlag...)
			if len(c.refused) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("allowed; want refusals at %v", c.refused)
			}
			for _, want := range c.refused {
				if !strings.Contains(err.Error(), "guard.yaml:"+want+": ") {
					t.Errorf("missing refusal at %s in:\n%v", want, err)
				}
			}
			if strings.Contains(err.Error(), "spec.target.pprof") {
				t.Errorf("a pprof URL derived from url must not be refused twice: %v", err)
			}
			if !strings.Contains(err.Error(), "allowHosts") {
				t.Errorf("refusal must say how to allow: %v", err)
			}
		})
	}
	remotePprof, err := Parse("pprof.yaml", []byte(`apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: pprof}
spec:
  target: {url: "http://127.0.0.1:8080", pprof: "http://10.9.9.9:6060/debug/pprof"}
  faults: [{name: idle, duration: 1s, stalledClients: {mode: idle, count: 1}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := remotePprof.CheckBlastRadius(); err == nil || !strings.Contains(err.Error(), "pprof.yaml:5:49: spec.target.pprof") {
		t.Errorf("a remote pprof URL must be refused at its line: %v", err)
	}
	d := guarded(t, "http://127.0.0.1:8080", "127.0.0.1:9100", "127.0.0.1:9200", "")
	if err := d.CheckBlastRadius("not a host!"); err == nil || !strings.Contains(err.Error(), "--allow-host #1") {
		t.Errorf("a bad --allow-host must be reported, got %v", err)
	}
}

// TestBlastRadiusNetns: a netns upstream listens in a namespace aftershock
// makes, so its address must lie in 198.18.0.0/15 (and be a host of its
// /30), and nothing else; its forward address is guarded as any other.
func TestBlastRadiusNetns(t *testing.T) {
	for _, c := range []struct {
		listen, forward string
		refused         []string
	}{
		{"198.18.0.2:9200", "127.0.0.1:9200", nil},
		{"198.19.255.253:9200", "127.0.0.1:9200", nil},
		{"127.0.0.1:9100", "127.0.0.1:9200", []string{"spec.upstreams[0].listen: listen 127.0.0.1:9100: the address must lie in 198.18.0.0/15"}},
		{"198.18.0.3:9200", "127.0.0.1:9200", []string{"spec.upstreams[0].listen: listen 198.18.0.3:9200: the address must be the first or second host of its /30"}},
		{"198.18.0.2:9200", "10.0.0.1:5432", []string{"spec.upstreams[0].forward: refusing host"}},
	} {
		d, err := Parse("netns.yaml", []byte(`apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: netns}
spec:
  target: {url: "http://127.0.0.1:8080"}
  upstreams: [{name: up, engine: netns, listen: "`+c.listen+`", forward: "`+c.forward+`"}]
  faults: [{name: cut, upstream: up, duration: 1s, networkChaos: {action: loss, loss: {loss: "25"}}}]
`))
		if err != nil {
			t.Fatalf("%s: parse: %v", c.listen, err)
		}
		err = d.CheckBlastRadius()
		if len(c.refused) == 0 {
			if err != nil {
				t.Errorf("%s → %s refused: %v", c.listen, c.forward, err)
			}
			continue
		}
		for _, want := range c.refused {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s → %s: %v; want a refusal with %q", c.listen, c.forward, err, want)
			}
		}
	}
}

// TestBlastRadiusEveryAddress: the guard judges the addresses the drill
// will contact, not only those the file wrote: a pprof URL set on a loaded
// drill (as a suite or a search edits it) is checked though the file has
// none, and an address that does not parse is refused at its line, never
// skipped.
func TestBlastRadiusEveryAddress(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*Drill)
		want string
	}{
		{"a remote pprof the file does not write", func(d *Drill) { d.Spec.Target.Pprof = "http://10.9.9.9:6060/debug/pprof" },
			`guard.yaml:5:11: spec.target.pprof: refusing host "10.9.9.9"`},
		{"a target URL that does not parse", func(d *Drill) { d.Spec.Target.URL = "http://[::1" },
			`guard.yaml:5:17: spec.target.url: refusing "http://[::1": it does not parse as a URL`},
		{"a pprof URL that does not parse", func(d *Drill) { d.Spec.Target.Pprof = "http://10.0.0.1:6060/%zz" },
			`refusing "http://10.0.0.1:6060/%zz": it does not parse as a URL`},
		{"a target URL without a host", func(d *Drill) { d.Spec.Target.URL = "http:///checkout" },
			`guard.yaml:5:17: spec.target.url: refusing "http:///checkout": it names no host`},
		{"a forward address that is not host:port", func(d *Drill) { d.Spec.Upstreams[0].Forward = "db.internal" },
			`guard.yaml:6:61: spec.upstreams[0].forward: refusing "db.internal": it is not host:port`},
		{"a listen address that is not host:port", func(d *Drill) { d.Spec.Upstreams[0].Listen = "127.0.0.1" },
			`guard.yaml:6:34: spec.upstreams[0].listen: refusing "127.0.0.1": it is not host:port`},
		// Replicas are read by their own pprof URLs: each is contacted,
		// so each is checked, and one that does not parse is refused
		// like the target's (a drill built in code skips the loader).
		{"a remote replica", func(d *Drill) {
			d.Spec.Target.Replicas = []Replica{{Name: "a", Pprof: "http://127.0.0.1:6060"}, {Name: "b", Pprof: "http://10.9.9.8:6060"}}
		},
			`spec.target.replicas[1].pprof: refusing host "10.9.9.8"`},
		{"a replica's pprof URL that does not parse", func(d *Drill) { d.Spec.Target.Replicas = []Replica{{Name: "a", Pprof: "http://[::1"}} },
			`spec.target.replicas[0].pprof: refusing "http://[::1": it does not parse as a URL`},
		{"a replica's pprof URL without a host", func(d *Drill) { d.Spec.Target.Replicas = []Replica{{Name: "a", Pprof: "/debug/pprof"}} },
			`spec.target.replicas[0].pprof: refusing "/debug/pprof": it names no host`},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := guarded(t, "http://127.0.0.1:8080", "127.0.0.1:9100", "127.0.0.1:9200", "")
			c.edit(d)
			err := d.CheckBlastRadius()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v\nwant a refusal with %q", err, c.want)
			}
		})
	}
}
