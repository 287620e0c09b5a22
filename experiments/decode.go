package experiments

import (
	"encoding"
	"encoding/base64"
	"reflect"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// maxNodes bounds how many YAML nodes one file may expand to, aliases
// included, so that an alias bomb is a problem rather than an outage.
const maxNodes = 100000

// decoder checks a YAML node tree against a Go type, as strictly as
// Kubernetes' strict decoding but without stopping at the first problem,
// and builds a clean JSON-shaped value tree from what was right. It records
// where every value was written.
type decoder struct {
	r      *reporter
	budget int
	// active holds the anchors being expanded, to refuse an alias that
	// refers to a node containing itself.
	active map[*yaml.Node]bool
	// exhausted is set once budget ran out; later nodes are skipped.
	exhausted bool
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func posOf(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

// decode returns the JSON-shaped value of n for Go type t, and whether it
// is usable; problems go to the reporter. A mapping or list with bad
// entries is still usable: it holds the good ones, so that one bad leaf
// does not hide its siblings from validation.
func (d *decoder) decode(n *yaml.Node, t reflect.Type, path string) (any, bool) {
	if d.budget--; d.budget < 0 {
		if !d.exhausted {
			d.exhausted = true
			d.r.addAt(posOf(n), path, nil, "document is too large or expands too many aliases (more than %d nodes)", maxNodes)
		}
		return nil, false
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil || d.active[n.Alias] {
			d.r.addAt(posOf(n), path, nil, "alias *%s refers to a value that contains it", n.Value)
			return nil, false
		}
		d.active[n.Alias] = true
		defer delete(d.active, n.Alias)
		return d.decode(n.Alias, t, path)
	}
	d.r.pos[path] = posOf(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil, true
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		if !d.want(n, yaml.ScalarNode, path, "a string") {
			return nil, false
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.r.addAt(posOf(n), path, nil, "%s", err)
			return nil, false
		}
		return n.Value, true
	}
	switch t.Kind() {
	case reflect.Pointer:
		return d.decode(n, t.Elem(), path)
	case reflect.Struct:
		return d.decodeStruct(n, t, path)
	case reflect.Map:
		return d.decodeMap(n, t, path)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if !d.want(n, yaml.ScalarNode, path, "a base64 string") {
				return nil, false
			}
			if _, err := base64.StdEncoding.DecodeString(n.Value); err != nil {
				d.r.addAt(posOf(n), path, nil, "%q is not base64 (Chaos Mesh writes bytes as base64, e.g. %q)", n.Value, base64.StdEncoding.EncodeToString([]byte("text")))
				return nil, false
			}
			return n.Value, true
		}
		if !d.want(n, yaml.SequenceNode, path, "a list") {
			return nil, false
		}
		if len(n.Content) == 0 {
			return nil, true // [] reads as absent: Go code sees a nil slice
		}
		// An element that failed becomes null, keeping the indices of
		// the others; validation skips elements with a problem.
		out := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			v, _ := d.decode(item, t.Elem(), index(path, i))
			out = append(out, v)
		}
		return out, true
	case reflect.String:
		if !d.want(n, yaml.ScalarNode, path, "a string") {
			return nil, false
		}
		return n.Value, true
	case reflect.Bool:
		if !d.want(n, yaml.ScalarNode, path, "true or false") {
			return nil, false
		}
		if n.ShortTag() != "!!bool" {
			d.r.addAt(posOf(n), path, []string{"true", "false"}, "%q is not a boolean", n.Value)
			return nil, false
		}
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err != nil {
			d.r.addAt(posOf(n), path, []string{"true", "false"}, "%q is not a boolean", n.Value)
			return nil, false
		}
		return b, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !d.want(n, yaml.ScalarNode, path, "an integer") {
			return nil, false
		}
		i, err := strconv.ParseInt(n.Value, 10, t.Bits())
		if err != nil || n.ShortTag() != "!!int" {
			d.r.addAt(posOf(n), path, nil, "%q is not an integer (%d-bit)", n.Value, t.Bits())
			return nil, false
		}
		return i, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !d.want(n, yaml.ScalarNode, path, "an integer") {
			return nil, false
		}
		u, err := strconv.ParseUint(n.Value, 10, t.Bits())
		if err != nil || n.ShortTag() != "!!int" {
			d.r.addAt(posOf(n), path, nil, "%q is not a non-negative integer (%d-bit)", n.Value, t.Bits())
			return nil, false
		}
		return u, true
	case reflect.Float32, reflect.Float64:
		if !d.want(n, yaml.ScalarNode, path, "a number") {
			return nil, false
		}
		f, err := strconv.ParseFloat(n.Value, t.Bits())
		if tag := n.ShortTag(); err != nil || (tag != "!!int" && tag != "!!float") {
			d.r.addAt(posOf(n), path, nil, "%q is not a number", n.Value)
			return nil, false
		}
		return f, true
	}
	d.r.addAt(posOf(n), path, nil, "field of Go type %s cannot be read from YAML (report this as a bug)", t)
	return nil, false
}

// want reports a problem unless n is of the kind expected.
func (d *decoder) want(n *yaml.Node, kind yaml.Kind, path, what string) bool {
	if n.Kind == kind {
		return true
	}
	d.r.addAt(posOf(n), path, nil, "expected %s, got %s", what, describe(n))
	return false
}

// describe names what a node is, for "expected X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// pair is one key and value of a mapping, after merge keys are resolved.
type pair struct{ k, v *yaml.Node }

// pairs lists the entries of a mapping, with YAML merge keys (<<: *base)
// resolved: entries written in the mapping win over merged ones.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var own, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergeSources(v, path, 0)...)
			continue
		}
		own = append(own, pair{k, v})
	}
	if len(merged) == 0 {
		return own
	}
	written := map[string]bool{}
	for _, p := range own {
		written[p.k.Value] = true
	}
	out := own
	for _, p := range merged {
		if !written[p.k.Value] {
			written[p.k.Value] = true
			out = append(out, p)
		}
	}
	return out
}

