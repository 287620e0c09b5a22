package experiments

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/aftershock/aftershock/injectors/chaosmesh"
)

// ScheduleOptions say how a drill runs on a schedule inside its cluster.
type ScheduleOptions struct {
	// Schedule is the CronJob's schedule, in cron syntax ("0 3 * * *").
	Schedule string
	// Image is a container image with the aftershock command in it.
	Image string
	// Command runs aftershock in the image (default ["aftershock"]).
	Command []string
	// ArtifactsClaim names a PersistentVolumeClaim for the drill's
	// artifacts (bundles, journal.json); without one they live as long as
	// the pod, and the verdict is in its log (--output json).
	ArtifactsClaim string
	// Env are environment variables of the container: the values of the
	// drill's ${VAR}s that have no default.
	Env map[string]string
}

// Scheduled is what runs a drill on a schedule in its cluster.
type Scheduled struct {
	ServiceAccount *corev1.ServiceAccount
	Role           *rbacv1.Role
	RoleBinding    *rbacv1.RoleBinding
	ConfigMap      *corev1.ConfigMap
	CronJob        *batchv1.CronJob
}

// Objects lists them in the order kubectl should apply them.
func (s *Scheduled) Objects() []any {
	return []any{s.ServiceAccount, s.Role, s.RoleBinding, s.ConfigMap, s.CronJob}
}

// ArtifactsDir is where the scheduled drill writes its artifacts in the
// pod; DrillPath is where it finds the drill file.
const (
	ArtifactsDir = "/artifacts"
	DrillPath    = "/etc/aftershock/drill.yaml"
)

// Schedule renders what runs the drill every o.Schedule in its namespace:
// a ServiceAccount; a Role granting exactly what the cluster engine does
// with the kinds it submits (chaosmesh.Verbs on chaosmesh.Resources), and
// nothing else; its RoleBinding; a ConfigMap holding file, the drill as
// written (its ${VAR}s are expanded in the pod, from o.Env and their
// defaults); and a CronJob (batch/v1) whose Job runs `aftershock drill
// --context in-cluster --artifacts /artifacts --output json` once, never
// concurrently, so that the Job fails exactly when the drill does (its
// exit code), the verdict is in the pod's log and the artifacts in
// o.ArtifactsClaim.
//
// The drill must be for the cluster it runs in: its spec.cluster.context,
// as the pod sees it, is "in-cluster" (or unset).
func (d *Drill) Schedule(file []byte, o ScheduleOptions) (*Scheduled, error) {
	var ps []string
	if !d.NeedsCluster() {
		ps = append(ps, "the drill has no fault on engine chaos-mesh: it needs no cluster, and a CronJob would only run its local faults inside a pod")
	}
	ns := cmp.Or(d.Metadata.Namespace, "default")
	if sel := d.PodSelector(); sel != nil {
		// A Role grants within its own namespace only.
		for _, pns := range sel.Namespaces() {
			if pns != ns {
				ps = append(ps, fmt.Sprintf("%s: the target's pods are in namespace %s, and the CronJob's Role grants reading pods in the drill's namespace %s only: run the drill in the pods' namespace (metadata.namespace)",
					d.Where("spec.target.pods.selector"), pns, ns))
			}
		}
	}
	if c := d.Spec.Cluster; c != nil && c.Context != "" && c.Context != chaosmesh.InCluster {
		ps = append(ps, fmt.Sprintf("%s: spec.cluster.context is %q in the pod: a scheduled drill runs against the cluster it runs in (%q); write ${KUBE_CONTEXT:-%s}",
			d.Where("spec.cluster.context"), c.Context, chaosmesh.InCluster, chaosmesh.InCluster))
	}
	if o.Schedule == "" {
		ps = append(ps, "no schedule: give one in cron syntax, e.g. \"0 3 * * *\"")
	}
	if o.Image == "" {
		ps = append(ps, "no image: give a container image with the aftershock command in it")
	}
	name := "aftershock-" + d.Metadata.Name
	// A CronJob's name leaves 11 characters for its Jobs' suffix.
	if len(name) > validation.DNS1123LabelMaxLength-11 {
		ps = append(ps, fmt.Sprintf("%q is too long a CronJob name (at most %d characters): shorten metadata.name", name, validation.DNS1123LabelMaxLength-11))
	}
	if len(ps) > 0 {
		return nil, fmt.Errorf("schedule drill %s: %s", d.Metadata.Name, joinLines(ps))
	}
	labels := map[string]string{chaosmesh.LabelDrill: d.Metadata.Name, "app.kubernetes.io/name": "aftershock"}
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: maps.Clone(labels)}
	}
	s := &Scheduled{
		ServiceAccount: &corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount"), ObjectMeta: meta()},
		Role: &rbacv1.Role{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "Role"), ObjectMeta: meta(),
			Rules: []rbacv1.PolicyRule{{
				APIGroups: []string{"chaos-mesh.org"},
				Resources: slices.Clone(chaosmesh.Resources),
				Verbs:     slices.Clone(chaosmesh.Verbs),
			}}},
		RoleBinding: &rbacv1.RoleBinding{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "RoleBinding"), ObjectMeta: meta(),
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}}},
		ConfigMap: &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: meta(),
			Data: map[string]string{"drill.yaml": string(file)}},
	}
	if d.Spec.Target.Pods != nil {
		// In its cluster the drill reads the pods by their IPs.
		s.Role.Rules = append(s.Role.Rules, chaosmesh.PodRules(chaosmesh.ReachDirect)...)
	}
	artifacts := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	if o.ArtifactsClaim != "" {
		artifacts = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: o.ArtifactsClaim}}
	}
	var env []corev1.EnvVar
	for _, k := range slices.Sorted(maps.Keys(o.Env)) {
		env = append(env, corev1.EnvVar{Name: k, Value: o.Env[k]})
	}
	command := o.Command
	if len(command) == 0 {
		command = []string{"aftershock"}
	}
	container := corev1.Container{
		Name:    "drill",
		Image:   o.Image,
		Command: command,
		Args: []string{"drill", "--context", chaosmesh.InCluster, "--artifacts", ArtifactsDir,
			"--output", "json", DrillPath},
		Env: env,
		VolumeMounts: []corev1.VolumeMount{
			{Name: "drill", MountPath: "/etc/aftershock", ReadOnly: true},
			{Name: "artifacts", MountPath: ArtifactsDir},
		},
		// The verdict's last lines are the pod's termination message.
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To[int64](65532),
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	s.CronJob = &batchv1.CronJob{TypeMeta: typeMeta("batch/v1", "CronJob"), ObjectMeta: meta(),
		Spec: batchv1.CronJobSpec{
			Schedule:                   o.Schedule,
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			SuccessfulJobsHistoryLimit: ptr.To[int32](3),
			FailedJobsHistoryLimit:     ptr.To[int32](3),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels)},
				Spec: batchv1.JobSpec{
					// A failed drill is a verdict, not a flake: no retry.
					BackoffLimit: ptr.To[int32](0),
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels)},
						Spec: corev1.PodSpec{
							ServiceAccountName: name,
							RestartPolicy:      corev1.RestartPolicyNever,
							Containers:         []corev1.Container{container},
							Volumes: []corev1.Volume{
								{Name: "drill", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
									LocalObjectReference: corev1.LocalObjectReference{Name: name}}}},
								{Name: "artifacts", VolumeSource: artifacts},
							},
						},
					},
				},
			},
		}}
	return s, nil
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func joinLines(ps []string) string {
	out := ""
	for i, p := range ps {
		if i > 0 {
			out += "; "
		}
		out += p
	}
	return out
}
