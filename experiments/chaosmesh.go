package experiments

import (
	"context"
	"reflect"
	"strings"

	"github.com/chaos-mesh/chaos-mesh/api/genericwebhook"
	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Chaos Mesh's own checks: each fault block is wrapped in the object a
// cluster would receive, defaulted and validated by Chaos Mesh's webhook
// code exactly as its admission webhook would (on a copy, so the Drill keeps
// what was written). Those checks know durations, rates, float strings,
// selector values and ports, but not enums; validate.go checks those.
// Their paths name Go fields ("Spec.TcParameter.Delay.Latency"); they are
// translated to the file's spelling (spec.faults[0].networkChaos.delay.latency).

// chaosMeshNetworkErrors runs Chaos Mesh's Default and Validate on spec.
func chaosMeshNetworkErrors(meta Metadata, spec *v1alpha1.NetworkChaosSpec) field.ErrorList {
	obj := &v1alpha1.NetworkChaos{
		ObjectMeta: objectMeta(meta),
		Spec:       *spec.DeepCopy(),
	}
	_ = obj.Default(context.Background(), obj) // never fails; defaults in place
	// genericwebhook.Validate is what obj.Validate() runs, before it
	// flattens the list into one string; the list keeps each field.
	return genericwebhook.Validate(obj)
}

// chaosMeshHTTPErrors runs Chaos Mesh's Default and Validate on spec.
func chaosMeshHTTPErrors(meta Metadata, spec *v1alpha1.HTTPChaosSpec) field.ErrorList {
	obj := &v1alpha1.HTTPChaos{
		ObjectMeta: objectMeta(meta),
		Spec:       *spec.DeepCopy(),
	}
	_ = obj.Default(context.Background(), obj)
	return genericwebhook.Validate(obj)
}

func objectMeta(m Metadata) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace}
}

// reportChaosMesh adds Chaos Mesh's errors under prefix (the fault block's
// path), skipping fields that already have a problem of ours and any error
// skip rejects.
func reportChaosMesh(r *reporter, root reflect.Type, prefix string, errs field.ErrorList, skip func(path string, e *field.Error) bool) {
	for _, e := range errs {
		path := jsonPath(root, e.Field, prefix)
		if r.seen[path] || (skip != nil && skip(path, e)) {
			continue
		}
		r.add(path, nil, "chaos mesh: %s", e.ErrorBody())
	}
}

// jsonPath translates a Chaos Mesh webhook path of Go field names, rooted
// at an object of type root ("Spec.TcParameter.Delay.Latency"), into the
// JSON spelling under prefix. Inlined embedded structs vanish from the
// path, as they do in the file. On anything unexpected it returns prefix.
func jsonPath(root reflect.Type, goPath, prefix string) string {
	rest, ok := strings.CutPrefix(goPath, "Spec")
	if !ok {
		return prefix
	}
	t := deref(root.Field(mustField(root, "Spec")).Type)
	out := prefix
	for rest != "" {
		switch rest[0] {
		case '.':
			end := strings.IndexAny(rest[1:], ".[")
			if end < 0 {
				end = len(rest) - 1
			}
			name := rest[1 : 1+end]
			rest = rest[1+end:]
			if t.Kind() != reflect.Struct {
				return prefix
			}
			// Webhook paths mix Go names (from the walker) with JSON
			// names (PodSelector's own checks say "value").
			f, found := t.FieldByName(name)
			if !found {
				if f, found = fieldByJSONName(t, name); !found {
					return prefix
				}
			}
			jsonName, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !(f.Anonymous && jsonName == "") {
				out = child(out, jsonName)
			}
			t = deref(f.Type)
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 || (t.Kind() != reflect.Slice && t.Kind() != reflect.Map) {
				return prefix
			}
			out += rest[:end+1]
			rest = rest[end+1:]
			t = deref(t.Elem())
		default:
			return prefix
		}
	}
	return out
}

func mustField(t reflect.Type, name string) int {
	f, _ := t.FieldByName(name)
	return f.Index[0]
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// fieldByJSONName finds the field spelled name in JSON, looking through
// inlined embedded structs.
func fieldByJSONName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		jsonName, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if jsonName == name {
			return f, true
		}
		if f.Anonymous && jsonName == "" && deref(f.Type).Kind() == reflect.Struct {
			if g, ok := fieldByJSONName(deref(f.Type), name); ok {
				return g, true
			}
		}
	}
	return reflect.StructField{}, false
}
