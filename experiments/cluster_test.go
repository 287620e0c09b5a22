package experiments_test

import (
	"bytes"
	"context"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/fixtures/kubetest"
	"github.com/aftershock/aftershock/injectors/chaosmesh"
)

// clusterDrills loads the shipped cluster drills as a pod sees them: every
// ${VAR} at its default.
func clusterDrills(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	entries, err := fs.ReadDir(experiments.ClusterFS, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := fs.ReadFile(experiments.ClusterFS, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = data
	}
	if len(files) != 3 {
		t.Fatalf("%d shipped cluster drills, want 3 (partition, slow upstream, 503 storm)", len(files))
	}
	return files
}

func parseInPod(t *testing.T, name string, data []byte) *experiments.Drill {
	t.Helper()
	d, err := experiments.Parse(name, data, experiments.WithEngine(experiments.EngineChaosMesh),
		experiments.WithLookup(func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// decodeStrict decodes each document of a YAML stream into the typed
// object of its kind, refusing unknown fields.
func decodeStrict(t *testing.T, stream []byte) []client.Object {
	t.Helper()
	var out []client.Object
	for _, doc := range bytes.Split(stream, []byte("---\n")) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			t.Fatal(err)
		}
		var o client.Object
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 ServiceAccount":
			o = &corev1.ServiceAccount{}
		case "v1 ConfigMap":
			o = &corev1.ConfigMap{}
		case "rbac.authorization.k8s.io/v1 Role":
			o = &rbacv1.Role{}
		case "rbac.authorization.k8s.io/v1 RoleBinding":
			o = &rbacv1.RoleBinding{}
		case "batch/v1 CronJob":
			o = &batchv1.CronJob{}
		case "chaos-mesh.org/v1alpha1 NetworkChaos":
			o = &v1alpha1.NetworkChaos{}
		case "chaos-mesh.org/v1alpha1 HTTPChaos":
			o = &v1alpha1.HTTPChaos{}
		default:
			t.Fatalf("unexpected kind %s %s:\n%s", tm.APIVersion, tm.Kind, doc)
		}
		if err := yaml.UnmarshalStrict(doc, o); err != nil {
			t.Fatalf("%s does not decode strictly: %v\n%s", tm.Kind, err, doc)
		}
		out = append(out, o)
	}
	return out
}

// TestScheduledDrillManifests: what `render --schedule` prints decodes
// strictly as batch/v1 and rbac/v1, the Role grants exactly what the
// cluster engine does, and the Job runs the drill in the cluster once.
func TestScheduledDrillManifests(t *testing.T) {
	for name, data := range clusterDrills(t) {
		s, err := parseInPod(t, name, data).Schedule(data, experiments.ScheduleOptions{Schedule: "0 3 * * *", Image: "registry.example/aftershock:v1"})
		if err != nil {
			t.Fatal(err)
		}
		stream, err := experiments.YAMLStream(s.Objects()...)
		if err != nil {
			t.Fatal(err)
		}
		objs := decodeStrict(t, stream)
		if len(objs) != 5 {
			t.Fatalf("%s: %d objects, want 5", name, len(objs))
		}
		role := objs[1].(*rbacv1.Role)
		if len(role.Rules) != 1 || !slices.Equal(role.Rules[0].Verbs, chaosmesh.Verbs) || !slices.Equal(role.Rules[0].Resources, chaosmesh.Resources) ||
			!slices.Equal(role.Rules[0].APIGroups, []string{"chaos-mesh.org"}) {
			t.Errorf("%s: role rules %+v, want exactly %v on %v", name, role.Rules, chaosmesh.Verbs, chaosmesh.Resources)
		}
		cj := objs[4].(*batchv1.CronJob)
		pod := cj.Spec.JobTemplate.Spec.Template.Spec
		if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent || *cj.Spec.JobTemplate.Spec.BackoffLimit != 0 || pod.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("%s: the job may run twice or retry a verdict: %+v", name, cj.Spec)
		}
		if args := strings.Join(pod.Containers[0].Args, " "); args != "drill --context in-cluster --artifacts /artifacts --output json /etc/aftershock/drill.yaml" {
			t.Errorf("%s: args %q", name, args)
		}
		if objs[3].(*corev1.ConfigMap).Data["drill.yaml"] != string(data) {
			t.Errorf("%s: the config map does not hold the drill as written", name)
		}
	}
	// A drill for another cluster cannot be scheduled in this one.
	data := clusterDrills(t)["partition.yaml"]
	d, err := experiments.Parse("partition.yaml", data, experiments.WithEngine(experiments.EngineChaosMesh), experiments.WithVars(map[string]string{"KUBE_CONTEXT": "staging"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Schedule(data, experiments.ScheduleOptions{Schedule: "@daily", Image: "x"}); err == nil || !strings.Contains(err.Error(), `spec.cluster.context is "staging" in the pod`) {
		t.Errorf("scheduling a drill for context staging: %v", err)
	}
}

// TestClusterManifestsOnTheAPIServer: every shipped cluster drill renders
// Chaos Mesh objects the API server accepts with Chaos Mesh's CRD schema
// (created, not only decoded), and manifests to schedule it that the API
// server's own validation of batch/v1 and rbac/v1 accepts; a schedule it
// cannot parse is refused with the server's message.
func TestClusterManifestsOnTheAPIServer(t *testing.T) {
	k := kubetest.Start(t)
	ctx := context.Background()
	if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	for name, data := range clusterDrills(t) {
		d := parseInPod(t, name, data)
		stream, _, err := d.RenderYAML()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range decodeStrict(t, stream) {
			if err := k.Client.Create(ctx, o); err != nil {
				t.Errorf("%s: the server refuses %s: %v", name, o.GetName(), err)
				continue
			}
			if err := k.Client.Delete(ctx, o); err != nil {
				t.Error(err)
			}
		}
		s, err := d.Schedule(data, experiments.ScheduleOptions{Schedule: "0 3 * * *", Image: "registry.example/aftershock:v1", ArtifactsClaim: "drills"})
		if err != nil {
			t.Fatal(err)
		}
		stream, err = experiments.YAMLStream(s.Objects()...)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range decodeStrict(t, stream) {
			if err := k.Client.Create(ctx, o, client.DryRunAll); err != nil {
				t.Errorf("%s: the server refuses %s %s: %v", name, o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
			}
		}
	}
	d := parseInPod(t, "partition.yaml", clusterDrills(t)["partition.yaml"])
	s, err := d.Schedule(nil, experiments.ScheduleOptions{Schedule: "at three every night", Image: "x"})
	if err != nil {
		t.Fatal(err)
	}
	err = k.Client.Create(ctx, s.CronJob, client.DryRunAll)
	if err == nil || !strings.Contains(err.Error(), "spec.schedule") {
		t.Fatalf("a schedule the server cannot parse: %v", err)
	}
	t.Logf("refused: %v", err)
}
