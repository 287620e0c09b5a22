package experiments

import (
	"fmt"
	"strings"
)

// Expansion: address and header fields of a Drill may name environment
// variables, because a drill is written once but the addresses it needs
// (OS-assigned ports, per-environment hosts, tokens) are known only when it
// runs. The forms are
//
//	${NAME}            the variable's value; unset is an error
//	${NAME:-fallback}  the value, or fallback when unset or empty
//	$$                 a literal $
//
// A $ not followed by { or $ is left as written. Expanded fields:
// spec.target.url, .pprof and .headers values; spec.upstreams[].listen and
// .forward; spec.load.requests[].headers values; spec.allowHosts[].

// expand replaces ${...} references in s using lookup.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("unclosed ${ in %q", s)
		}
		ref := s[i+2 : i+2+end]
		name, fallback, hasFallback := strings.Cut(ref, ":-")
		if !validVarName(name) {
			return "", fmt.Errorf("bad variable reference ${%s} in %q; write ${NAME} or ${NAME:-fallback}", ref, s)
		}
		v, ok := lookup(name)
		switch {
		case hasFallback && v == "":
			v = fallback
		case !ok:
			return "", fmt.Errorf("${%s} is not set; set it in the environment, or write ${%s:-fallback}", name, name)
		}
		b.WriteString(v)
		i += 2 + end
	}
	return b.String(), nil
}

// validVarName accepts shell variable names: a letter or _, then letters,
// digits or _.
func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// expandFields expands every field listed above in place, reporting each
// unset or malformed reference at its field.
func expandFields(d *Drill, r *reporter, lookup func(string) (string, bool)) {
	eachExpanded(d, func(path string, s *string) {
		v, err := expand(*s, lookup)
		if err != nil {
			r.add(path, nil, "%s", err)
			*s = "" // unusable; keeps defaults from deriving from it
			return
		}
		*s = v
	})
}

// fillPlaceholders replaces every unset ${NAME} of the expanded fields with
// a placeholder (ForChecking) and returns the paths of the fields it
// changed.
func fillPlaceholders(d *Drill, lookup func(string) (string, bool)) map[string]bool {
	held := map[string]bool{}
	n := 0
	scheme := "http"
	if d.Spec.Load != nil && len(d.Spec.Load.GRPC) > 0 {
		scheme = "grpc"
	}
	eachExpanded(d, func(path string, s *string) {
		if v, ok := placeholderFor(path, *s, lookup, &n, scheme); ok {
			*s = v
			held[path] = true
		}
	})
	return held
}

// eachExpanded calls one for every field that ${NAME} expansion applies to.
func eachExpanded(d *Drill, one func(path string, s *string)) {
	spec := &d.Spec
	one("spec.target.url", &spec.Target.URL)
	one("spec.target.pprof", &spec.Target.Pprof)
	expandMap("spec.target.headers", spec.Target.Headers, one)
	for i := range spec.Target.Replicas {
		x := &spec.Target.Replicas[i]
		one(index("spec.target.replicas", i)+".pprof", &x.Pprof)
		expandMap(index("spec.target.replicas", i)+".headers", x.Headers, one)
	}
	for i := range spec.Upstreams {
		u := &spec.Upstreams[i]
		one(index("spec.upstreams", i)+".listen", &u.Listen)
		one(index("spec.upstreams", i)+".forward", &u.Forward)
	}
	if spec.Load != nil {
		for i := range spec.Load.Requests {
			expandMap(index("spec.load.requests", i)+".headers", spec.Load.Requests[i].Headers, one)
		}
	}
	for i := range spec.AllowHosts {
		one(index("spec.allowHosts", i), &spec.AllowHosts[i])
	}
	if c := spec.Cluster; c != nil {
		one("spec.cluster.context", &c.Context)
		one("spec.cluster.server", &c.Server)
	}
}

func expandMap(path string, m map[string]string, one func(string, *string)) {
	for k, v := range m {
		one(key(path, k), &v)
		m[k] = v
	}
}
