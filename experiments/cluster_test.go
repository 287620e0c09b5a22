package experiments_test

import (
	"bytes"
	"cmp"
	"context"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
		// What the cluster engine does with the kinds it submits, and
		// finding the shop's pods (read by pod IP in the cluster).
		role := objs[1].(*rbacv1.Role)
		last := role.Rules[len(role.Rules)-1]
		if len(role.Rules) < 2 || !slices.Equal(role.Rules[0].Verbs, chaosmesh.Verbs) || !slices.Equal(role.Rules[0].Resources, chaosmesh.Resources) ||
			!slices.Equal(role.Rules[0].APIGroups, []string{"chaos-mesh.org"}) ||
			!slices.Equal(last.Resources, []string{"pods"}) || !slices.Equal(last.Verbs, []string{"get", "list"}) {
			t.Errorf("%s: role rules %+v, want exactly %v on %v, and get, list on pods", name, role.Rules, chaosmesh.Verbs, chaosmesh.Resources)
		}
		cj := objs[4].(*batchv1.CronJob)
		pod := cj.Spec.JobTemplate.Spec.Template.Spec
		if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent || *cj.Spec.JobTemplate.Spec.BackoffLimit != 0 || pod.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("%s: the job may run twice or retry a verdict: %+v", name, cj.Spec)
		}
		dn := parseInPod(t, name, data).Metadata.Name
		if args := strings.Join(pod.Containers[0].Args, " "); args != "drill --context in-cluster --artifacts /artifacts --per-run --output json --termination-log /dev/termination-log /etc/aftershock/"+dn+".yaml" {
			t.Errorf("%s: args %q", name, args)
		}
		if objs[3].(*corev1.ConfigMap).Data[dn+".yaml"] != string(data) {
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

// TestScheduledDrillsProduction: two drills on one schedule are one
// CronJob whose Job runs both, one after the other, shaped for a
// production cluster (fsGroup, resources, deadline from the drills'
// planned time, TTL, time zone, secrets by reference, a termination
// message of aftershock's own), and the real API server accepts it.
func TestScheduledDrillsProduction(t *testing.T) {
	files := clusterDrills(t)
	var drills []experiments.ScheduledDrill
	var planned time.Duration
	for _, name := range []string{"partition.yaml", "slow-upstream.yaml"} {
		data, ok := files[name]
		if !ok {
			t.Fatalf("no shipped drill %s", name)
		}
		d := parseInPod(t, name, data)
		planned += d.PlannedTime()
		drills = append(drills, experiments.ScheduledDrill{Drill: d, File: data})
	}
	if planned <= 0 {
		t.Fatalf("planned time %s", planned)
	}
	o := experiments.ScheduleOptions{Schedule: "0 3 * * *", TimeZone: "Europe/Berlin", Image: "registry.example/aftershock:v1",
		ArtifactsClaim: "drills", DeadlineMargin: 5 * time.Minute, TTL: 24 * time.Hour,
		SecretEnv:   map[string]experiments.SecretKey{"PPROF_TOKEN": {Secret: "pprof", Key: "token"}},
		Env:         map[string]string{"SETTLE": "40s"},
		MetricsPush: "http://pushgateway.monitoring:9091"}
	s, err := experiments.ScheduleDrills(drills, o)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := experiments.YAMLStream(s.Objects()...)
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeStrict(t, stream)
	var cronjobs []*batchv1.CronJob
	for _, o := range objs {
		if cj, ok := o.(*batchv1.CronJob); ok {
			cronjobs = append(cronjobs, cj)
		}
	}
	if len(cronjobs) != 1 {
		t.Fatalf("%d CronJobs for two drills, want exactly one", len(cronjobs))
	}
	cj := cronjobs[0]
	job := cj.Spec.JobTemplate.Spec
	pod := job.Template.Spec
	c := pod.Containers[0]
	args := strings.Join(c.Args, " ")
	a, b := strings.Index(args, "/etc/aftershock/"+drills[0].Drill.Metadata.Name+".yaml"), strings.Index(args, "/etc/aftershock/"+drills[1].Drill.Metadata.Name+".yaml")
	if a < 0 || b < a || !strings.Contains(args, "--per-run") || !strings.Contains(args, "--termination-log /dev/termination-log") ||
		!strings.Contains(args, "--metrics-push http://pushgateway.monitoring:9091") {
		t.Errorf("args %q: want both drills in order, --per-run, --termination-log and --metrics-push", args)
	}
	cm := objs[3].(*corev1.ConfigMap)
	for _, sd := range drills {
		if cm.Data[sd.Drill.Metadata.Name+".yaml"] != string(sd.File) {
			t.Errorf("the config map does not hold drill %s as written", sd.Drill.Metadata.Name)
		}
	}
	if pod.SecurityContext == nil || pod.SecurityContext.FSGroup == nil || *pod.SecurityContext.FSGroup != experiments.RunAs {
		t.Errorf("pod security context %+v: want fsGroup %d", pod.SecurityContext, experiments.RunAs)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want requests and a memory limit", c.Resources)
	}
	if want := int64((planned + 5*time.Minute).Seconds()); job.ActiveDeadlineSeconds == nil || *job.ActiveDeadlineSeconds != want {
		t.Errorf("activeDeadlineSeconds %v, want the drills' planned %s + 5m = %d", job.ActiveDeadlineSeconds, planned, want)
	}
	if job.TTLSecondsAfterFinished == nil || *job.TTLSecondsAfterFinished != 86400 {
		t.Errorf("ttlSecondsAfterFinished %v, want 86400", job.TTLSecondsAfterFinished)
	}
	if cj.Spec.TimeZone == nil || *cj.Spec.TimeZone != "Europe/Berlin" {
		t.Errorf("timeZone %v", cj.Spec.TimeZone)
	}
	if c.TerminationMessagePath != "/dev/termination-log" {
		t.Errorf("terminationMessagePath %q", c.TerminationMessagePath)
	}
	var secret, plain bool
	for _, e := range c.Env {
		switch e.Name {
		case "PPROF_TOKEN":
			secret = e.Value == "" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
				e.ValueFrom.SecretKeyRef.Name == "pprof" && e.ValueFrom.SecretKeyRef.Key == "token"
		case "SETTLE":
			plain = e.Value == "40s"
		}
	}
	if !secret || !plain {
		t.Errorf("env %+v: want PPROF_TOKEN from secretKeyRef pprof/token, SETTLE=40s", c.Env)
	}
	// The real API server's validation of batch/v1 (time zone,
	// deadlines, security context) and rbac/v1.
	k := kubetest.Start(t)
	ctx := context.Background()
	ns := cmp.Or(drills[0].Drill.Metadata.Namespace, "default")
	if ns != "default" {
		if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	for _, o := range objs {
		if err := k.Client.Create(ctx, o, client.DryRunAll); err != nil {
			t.Errorf("the server refuses %s %s: %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
	}
	// Two drills of one name would mix their runs.
	if _, err := experiments.ScheduleDrills([]experiments.ScheduledDrill{drills[0], drills[0]}, o); err == nil || !strings.Contains(err.Error(), "two drills are named") {
		t.Errorf("the same drill twice: %v", err)
	}
}
