package experiments

import (
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/aftershock/aftershock/injectors/netns"
)

// CheckBlastRadius is the blast-radius guard: every address the drill
// would touch — the target, its pprof endpoint, and each upstream's listen
// and forward address on a local engine — must be loopback, or allowed by
// spec.allowHosts or by extra (the CLI's --allow-host). Host names are
// not resolved: "localhost" is loopback, any other name must be allowed by
// name. Problems cite the file and line of the offending address; the
// runner calls this before anything is injected.
func (d *Drill) CheckBlastRadius(extra ...string) error {
	r := newReporter(d.File, d.pos)
	var allowed []func(string) bool
	for i, h := range extra {
		m, err := parseAllowed(h)
		if err != nil {
			r.addAt(Pos{}, "", nil, "--allow-host #%d: %s", i+1, err)
			continue
		}
		allowed = append(allowed, m)
	}
	for _, h := range d.Spec.AllowHosts {
		if m, err := parseAllowed(h); err == nil {
			allowed = append(allowed, m)
		}
	}
	check := func(path, host string) {
		if host == "" {
			r.add(path, nil, "an empty host means every interface, which would expose the fault proxy to the network; listen on 127.0.0.1, or write 0.0.0.0 and name it in spec.allowHosts or --allow-host")
			return
		}
		if loopback(host) {
			return
		}
		for _, ok := range allowed {
			if ok(host) {
				return
			}
		}
		r.add(path, nil, "refusing host %q: drills touch loopback only, unless spec.allowHosts or --allow-host names the host", host)
	}
	t := d.Spec.Target
	if u, err := url.Parse(t.URL); err == nil {
		check("spec.target.url", u.Hostname())
	}
	if u, err := url.Parse(t.Pprof); err == nil && d.pos.has("spec.target.pprof") {
		// A pprof URL derived from url has url's host: checked above.
		check("spec.target.pprof", u.Hostname())
	}
	for i, u := range d.Spec.Upstreams {
		if !d.upstreamIsLocal(u.Name) {
			continue
		}
		p := index("spec.upstreams", i)
		if u.Engine == EngineNetns {
			// The address is in a namespace aftershock makes for this
			// upstream, reachable from this machine only.
			if err := netns.CheckListen(u.Listen); err != nil {
				r.add(p+".listen", nil, "%s", strings.TrimPrefix(err.Error(), "netns: "))
			}
		} else if host, _, err := net.SplitHostPort(u.Listen); err == nil {
			check(p+".listen", host)
		}
		if host, _, err := net.SplitHostPort(u.Forward); err == nil {
			check(p+".forward", host)
		}
	}
	return r.problems.err()
}

// upstreamIsLocal reports whether any fault drives the upstream with a
// local engine (or none uses it yet, where the file's engine decides).
func (d *Drill) upstreamIsLocal(name string) bool {
	used := false
	for _, f := range d.Spec.Faults {
		if f.Upstream == name {
			used = true
			if f.Engine.Local() {
				return true
			}
		}
	}
	if !used {
		if u := d.Upstream(name); u != nil {
			return u.Engine.Local()
		}
	}
	return false
}

// loopback reports whether host is a loopback address or "localhost".
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
