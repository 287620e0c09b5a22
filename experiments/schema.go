package experiments

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/aftershock/aftershock/injectors/stall"
)

// The JSON Schema of a Drill file (docs/drill.schema.json) and the field
// reference of docs/drill-file.md are generated from the Go types, walked
// by the same rules the loader reads a file with (decoder.decode): a type
// that reads itself from text is a string, a struct is a mapping that
// refuses unknown fields, embedded structs are inlined. So a field added to
// the types is in the next regeneration, and a test fails until then.

// SchemaID is where the published schema lives; the shipped drills' editor
// modeline points there.
const SchemaID = "https://raw.githubusercontent.com/aftershock/aftershock/main/docs/drill.schema.json"

// FieldDoc returns the description of a field of a Go struct type (the
// type, and the Go name of the field), or "" for none; the generator reads
// the doc comments of the source.
type FieldDoc func(owner reflect.Type, goField string) string

// textTypes are the types written as strings in a file and structs in Go:
// their patterns say what the loader's parsers accept.
var textTypes = map[reflect.Type]struct {
	pattern, description string
	// integer: a bare integer is accepted too; zeroOnly: only 0.
	integer, zeroOnly bool
}{
	reflect.TypeFor[Duration](): {
		pattern:     `^\s*(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)\s*$`,
		description: `A duration with its unit, as Go writes it: "500ms", "5s", "1m30s".`,
		integer:     true,
		zeroOnly:    true, // "5" has no unit, "0" needs none
	},
	reflect.TypeFor[Size](): {
		pattern:     `^\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*(KiB|MiB|GiB|TiB|Ki|Mi|Gi|Ti|kB|KB|MB|GB|TB|B)?\s*$`,
		description: `A size: a number with a unit, B, KiB, MiB, GiB, TiB (1024-based) or kB, MB, GB, TB (1000-based): "1MiB".`,
		integer:     true,
	},
	reflect.TypeFor[Percent](): {
		pattern:     `^\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*%\s*$`,
		description: `A percentage with its sign, 0% to 100%: "99%", "0.5%".`,
	},
	reflect.TypeFor[Growth](): {
		pattern: `^\s*(` + sizeRE + `|` + percentRE + `|max\(` + sizeRE + `,` + percentRE + `\))\s*$`,
		description: `An allowed growth over the baseline: a size ("1MiB"), a percentage of the ` +
			`baseline ("10%"), or the larger of both ("max(1MiB, 10%)").`,
		integer: true,
	},
}

// enums are the named string types whose values the loader checks.
func enums() map[reflect.Type][]string {
	modes := []string{}
	for _, m := range stall.Modes() {
		modes = append(modes, string(m))
	}
	return map[reflect.Type][]string{
		reflect.TypeFor[Protocol]():  {string(ProtocolTCP), string(ProtocolHTTP), string(ProtocolH2C), string(ProtocolGRPC)},
		reflect.TypeFor[Engine]():    {string(EngineProxy), string(EngineNetns), string(EngineChaosMesh)},
		reflect.TypeFor[StallMode](): modes,
	}
}

const (
	sizeRE    = `\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*(KiB|MiB|GiB|TiB|Ki|Mi|Gi|Ti|kB|KB|MB|GB|TB|B)?\s*`
	percentRE = `\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*%\s*`
)

// schemaBuilder walks Go types into JSON Schema, one $defs entry per named
// struct type.
type schemaBuilder struct {
	doc  FieldDoc
	defs map[string]any
}

// Schema returns the JSON Schema (draft 2020-12) of a Drill file. doc may
// be nil.
func Schema(doc FieldDoc) map[string]any {
	b := &schemaBuilder{doc: doc, defs: map[string]any{}}
	root := b.of(reflect.TypeFor[Drill]())
	return map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         SchemaID,
		"title":       "aftershock Drill",
		"description": "A chaos drill: a target, its upstreams, faults under steady load, and what must hold after each. Generated from the Go types of github.com/aftershock/aftershock/experiments; do not edit.",
		"$ref":        root["$ref"],
		"$defs":       b.defs,
	}
}

// SchemaJSON is Schema as indented JSON, as committed.
func SchemaJSON(doc FieldDoc) ([]byte, error) {
	out, err := json.MarshalIndent(Schema(doc), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal schema: %w", err)
	}
	return append(out, '\n'), nil
}

// defName names a struct type's $defs entry: Drill for ours, v1alpha1.X
// for Chaos Mesh's.
func defName(t reflect.Type) string {
	if t.PkgPath() == reflect.TypeFor[Drill]().PkgPath() {
		return t.Name()
	}
	return t.String()
}

func (b *schemaBuilder) of(t reflect.Type) map[string]any {
	if tt, ok := textTypes[t]; ok {
		s := map[string]any{"type": "string", "pattern": tt.pattern, "description": tt.description}
		if tt.integer {
			bare := map[string]any{"type": "integer", "minimum": 0}
			if tt.zeroOnly {
				bare = map[string]any{"const": 0}
			}
			s = map[string]any{"description": tt.description, "anyOf": []any{
				map[string]any{"type": "string", "pattern": tt.pattern}, bare,
			}}
		}
		return s
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return b.of(t.Elem())
	case reflect.Struct:
		name := defName(t)
		if _, done := b.defs[name]; !done {
			b.defs[name] = nil // placeholder: recursion stops here
			b.defs[name] = b.object(t)
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": b.of(t.Elem())}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": b.of(t.Elem())}
	case reflect.String:
		if values, ok := enums()[t]; ok {
			return map[string]any{"type": "string", "enum": values}
		}
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	}
	// The loader refuses such a field too (decoder.decode).
	return map[string]any{"not": map[string]any{}}
}

