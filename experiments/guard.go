package experiments

import (
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/aftershock/aftershock/injectors/netns"
)

// CheckBlastRadius is the blast-radius guard: every address the drill
// would touch — the target, its pprof endpoint (written or derived), and
// each upstream's listen and forward address on a local engine — must
// parse, and be loopback, or allowed by
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
	// urlHost is the host of an address written as a URL; an address
	// that does not parse, or names no host, is refused: the guard
	// cannot vouch for what it cannot read.
	urlHost := func(path, raw string) (string, bool) {
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			r.add(path, nil, "refusing %q: it does not parse as a URL, so the guard cannot check its host: %v", raw, err)
			return "", false
		case u.Host == "" || u.Hostname() == "":
			r.add(path, nil, "refusing %q: it names no host, so the guard cannot check it: write scheme://host:port", raw)
			return "", false
		}
		return u.Hostname(), true
	}
	t := d.Spec.Target
	target, targetOK := urlHost("spec.target.url", t.URL)
	if targetOK {
		check("spec.target.url", target)
	}
	// The pprof endpoint is contacted whether the file writes it or it is
	// derived from url (then it has url's host: judged once, above).
	if t.Pprof != "" {
		if h, ok := urlHost("spec.target.pprof", t.Pprof); ok && !(targetOK && h == target) {
			check("spec.target.pprof", h)
		}
	}
	hostPort := func(path, addr string) (string, bool) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			r.add(path, nil, "refusing %q: it is not host:port, so the guard cannot check its host: %v", addr, err)
			return "", false
		}
		return host, true
	}
	// Each replica is read by its own pprof URL, and refused as the
	// target's is when the URL does not parse.
	for i, x := range t.Replicas {
		p := index("spec.target.replicas", i) + ".pprof"
		if h, ok := urlHost(p, x.Pprof); ok {
			check(p, h)
		}
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
		} else if host, ok := hostPort(p+".listen", u.Listen); ok {
			check(p+".listen", host)
		}
		if host, ok := hostPort(p+".forward", u.Forward); ok {
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
