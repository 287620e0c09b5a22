package experiments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"

	yaml "go.yaml.in/yaml/v3"
)

// MaxFileSize bounds a Drill file; drills are a few kilobytes.
const MaxFileSize = 1 << 20

// Option changes how drills are loaded.
type Option interface{ apply(*options) }

type options struct {
	lookup   func(string) (string, bool)
	engine   Engine
	noFaults bool
	// placeholders: unset ${NAME}s are no problem (ForChecking).
	placeholders bool
	render       bool
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

func newOptions(opts []Option) *options {
	o := &options{lookup: os.LookupEnv}
	for _, opt := range opts {
		opt.apply(o)
	}
	return o
}

// WithVars supplies values for ${VAR} references; names not in vars fall
// back to the process environment. It lets parallel tests and the demo
// pass OS-assigned addresses without touching the environment.
func WithVars(vars map[string]string) Option {
	return optionFunc(func(o *options) {
		next := o.lookup
		o.lookup = func(name string) (string, bool) {
			if v, ok := vars[name]; ok {
				return v, true
			}
			return next(name)
		}
	})
}

// WithLookup replaces the process environment as the source of ${VAR}
// values.
func WithLookup(lookup func(name string) (string, bool)) Option {
	return optionFunc(func(o *options) { o.lookup = lookup })
}

// WithEngine validates every networkChaos and httpChaos fault for engine e
// instead of the engine the file names, as `--engine chaos-mesh` or
// `aftershock render` need: the same file then runs on a cluster.
func WithEngine(e Engine) Option {
	return optionFunc(func(o *options) { o.engine = e })
}

// ForRendering loads a drill as `aftershock render` reads it: for the
// chaos-mesh engine (WithEngine), except its grpcChaos faults, which no
// Chaos Mesh kind expresses: they keep their own engine, so that the
// drill loads, and RenderYAML names them as not rendered.
func ForRendering() Option {
	return optionFunc(func(o *options) { o.engine, o.render = EngineChaosMesh, true })
}

// WithoutFaults loads a spec that holds no faults, checked as strictly as
// a Drill otherwise: the env file of a service, to which the suites bring
// their own faults.
func WithoutFaults() Option {
	return optionFunc(func(o *options) { o.noFaults = true })
}

// Load reads, checks and defaults the Drill file at path. Bad input yields
// Problems listing every problem found.
func Load(path string, opts ...Option) (*Drill, error) {
	data, err := readLimited(os.Open(path))
	if err != nil {
		return nil, fmt.Errorf("read drill: %w", err)
	}
	return Parse(path, data, opts...)
}

func readLimited(f *os.File, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxFileSize+1))
}

// LoadAll loads every file; the error holds the problems of all of them.
func LoadAll(paths ...string) ([]*Drill, error) {
	return LoadFiles(paths)
}

// LoadFiles loads every file with opts; the error holds the problems of
// all of them, and any file that could not be read.
func LoadFiles(paths []string, opts ...Option) ([]*Drill, error) {
	var drills []*Drill
	var all Problems
	var errs []error
	for _, p := range paths {
		d, err := Load(p, opts...)
		if ps, ok := AsProblems(err); ok {
			all = append(all, ps...)
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		drills = append(drills, d)
	}
	if err := all.err(); err != nil {
		errs = append(errs, err)
	}
	return drills, errors.Join(errs...)
}

// Drills loads every *.yaml and *.yml file in dir, in name order.
func Drills(dir string, opts ...Option) ([]*Drill, error) {
	return LoadFS(os.DirFS(dir), dir, opts...)
}

// LoadFS loads every *.yaml and *.yml file at the top of fsys, in name
// order; prefix is prepended to file names in drills and problems.
func LoadFS(fsys fs.FS, prefix string, opts ...Option) ([]*Drill, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("list drills in %s: %w", prefix, err)
	}
	var drills []*Drill
	var all Problems
	for _, e := range entries {
		if e.IsDir() || !slices.Contains([]string{".yaml", ".yml"}, path.Ext(e.Name())) {
			continue
		}
		name := filepath.Join(prefix, e.Name())
		data, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read drill %s: %w", name, err)
		}
		d, err := Parse(name, data, opts...)
		if ps, ok := AsProblems(err); ok {
			all = append(all, ps...)
			continue
		}
		if err != nil {
			return nil, err
		}
		drills = append(drills, d)
	}
	if len(drills) == 0 && len(all) == 0 {
		return nil, fmt.Errorf("no drill files (*.yaml, *.yml) in %s", prefix)
	}
	return drills, all.err()
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse checks and defaults a Drill written in YAML; name is used in
// problems and stored as Drill.File. Bad input yields Problems listing
// every problem found.
func Parse(name string, data []byte, opts ...Option) (*Drill, error) {
	o := newOptions(opts)
	pos := positions{}
	r := newReporter(name, pos)
	d := decodeDrill(name, data, pos, r)
	if d == nil {
		return nil, r.problems.err()
	}
	var held map[string]bool
	if o.placeholders {
		held = fillPlaceholders(d, o.lookup)
	}
	expandFields(d, r, o.lookup)
	setDefaults(d, o)
	validate(d, r, o)
	if held != nil {
		// A field that held a placeholder is checked where the drill runs.
		r.problems = slices.DeleteFunc(r.problems, func(p *Problem) bool { return held[p.Path] })
		for path := range held {
			d.Placeholders = append(d.Placeholders, path)
		}
		slices.Sort(d.Placeholders)
	}
	if err := r.problems.err(); err != nil {
		return nil, err
	}
	return d, nil
}