// object is a struct's schema: its fields as the loader knows them
// (jsonFields), nothing else.
func (b *schemaBuilder) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	for _, f := range structFields(t) {
		s := b.of(f.typ)
		if d := b.describe(f); d != "" {
			// A $ref with siblings is fine in 2020-12; keep the type's own
			// description where the field has none.
			s = withDescription(s, d)
		}
		props[f.name] = s
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if t.PkgPath() != reflect.TypeFor[Drill]().PkgPath() {
		s["description"] = "Chaos Mesh " + t.String() + ", as Chaos Mesh spells it."
	}
	return s
}

func (b *schemaBuilder) describe(f structField) string {
	if b.doc == nil {
		return ""
	}
	return b.doc(f.owner, f.goName)
}

func withDescription(s map[string]any, d string) map[string]any {
	out := make(map[string]any, len(s)+1)
	for k, v := range s {
		out[k] = v
	}
	out["description"] = d
	return out
}

// structField is one field of a struct as the loader reads it.
type structField struct {
	name   string       // as written in the file
	goName string       // the Go field's name
	owner  reflect.Type // the struct declaring it (an embedded one, inlined)
	typ    reflect.Type
}

// structFields lists t's fields in declaration order, embedded structs
// inlined, as the decoder reads them (jsonFields).
func structFields(t reflect.Type) []structField {
	return jsonFields(t).fields
}

// ReferenceRow is one field of the Drill file reference.
type ReferenceRow struct {
	// Path is the field as a path: spec.faults[].networkChaos.action.
	Path string
	// Type is what the file holds there: string, integer, duration, list
	// of …, mapping of …, or a Chaos Mesh type.
	Type string
	// Description is the field's doc comment, first paragraph.
	Description string
}

// Reference lists every field of a Drill file, depth first in
// declaration order; a Chaos Mesh type's fields are listed once, under
// the first path that reaches it.
func Reference(doc FieldDoc) []ReferenceRow {
	var rows []ReferenceRow
	listed := map[reflect.Type]string{}
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		for _, f := range structFields(t) {
			p := path + "." + f.name
			if path == "" {
				p = f.name
			}
			ft, suffix := elemOf(f.typ)
			d := ""
			if doc != nil {
				d = doc(f.owner, f.goName)
			}
			typ := typeName(f.typ)
			if ft.Kind() == reflect.Struct && !textTypesHas(ft) && !reflect.PointerTo(ft).Implements(textUnmarshaler) {
				if first, ok := listed[ft]; ok {
					rows = append(rows, ReferenceRow{Path: p, Type: typ, Description: joinDoc(d, "Fields as under `"+first+"`.")})
					continue
				}
				if ft.PkgPath() != reflect.TypeFor[Drill]().PkgPath() {
					listed[ft] = p + suffix
				}
				rows = append(rows, ReferenceRow{Path: p, Type: typ, Description: d})
				walk(ft, p+suffix)
				continue
			}
			rows = append(rows, ReferenceRow{Path: p, Type: typ, Description: d})
		}
	}
	walk(reflect.TypeFor[Drill](), "")
	return rows
}

func joinDoc(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}

func textTypesHas(t reflect.Type) bool { _, ok := textTypes[t]; return ok }

// elemOf strips pointers, slices and maps to the type a path continues
// into, with the path suffix that says so ([] for a list, [KEY] for a map).
func elemOf(t reflect.Type) (reflect.Type, string) {
	suffix := ""
	for {
		switch {
		case t.Kind() == reflect.Pointer:
			t = t.Elem()
		case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
			t, suffix = t.Elem(), suffix+"[]"
		case t.Kind() == reflect.Map:
			t, suffix = t.Elem(), suffix+"[KEY]"
		default:
			return t, suffix
		}
	}
}

// typeName says what a file holds for t.
func typeName(t reflect.Type) string {
	switch {
	case t.Kind() == reflect.Pointer:
		return typeName(t.Elem())
	case textTypesHas(t):
		return strings.ToLower(t.Name())
	case reflect.PointerTo(t).Implements(textUnmarshaler):
		return "string"
	}
	switch t.Kind() {
	case reflect.Struct:
		if t.PkgPath() == reflect.TypeFor[Drill]().PkgPath() {
			return "mapping"
		}
		return "Chaos Mesh `" + t.String() + "`"
	case reflect.Map:
		return "mapping of " + typeName(t.Elem())
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "base64 string"
		}
		return "list of " + typeName(t.Elem())
	case reflect.String:
		if values, ok := enums()[t]; ok {
			return "`" + strings.Join(values, "`, `") + "`"
		}
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.String()
}

// ReferenceMarkdown renders Reference as the table of docs/drill-file.md.
func ReferenceMarkdown(doc FieldDoc) string {
	var b strings.Builder
	b.WriteString("| field | type | what it is |\n| --- | --- | --- |\n")
	for _, r := range Reference(doc) {
		d := strings.ReplaceAll(r.Description, "|", `\|`)
		d = strings.ReplaceAll(d, "\n", " ")
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.Path, r.Type, d)
	}
	return b.String()
}
