package suitekit

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/aftershock/aftershock/experiments"
)

// EnvKeys are the top-level keys an env file may hold: blocks of a Drill's
// spec, with the same fields. target is required.
var EnvKeys = []string{"target", "upstreams", "load", "verify", "allowHosts"}

// Env is an environment file: the service to drill and the upstreams it
// calls through fault proxies, as a Drill's spec writes them.
type Env struct {
	// File is where the env was read from.
	File string
	// Target is the service under test; Pprof is never empty.
	Target experiments.Target
	// Upstreams are the fault proxies' addresses: the service calls
	// Listen, the proxy forwards to Forward.
	Upstreams []experiments.Upstream
	// Load is the request mix of the steady load (nil: not written).
	Load *experiments.LoadSpec
	// Verify holds the tolerances and SLO bounds (zero: not written).
	Verify experiments.Verify
	// AllowHosts extends the blast-radius guard, as in a Drill.
	AllowHosts []string
	// Written tells which top-level keys the file wrote, and
	// "verify.settle" when it set the settle deadline.
	Written map[string]bool
	// Deprecated says why the file's format is on its way out ("" for a
	// Target file); the suites print it.
	Deprecated string
}

// envDeprecated is what an env file of the old format is told.
const envDeprecated = "the env file format (a Drill spec's blocks at the top level) is deprecated: " +
	"write the same blocks under spec: with apiVersion: aftershock.dev/v1alpha1, kind: Target and metadata.name, " +
	"a Drill file that the same loader, aftershock validate and the schema check"

// envHeader is how an env file is wrapped into a Drill document: its lines
// become the spec (indented by envIndent columns, one line below the top),
// and the fields a Drill requires besides come after it. It is loaded
// without faults (experiments.WithoutFaults): the suites bring their own.
const (
	envIndent = 2
	envTail   = `apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: env-file}
`
)

// LoadEnv reads an env file. It is checked as strictly as a Drill file,
// by the same code: unknown fields, bad addresses, bad enums and ${VAR}
// references that are not set are errors citing file:line:col and the
// field path, as experiments.Problems.
func LoadEnv(path string, opts ...experiments.Option) (*Env, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	return ParseEnv(path, data, opts...)
}

// ParseEnv checks an env file held in memory; name is used in problems.
// A Target file (kind: Target, or a Drill, whose faults the suites leave
// aside) is read by the Drill loader as it is; an env file of the old
// format (the spec's blocks at the top level) is read too, and told that
// its format is deprecated.
func ParseEnv(name string, data []byte, opts ...experiments.Option) (*Env, error) {
	if isDrillFile(data) {
		return parseTargetFile(name, data, opts...)
	}
	env, err := parseOldEnv(name, data, opts...)
	if env != nil {
		env.Deprecated = name + ": " + envDeprecated
	}
	return env, err
}

// isDrillFile tells a Drill or Target file (apiVersion at the top) from an
// env file of the old format.
func isDrillFile(data []byte) bool {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return false
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "apiVersion" {
			return true
		}
	}
	return false
}

// parseTargetFile reads a Target (or Drill) file with the Drill loader.
func parseTargetFile(name string, data []byte, opts ...experiments.Option) (*Env, error) {
	d, err := experiments.Parse(name, data, append(opts, experiments.WithoutFaults())...)
	if err != nil {
		return nil, err
	}
	written := map[string]bool{"target": true}
	for _, k := range EnvKeys {
		if d.Written("spec." + k) {
			written[k] = true
		}
	}
	if d.Written("spec.verify.settle") {
		written["verify.settle"] = true
	}
	s := d.Spec
	return &Env{
		File: name, Target: s.Target, Upstreams: s.Upstreams, Load: s.Load,
		Verify: s.Verify, AllowHosts: s.AllowHosts, Written: written,
	}, nil
}

// parseOldEnv reads an env file of the old format: the spec's blocks at
// the top level.
func parseOldEnv(name string, data []byte, opts ...experiments.Option) (*Env, error) {
	written, refused, ps := envKeys(name, data)
	if ps != nil && refused == nil {
		return nil, ps // not a mapping at all
	}
	var doc bytes.Buffer
	doc.WriteString("spec:\n")
	for i, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if refused[i+1] {
			// A refused block is left out but its lines stay, so that the
			// problems of the rest cite the right lines.
			line = ""
		}
		if strings.TrimSpace(line) != "" {
			doc.WriteString(strings.Repeat(" ", envIndent))
		}
		doc.WriteString(line + "\n")
	}
	doc.WriteString(envTail)
	d, err := experiments.Parse(name, doc.Bytes(), append(opts, experiments.WithoutFaults())...)
	if err != nil {
		more, ok := experiments.AsProblems(err)
		if !ok {
			return nil, err
		}
		ps = append(ps, unwrapProblems(name, more)...)
		slices.SortStableFunc(ps, func(a, b *experiments.Problem) int {
			return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Column, b.Pos.Column))
		})
	}
	if len(ps) > 0 {
		return nil, ps
	}
	s := d.Spec
	return &Env{
		File: name, Target: s.Target, Upstreams: s.Upstreams, Load: s.Load,
		Verify: s.Verify, AllowHosts: s.AllowHosts, Written: written,
	}, nil
}

// envKeys reads the top-level keys (and whether verify.settle is set). Keys
// an env file does not hold, such as faults, are problems, and the lines
// of their blocks are returned in refused. A document that is no block
// mapping is a problem with refused nil; a YAML syntax error is left to
// Parse, which reports it with its position.
func envKeys(name string, data []byte) (written map[string]bool, refused map[int]bool, ps experiments.Problems) {
	written, refused = map[string]bool{}, map[int]bool{}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return written, refused, nil
	}
	if len(root.Content) == 0 {
		return written, nil, experiments.Problems{{File: name, Detail: "the env file is empty; it needs at least target.url"}}
	}
	m := root.Content[0]
	if m.Kind != yaml.MappingNode || m.Style&yaml.FlowStyle != 0 {
		return written, nil, experiments.Problems{{
			File: name, Pos: experiments.Pos{Line: m.Line, Column: m.Column},
			Detail: "an env file is a block-style mapping of spec blocks", Allowed: EnvKeys,
		}}
	}
	lines := strings.Count(string(data), "\n") + 1
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if !slices.Contains(EnvKeys, k.Value) {
			ps = append(ps, &experiments.Problem{
				File: name, Pos: experiments.Pos{Line: k.Line, Column: k.Column}, Path: k.Value,
				Detail: fmt.Sprintf("%q is not part of an env file (the suites bring their own faults)", k.Value), Allowed: EnvKeys,
			})
			end := lines
			if i+2 < len(m.Content) {
				end = m.Content[i+2].Line - 1
			}
			for l := k.Line; l <= end; l++ {
				refused[l] = true
			}
			continue
		}
		written[k.Value] = true
		if k.Value == "verify" && v.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(v.Content); j += 2 {
				if v.Content[j].Value == "settle" {
					written["verify.settle"] = true
				}
			}
		}
	}
	return written, refused, ps
}

// unwrapProblems maps problems of the wrapped document back onto the env
// file: one line up, envIndent columns left, without the "spec." prefix.
func unwrapProblems(name string, ps experiments.Problems) experiments.Problems {
	out := make(experiments.Problems, 0, len(ps))
	for _, p := range ps {
		q := *p
		q.File = name
		if q.Pos.Line > 1 {
			q.Pos.Line--
			q.Pos.Column = max(q.Pos.Column-envIndent, 0)
		}
		q.Path = strings.TrimPrefix(q.Path, "spec.")
		out = append(out, &q)
	}
	return out
}
