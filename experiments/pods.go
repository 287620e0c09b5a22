package experiments

import (
	"cmp"
	"reflect"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"

	"github.com/aftershock/aftershock/injectors/chaosmesh"
)

// DefaultPodsPath is where a pod serves pprof unless the drill says
// otherwise (spec.target.pods.path).
const DefaultPodsPath = "/debug/pprof"

// PodsTarget is a target whose replicas are pods of the drill's cluster
// (spec.cluster): the pods its selector selects are found through the
// API server at preflight, and each pod's pprof, at Port and Path, is
// baselined, settled and judged on its own; the load still goes to
// spec.target.url (a Service). The selector is Chaos Mesh's, spelled as
// a fault's selector is, and selects what Chaos Mesh would select; with
// neither namespaces nor pods it selects in the drill's namespace, as
// Chaos Mesh defaults it. Each pod is read by its IP when aftershock runs
// in the cluster, and through the API server's pod proxy from outside.
type PodsTarget struct {
	// Selector is a Chaos Mesh PodSelectorSpec, as a fault's selector
	// (required; nodeSelectors is refused).
	Selector v1alpha1.PodSelectorSpec `json:"selector"`
	// Port is the pods' pprof port (required).
	Port int `json:"port"`
	// Path is the pprof base path on that port (default /debug/pprof).
	Path string `json:"path,omitempty"`
}

// PprofPath is the pprof base path on the pods' port.
func (p *PodsTarget) PprofPath() string { return cmp.Or(p.Path, DefaultPodsPath) }

// PodSelector is the pods' selector as the cluster engine lists pods with
// it, in the drill's namespace when the selector names none; nil for a
// target without pods or a selector validation refused.
func (d *Drill) PodSelector() *chaosmesh.PodSelector {
	p := d.Spec.Target.Pods
	if p == nil {
		return nil
	}
	s, _ := chaosmesh.NewPodSelector(p.Selector, cmp.Or(d.Metadata.Namespace, "default"))
	return s
}

// validatePods checks spec.target.pods.
func validatePods(d *Drill, r *reporter) {
	p := d.Spec.Target.Pods
	const path = "spec.target.pods"
	if p == nil {
		if d.pos.has(path) && !r.seen[path] {
			r.add(path, []string{"selector", "port", "path"}, "pods is empty: give the pods' selector and their pprof port, or leave pods out")
		}
		return
	}
	if d.pos.has("spec.target.pprof") {
		r.add("spec.target.pprof", nil, "pprof and pods exclude each other: with pods, each pod's pprof is read at pods.port and pods.path, never through one URL (a Service's would mix the pods)")
	}
	switch {
	case !d.pos.has(path + ".port"):
		r.add(path+".port", nil, "port is required: the port the pods serve pprof on, e.g. 6060")
	case p.Port <= 0 || p.Port > 65535:
		r.add(path+".port", nil, "port %d is not a port (1..65535)", p.Port)
	}
	requestPath(r, path+".path", p.Path, false)
	sel := path + ".selector"
	if reflect.ValueOf(p.Selector).IsZero() {
		if !r.seen[sel] {
			r.add(sel, []string{"namespaces", "labelSelectors", "expressionSelectors", "fieldSelectors", "annotationSelectors", "pods", "nodes", "podPhaseSelectors"},
				"the pods need a selector, as a Chaos Mesh fault's: e.g. {namespaces: [shop], labelSelectors: {app: shop}}")
		}
		return
	}
	_, problems := chaosmesh.NewPodSelector(p.Selector, cmp.Or(d.Metadata.Namespace, "default"))
	for _, sp := range problems {
		fp := sel + "." + sp.Field
		if !r.seen[fp] {
			r.add(fp, sp.Allowed, "%s", sp.Msg)
		}
	}
}
