package experiments

import (
	"regexp"
	"strconv"
	"strings"
)

// Checking a drill without running it (aftershock validate, an editor, CI)
// happens where the variables the drill names are not set: the addresses
// are known only where the drill runs. ForChecking stands a placeholder in
// for each unset ${NAME} (one that fits the field: a URL, a host, a port),
// so that everything else in the file is still checked, and drops the
// problems of the fields that held one, which say nothing about the file.

// ForChecking loads a drill as `aftershock validate` does: a ${NAME} that
// is not set is no problem, and the field that names it is not checked.
// Drill.Placeholders lists the fields that held one.
func ForChecking() Option {
	return optionFunc(func(o *options) { o.placeholders = true })
}

var unsetRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// placeholderFor rewrites each unset ${NAME} in s into a value that fits
// field path at its place in s; n numbers the placeholders so that two
// addresses never collide. The target's URL takes targetScheme, so that a
// drill with a gRPC load gets a grpc:// target. It reports whether it replaced any.
func placeholderFor(path, s string, lookup func(string) (string, bool), n *int, targetScheme string) (string, bool) {
	replaced := false
	out := unsetRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-1]
		if _, ok := lookup(name); ok {
			return ref
		}
		i := strings.Index(s, ref)
		if i > 0 && s[i-1] == '$' { // $${NAME} is a literal
			return ref
		}
		replaced = true
		*n++
		port := strconv.Itoa(40000 + *n)
		switch {
		case ref == s && path == "spec.target.url":
			return targetScheme + "://127.0.0.1:" + port
		case ref == s && (strings.HasSuffix(path, ".url") || strings.HasSuffix(path, ".pprof") || strings.HasSuffix(path, ".server")):
			return "http://127.0.0.1:" + port
		case ref == s && (strings.HasSuffix(path, ".listen") || strings.HasSuffix(path, ".forward")):
			return "127.0.0.1:" + port
		case i > 0 && s[i-1] == ':':
			return port
		case strings.HasSuffix(path, ".url"), strings.HasSuffix(path, ".pprof"), strings.HasSuffix(path, ".server"),
			strings.HasSuffix(path, ".listen"), strings.HasSuffix(path, ".forward"), strings.HasPrefix(path, "spec.allowHosts"):
			return "127.0.0.1"
		default:
			return "placeholder"
		}
	})
	return out, replaced
}