// mergeSources returns the entries a merge key brings in: a mapping, an
// alias of one, or a list of those.
func (d *decoder) mergeSources(v *yaml.Node, path string, depth int) []pair {
	if d.budget--; d.budget < 0 || depth > 8 {
		d.r.addAt(posOf(v), path, nil, "merge key (<<) nests too deeply")
		return nil
	}
	switch v.Kind {
	case yaml.AliasNode:
		if v.Alias == nil || d.active[v.Alias] {
			d.r.addAt(posOf(v), path, nil, "alias *%s refers to a value that contains it", v.Value)
			return nil
		}
		d.active[v.Alias] = true
		defer delete(d.active, v.Alias)
		return d.mergeSources(v.Alias, path, depth+1)
	case yaml.MappingNode:
		return d.pairs(v, path)
	case yaml.SequenceNode:
		var out []pair
		for _, item := range v.Content {
			out = append(out, d.mergeSources(item, path, depth+1)...)
		}
		return out
	}
	d.r.addAt(posOf(v), path, nil, "merge key (<<) needs a mapping or a list of mappings, got %s", describe(v))
	return nil
}

// decodeStruct checks a mapping against a struct's JSON fields.
func (d *decoder) decodeStruct(n *yaml.Node, t reflect.Type, path string) (any, bool) {
	if !d.want(n, yaml.MappingNode, path, "a mapping") {
		return nil, false
	}
	fields := jsonFields(t)
	out := map[string]any{}
	seen := map[string]bool{}
	for _, p := range d.pairs(n, path) {
		if p.k.Kind != yaml.ScalarNode {
			d.r.addAt(posOf(p.k), path, nil, "field names must be plain strings, got %s", describe(p.k))
			continue
		}
		name := p.k.Value
		fpath := child(path, name)
		if seen[name] {
			d.r.addAt(posOf(p.k), fpath, nil, "field %q is written twice", name)
			continue
		}
		seen[name] = true
		f, known := fields.byName[name]
		if !known {
			d.r.addAt(posOf(p.k), fpath, fields.names, "unknown field %q%s", name, suggest(name, fields.names))
			continue
		}
		if v, good := d.decode(p.v, f, fpath); good {
			out[name] = v
		}
	}
	return out, true
}

// decodeMap checks a mapping with string keys.
func (d *decoder) decodeMap(n *yaml.Node, t reflect.Type, path string) (any, bool) {
	if !d.want(n, yaml.MappingNode, path, "a mapping") {
		return nil, false
	}
	if t.Key().Kind() != reflect.String {
		d.r.addAt(posOf(n), path, nil, "map with %s keys cannot be read from YAML (report this as a bug)", t.Key())
		return nil, false
	}
	out := map[string]any{}
	for _, p := range d.pairs(n, path) {
		if p.k.Kind != yaml.ScalarNode {
			d.r.addAt(posOf(p.k), path, nil, "keys must be plain strings, got %s", describe(p.k))
			continue
		}
		kpath := key(path, p.k.Value)
		if _, dup := out[p.k.Value]; dup {
			d.r.addAt(posOf(p.k), kpath, nil, "key %q is written twice", p.k.Value)
			continue
		}
		if v, good := d.decode(p.v, t.Elem(), kpath); good {
			out[p.k.Value] = v
		}
	}
	return out, true
}

// fieldSet is a struct's JSON field names, embedded structs inlined as
// encoding/json inlines them.
type fieldSet struct {
	byName map[string]reflect.Type
	names  []string
	fields []structField // in declaration order, the first of each name
}

func jsonFields(t reflect.Type) fieldSet {
	fs := fieldSet{byName: map[string]reflect.Type{}}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if name == "" {
				name = f.Name
			}
			if _, dup := fs.byName[name]; !dup {
				fs.names = append(fs.names, name)
				fs.fields = append(fs.fields, structField{name: name, goName: f.Name, owner: t})
			}
			fs.byName[name] = f.Type
		}
	}
	walk(t)
	for i := range fs.fields {
		fs.fields[i].typ = fs.byName[fs.fields[i].name]
	}
	return fs
}

// suggest returns ` (did you mean "x"?)` for a near miss among names.
func suggest(name string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if d := distance(strings.ToLower(name), strings.ToLower(n)); d < bestDist {
			best, bestDist = n, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + strconv.Quote(best) + "?)"
}

// distance is the Levenshtein distance, for suggestions.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
