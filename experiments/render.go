package experiments

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"strings"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/aftershock/aftershock/injectors/chaosmesh"
)

// Labels the cluster engine puts on every Chaos Mesh object it renders, so
// that a later cleanup can find what a dead run left behind.
const (
	LabelDrill = chaosmesh.LabelDrill
	LabelFault = chaosmesh.LabelFault
)

// Manifests renders the drill's network and HTTP faults as the Chaos Mesh
// objects a cluster receives: the fault blocks as written, with the fault's
// duration as Chaos Mesh's own duration (the lease: Chaos Mesh removes the
// fault when it runs out, whatever happens to the runner). Stalled clients
// have no Chaos Mesh kind: they run from aftershock itself, and skipped
// names them.
//
// Load the drill with WithEngine(EngineChaosMesh) first, so that the
// fields a cluster needs (selector, mode) are checked.
func (d *Drill) Manifests() (objects []any, skipped []string) {
	for i := range d.Spec.Faults {
		f := &d.Spec.Faults[i]
		meta := metav1.ObjectMeta{
			Name:        objectName(d.Metadata.Name, f.Name),
			Namespace:   d.Metadata.Namespace,
			Labels:      maps.Clone(d.Metadata.Labels),
			Annotations: maps.Clone(d.Metadata.Annotations),
		}
		if meta.Labels == nil {
			meta.Labels = map[string]string{}
		}
		// aftershock's own labels last: loading refuses a drill that sets
		// them, and here they win anyway.
		meta.Labels[LabelDrill], meta.Labels[LabelFault] = d.Metadata.Name, f.Name
		dur := f.Duration.String()
		switch f.Kind() {
		case KindNetwork:
			spec := *f.NetworkChaos.DeepCopy()
			spec.Duration = &dur
			objects = append(objects, &v1alpha1.NetworkChaos{
				TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.KindNetworkChaos},
				ObjectMeta: meta,
				Spec:       spec,
			})
		case KindHTTP:
			spec := *f.HTTPChaos.DeepCopy()
			spec.Duration = &dur
			objects = append(objects, &v1alpha1.HTTPChaos{
				TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: v1alpha1.KindHTTPChaos},
				ObjectMeta: meta,
				Spec:       spec,
			})
		default:
			skipped = append(skipped, f.Name)
		}
	}
	return objects, skipped
}

// Unrendered says why a fault has no Chaos Mesh object.
func (f *Fault) Unrendered() string {
	switch f.Kind() {
	case KindGRPC:
		return "Chaos Mesh cannot fault gRPC calls (its HTTPChaos speaks HTTP/1 only; chaos-mesh#2611): grpcChaos runs on aftershock's proxy engine only"
	case KindStall:
		return "stalled clients have no Chaos Mesh kind: they run from aftershock itself"
	}
	return "it has no Chaos Mesh kind"
}

// NeedsCluster reports whether the drill needs a cluster, so that Run
// needs WithCluster: a fault runs on engine chaos-mesh, or the target is
// pods (found through the API server).
func (d *Drill) NeedsCluster() bool {
	return d.Spec.Target.Pods != nil || d.HasClusterFaults()
}

// HasClusterFaults reports whether any fault runs on engine chaos-mesh.
func (d *Drill) HasClusterFaults() bool {
	for i := range d.Spec.Faults {
		if d.Spec.Faults[i].Engine == EngineChaosMesh {
			return true
		}
	}
	return false
}

// chaosObjects maps each network and HTTP fault's name to its Chaos Mesh
// object, in the namespace "default" when the drill names none.
// ChaosObjects are the drill's Chaos Mesh objects by fault name, in their
// namespace ("default" when the drill names none): what the cluster
// engine submits.
func (d *Drill) ChaosObjects() map[string]chaosmesh.Chaos {
	objs, _ := d.Manifests()
	out := make(map[string]chaosmesh.Chaos, len(objs))
	for _, o := range objs {
		c, ok := o.(chaosmesh.Chaos)
		if !ok {
			continue
		}
		if c.GetNamespace() == "" {
			c.SetNamespace("default")
		}
		out[c.GetLabels()[LabelFault]] = c
	}
	return out
}

// RenderYAML writes the manifests as one multi-document YAML stream,
// ready for `kubectl apply -f -`.
func (d *Drill) RenderYAML() ([]byte, []string, error) {
	objs, skipped := d.Manifests()
	out, err := YAMLStream(objs...)
	if err != nil {
		return nil, nil, fmt.Errorf("render %s: %w", d.Metadata.Name, err)
	}
	return out, skipped, nil
}

// YAMLStream writes objects as one multi-document YAML stream, leaving out
// the status (and the creation timestamp) a cluster fills in.
func YAMLStream(objs ...any) ([]byte, error) {
	var out []byte
	for i, o := range objs {
		// Through a map, to leave out what a cluster fills in.
		b, err := yaml.Marshal(o)
		var m map[string]any
		if err == nil {
			err = yaml.Unmarshal(b, &m)
		}
		if err == nil {
			delete(m, "status")
			if meta, ok := m["metadata"].(map[string]any); ok && meta["creationTimestamp"] == nil {
				delete(meta, "creationTimestamp")
			}
			b, err = yaml.Marshal(m)
		}
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out = append(out, "---\n"...)
		}
		out = append(out, b...)
	}
	return out, nil
}

// objectName names a fault's object: readable, and never the same for two
// drill/fault pairs (a-b/c and a/b-c, or two long names that share their
// first 63 characters): a hash of the pair ends it.
func objectName(drill, fault string) string {
	sum := sha256.Sum256([]byte(drill + "\x00" + fault))
	n := strings.TrimRight(truncate(drill+"-"+fault, 63-7), "-")
	return n + "-" + hex.EncodeToString(sum[:])[:6]
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
