package chaosmesh

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// PodSelector is a Chaos Mesh pod selector (PodSelectorSpec, as a fault's
// selector spells it) made into the calls that list its pods: what Chaos
// Mesh selects, aftershock selects. Chaos Mesh's rules: pods, when given,
// names the pods and nothing else counts; otherwise the pods of the
// namespaces whose labels, expressions and fields match, filtered by
// annotations, nodes and phases. nodeSelectors would need the nodes read
// as well and is refused.
type PodSelector struct {
	spec        v1alpha1.PodSelectorSpec
	labels      labels.Selector
	fields      fields.Selector
	annotations map[string]string
}

// SelectorProblem is one thing wrong with a selector: Field is its path
// under the selector as the file spells it ("labelSelectors[app]"),
// Allowed what may be written there, when it is a closed set.
type SelectorProblem struct {
	Field   string
	Allowed []string
	Msg     string
}

// PodFieldSelectors are the pod fields the API server selects on.
var PodFieldSelectors = []string{"metadata.name", "metadata.namespace", "spec.hostNetwork", "spec.nodeName",
	"spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "status.nominatedNodeName",
	"status.phase", "status.podIP", "status.podIPs"}

// podPhases are the values of podPhaseSelectors.
var podPhases = []string{string(corev1.PodPending), string(corev1.PodRunning), string(corev1.PodSucceeded),
	string(corev1.PodFailed), string(corev1.PodUnknown)}

// NewPodSelector checks spec and makes it into list calls. namespace
// stands in for spec.namespaces when the selector names none and no pods,
// as Chaos Mesh's webhook defaults it to the chaos object's namespace.
// Every problem is returned, each at its field.
func NewPodSelector(spec v1alpha1.PodSelectorSpec, namespace string) (*PodSelector, []SelectorProblem) {
	var ps []SelectorProblem
	add := func(field string, allowed []string, format string, args ...any) {
		ps = append(ps, SelectorProblem{Field: field, Allowed: allowed, Msg: fmt.Sprintf(format, args...)})
	}
	spec = *spec.DeepCopy()
	if len(spec.Pods) == 0 {
		spec.DefaultNamespace(namespace)
	}
	for i, ns := range spec.Namespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			add(fmt.Sprintf("namespaces[%d]", i), nil, "%q is not a namespace name: %s", ns, strings.Join(msgs, "; "))
		}
	}
	for _, ns := range slices.Sorted(maps.Keys(spec.Pods)) {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			add(fmt.Sprintf("pods[%s]", ns), nil, "%q is not a namespace name: %s", ns, strings.Join(msgs, "; "))
		}
		if len(spec.Pods[ns]) == 0 {
			add(fmt.Sprintf("pods[%s]", ns), nil, "namespace %s lists no pod names", ns)
		}
		for i, name := range spec.Pods[ns] {
			if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
				add(fmt.Sprintf("pods[%s][%d]", ns, i), nil, "%q is not a pod name: %s", name, strings.Join(msgs, "; "))
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(spec.LabelSelectors)) {
		labelPair(add, fmt.Sprintf("labelSelectors[%s]", k), k, spec.LabelSelectors[k])
	}
	for _, k := range slices.Sorted(maps.Keys(spec.AnnotationSelectors)) {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			add(fmt.Sprintf("annotationSelectors[%s]", k), nil, "%q is not an annotation key: %s", k, strings.Join(msgs, "; "))
		}
	}
	// Chaos Mesh merges labelSelectors and expressionSelectors into one
	// label selector; so does metav1's own conversion.
	ls, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: spec.LabelSelectors, MatchExpressions: spec.ExpressionSelectors})
	if err != nil {
		for i, e := range spec.ExpressionSelectors {
			if _, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{e}}); err != nil {
				add(fmt.Sprintf("expressionSelectors[%d]", i), []string{"In", "NotIn", "Exists", "DoesNotExist"}, "%v", err)
			}
		}
	}
	var fs []fields.Selector
	for _, k := range slices.Sorted(maps.Keys(spec.FieldSelectors)) {
		if !slices.Contains(PodFieldSelectors, k) {
			add(fmt.Sprintf("fieldSelectors[%s]", k), PodFieldSelectors, "the API server selects pods on no field %q", k)
			continue
		}
		fs = append(fs, fields.OneTermEqualSelector(k, spec.FieldSelectors[k]))
	}
	for i, n := range spec.Nodes {
		if msgs := validation.IsDNS1123Subdomain(n); len(msgs) > 0 {
			add(fmt.Sprintf("nodes[%d]", i), nil, "%q is not a node name: %s", n, strings.Join(msgs, "; "))
		}
	}
	if len(spec.NodeSelectors) > 0 {
		add("nodeSelectors", nil, "nodeSelectors selects nodes by their labels, which would need the nodes read too: name the nodes (nodes: [...]) or select the pods by their own labels")
	}
	for i, p := range spec.PodPhaseSelectors {
		if !slices.Contains(podPhases, p) {
			add(fmt.Sprintf("podPhaseSelectors[%d]", i), podPhases, "unknown pod phase %q", p)
		}
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return &PodSelector{spec: spec, labels: ls, fields: fields.AndSelectors(fs...), annotations: spec.AnnotationSelectors}, nil
}