// DecodeFaults reads the faults of a Drill file as Parse decodes them,
// before anything needs a value: its ${VAR}s stay as written, and nothing
// is defaulted or checked. It is what can be known of a drill before its
// target exists, such as the family of each fault (Fault.Family), which
// the suites label a drill by. A fault field that does not decode is left
// out and reported in the error (Problems), beside the faults returned;
// a file that is not YAML returns none.
func DecodeFaults(name string, data []byte) ([]Fault, error) {
	pos := positions{}
	r := newReporter(name, pos)
	var faults []Fault
	if d := decodeDrill(name, data, pos, r); d != nil {
		faults = d.Spec.Faults
	}
	return faults, r.problems.err()
}

// decodeDrill decodes data into a Drill as written, recording where each
// field was (pos) and what did not decode (r); nil when data is too large
// or not one YAML document.
func decodeDrill(name string, data []byte, pos positions, r *reporter) *Drill {
	if len(data) > MaxFileSize {
		r.addAt(Pos{}, "", nil, "file is larger than %d bytes; a drill is a few kilobytes", MaxFileSize)
		return nil
	}
	root, ok := parseYAML(data, r)
	if !ok {
		return nil
	}
	dec := &decoder{r: r, budget: maxNodes, active: map[*yaml.Node]bool{}}
	tree, _ := dec.decode(root, reflect.TypeFor[Drill](), "")
	d := &Drill{File: name, pos: pos}
	// The tree holds only what decoded cleanly, so it always fits Drill;
	// what did not is already reported.
	if raw, err := json.Marshal(tree); err != nil {
		r.addAt(Pos{}, "", nil, "internal error re-encoding the drill: %v", err)
	} else if err := json.Unmarshal(raw, d); err != nil {
		r.addAt(Pos{}, "", nil, "internal error decoding the drill: %v", err)
	}
	return d
}

// parseYAML reads exactly one YAML document.
func parseYAML(data []byte, r *reporter) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			r.addAt(Pos{Line: 1}, "", nil, "empty file; expected a Drill (apiVersion: %s, kind: %s)", APIVersion, Kind)
		} else {
			yamlProblem(r, err)
		}
		return nil, false
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		yamlProblem(r, err)
		return nil, false
	default:
		r.addAt(posOf(&next), "", nil, "a second YAML document; a Drill file holds exactly one drill")
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		r.addAt(Pos{Line: 1}, "", nil, "empty file; expected a Drill (apiVersion: %s, kind: %s)", APIVersion, Kind)
		return nil, false
	}
	return doc.Content[0], true
}

// yamlProblem turns a YAML syntax error into a problem at its line.
func yamlProblem(r *reporter, err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		r.addAt(Pos{Line: line}, "", nil, "yaml syntax: %s", m[2])
		return
	}
	r.addAt(Pos{}, "", nil, "yaml syntax: %s", msg)
}