func labelPair(add func(string, []string, string, ...any), field, k, v string) {
	if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
		add(field, nil, "%q is not a label key: %s", k, strings.Join(msgs, "; "))
	}
	if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
		add(field, nil, "%q is not a label value: %s", v, strings.Join(msgs, "; "))
	}
}

// Namespaces are the namespaces the selector reads pods in, sorted.
func (s *PodSelector) Namespaces() []string {
	if len(s.spec.Pods) > 0 {
		return slices.Sorted(maps.Keys(s.spec.Pods))
	}
	return slices.Compact(slices.Sorted(slices.Values(s.spec.Namespaces)))
}

// String says what the selector selects, for messages.
func (s *PodSelector) String() string {
	if len(s.spec.Pods) > 0 {
		var parts []string
		for _, ns := range slices.Sorted(maps.Keys(s.spec.Pods)) {
			for _, n := range s.spec.Pods[ns] {
				parts = append(parts, ns+"/"+n)
			}
		}
		return "pods " + strings.Join(parts, ", ")
	}
	var parts []string
	if !s.labels.Empty() {
		parts = append(parts, "labels "+s.labels.String())
	}
	if !s.fields.Empty() {
		parts = append(parts, "fields "+s.fields.String())
	}
	if len(s.annotations) > 0 {
		parts = append(parts, "annotations "+labels.Set(s.annotations).String())
	}
	if len(s.spec.Nodes) > 0 {
		parts = append(parts, "on nodes "+strings.Join(s.spec.Nodes, ", "))
	}
	if len(s.spec.PodPhaseSelectors) > 0 {
		parts = append(parts, "in phase "+strings.Join(s.spec.PodPhaseSelectors, ", "))
	}
	what := "every pod"
	if len(parts) > 0 {
		what = "pods with " + strings.Join(parts, ", ")
	}
	return what + " in namespace " + strings.Join(s.Namespaces(), ", ")
}

// matches applies the filters the API server cannot: annotations, nodes
// and phases.
func (s *PodSelector) matches(p *corev1.Pod) bool {
	for k, v := range s.annotations {
		if got, ok := p.Annotations[k]; !ok || got != v {
			return false
		}
	}
	if len(s.spec.Nodes) > 0 && !slices.Contains(s.spec.Nodes, p.Spec.NodeName) {
		return false
	}
	if len(s.spec.PodPhaseSelectors) > 0 && !slices.Contains(s.spec.PodPhaseSelectors, string(p.Status.Phase)) {
		return false
	}
	return true
}
