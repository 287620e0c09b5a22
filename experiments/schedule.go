package experiments

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/aftershock/aftershock/injectors/chaosmesh"
)

// ScheduleOptions say how drills run on a schedule inside their cluster.
type ScheduleOptions struct {
	// Schedule is the CronJob's schedule, in cron syntax ("0 3 * * *").
	Schedule string
	// TimeZone is the schedule's time zone, a tz database name
	// ("Europe/Berlin"); empty is the kube-controller-manager's (UTC on
	// most clusters).
	TimeZone string
	// Name names the CronJob and its RBAC; default "aftershock-" and the
	// drill's name, or the drills' names joined by "-" when they fit.
	Name string
	// Image is a container image with the aftershock command in it.
	Image string
	// Command runs aftershock in the image (default ["aftershock"]).
	Command []string
	// ArtifactsClaim names a PersistentVolumeClaim for the drills'
	// artifacts: each run writes /artifacts/<drill>/<UTC time>-<run ID>/,
	// which `aftershock report /artifacts` reads back as history. Without
	// one they live as long as the pod.
	ArtifactsClaim string
	// Env are environment variables of the container: the values of the
	// drills' ${VAR}s that have no default.
	Env map[string]string
	// SecretEnv are environment variables read from Secrets in the
	// drills' namespace (a pprof bearer token): rendered as secretKeyRef,
	// their values never appear in a manifest.
	SecretEnv map[string]SecretKey
	// Resources are the container's requests and limits; zero takes
	// DefaultResources (a namespace with a quota refuses a pod without).
	Resources corev1.ResourceRequirements
	// DeadlineMargin is added to the drills' planned time to make the
	// Job's activeDeadlineSeconds (default 10m): a run that hangs is
	// stopped (and its faults expire by their own duration).
	DeadlineMargin time.Duration
	// TTL is how long a finished Job and its pod are kept (default 7
	// days): long enough to read the verdict, not forever.
	TTL time.Duration
	// MetricsPush is a Prometheus Pushgateway URL each run pushes its
	// results to ("" for none).
	MetricsPush string
}

// SecretKey names one key of a Secret.
type SecretKey struct{ Secret, Key string }

// DefaultResources are the container's requests and limits when
// ScheduleOptions give none: a drill's runner is light (it polls pprof
// and drives the load), its load generator at most a core.
var DefaultResources = corev1.ResourceRequirements{
	Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
	Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
}

// Scheduled is what runs drills on a schedule in their cluster.
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

// ArtifactsDir is where a scheduled drill writes its artifacts in the
// pod; DrillDir is where it finds the drill files (DrillPath for one named
// drill); TerminationLog is the pod's termination message file.
const (
	ArtifactsDir   = "/artifacts"
	DrillDir       = "/etc/aftershock"
	TerminationLog = "/dev/termination-log"
	// RunAs is the user and group the pod runs as (distroless's nonroot);
	// it is also the fsGroup, so that the artifacts claim is writable.
	RunAs = 65532
)

// DrillPath is where the pod finds the drill named name.
func DrillPath(name string) string { return DrillDir + "/" + name + ".yaml" }

// PlannedTime is how long the drill is planned to take: its warmup, and
// per episode its faults' holds and the settle deadline, and those of its
// later cycles, stretched (verify.cycles; without it, the two that confirm
// a heap that grew, at most). Quiesce, baseline and captures come on top
// (a margin covers them).
func (d *Drill) PlannedTime() time.Duration {
	settle := DefaultSettle
	if d.Spec.Verify.Settle.Duration > 0 {
		settle = d.Spec.Verify.Settle.Duration
	}
	later := time.Duration(2)
	if c := d.Spec.Verify.Cycles; c > 0 {
		later = time.Duration(c - 1)
	}
	t := d.Spec.Warmup.Duration
	for _, e := range d.Episodes() {
		t += e.End() + settle + later*(e.Stretched().End()+settle)
	}
	return t
}

// ScheduledDrill is a drill to schedule and its file as written.
type ScheduledDrill struct {
	Drill *Drill
	File  []byte
}

// Schedule renders what runs the drill every o.Schedule: see
// ScheduleDrills.
func (d *Drill) Schedule(file []byte, o ScheduleOptions) (*Scheduled, error) {
	return ScheduleDrills([]ScheduledDrill{{d, file}}, o)
}

// ScheduleDrills renders what runs the drills every o.Schedule in their
// namespace, one after another in one pod, so that they never hit their
// services at once and spoil each other's baselines: a ServiceAccount; a
// Role granting exactly what the cluster engine does with the kinds it
// submits (chaosmesh.Verbs on chaosmesh.Resources), and nothing else; its
// RoleBinding; a ConfigMap holding each drill file as written (their
// ${VAR}s are expanded in the pod, from o.Env, o.SecretEnv and their
// defaults); and a CronJob (batch/v1) whose Job runs `aftershock drill
// --context in-cluster --artifacts /artifacts --per-run --output json
// --termination-log /dev/termination-log` on them once, never
// concurrently, so that the Job fails exactly when a drill does (its exit
// code), the verdict is in the pod's log and its termination message, and
// each run's artifacts in a directory of their own on o.ArtifactsClaim.
// The Job is stopped after the drills' planned time and o.DeadlineMargin,
// and removed o.TTL after it finished.
//
// The drills must be for the cluster they run in: their
// spec.cluster.context, as the pod sees it, is "in-cluster" (or unset),
// and in one namespace.
func ScheduleDrills(drills []ScheduledDrill, o ScheduleOptions) (*Scheduled, error) {
	var ps []string
	if len(drills) == 0 {
		ps = append(ps, "no drill to schedule")
	}
	var names []string
	seen := map[string]bool{}
	ns := ""
	var planned time.Duration
	for i, sd := range drills {
		d := sd.Drill
		if !d.NeedsCluster() {
			ps = append(ps, fmt.Sprintf("drill %s has no fault on engine chaos-mesh: it needs no cluster, and a CronJob would only run its local faults inside a pod", d.Metadata.Name))
		}
		if c := d.Spec.Cluster; c != nil && c.Context != "" && c.Context != chaosmesh.InCluster {
			ps = append(ps, fmt.Sprintf("%s: spec.cluster.context is %q in the pod: a scheduled drill runs against the cluster it runs in (%q); write ${KUBE_CONTEXT:-%s}",
				d.Where("spec.cluster.context"), c.Context, chaosmesh.InCluster, chaosmesh.InCluster))
		}
		if seen[d.Metadata.Name] {
			ps = append(ps, fmt.Sprintf("%s: two drills are named %s: their runs and artifacts would mix; rename one", d.Where("metadata.name"), d.Metadata.Name))
		}
		seen[d.Metadata.Name] = true
		names = append(names, d.Metadata.Name)
		dns := cmp.Or(d.Metadata.Namespace, "default")
		if i == 0 {
			ns = dns
		} else if dns != ns {
			ps = append(ps, fmt.Sprintf("%s: drill %s is in namespace %s, and drill %s in %s: one CronJob runs in one namespace; schedule them apart",
				d.Where("metadata.namespace"), d.Metadata.Name, dns, drills[0].Drill.Metadata.Name, ns))
		}
		if sel := d.PodSelector(); sel != nil {
			// A Role grants within its own namespace only.
			for _, pns := range sel.Namespaces() {
				if pns != dns {
					ps = append(ps, fmt.Sprintf("%s: the target's pods are in namespace %s, and the CronJob's Role grants reading pods in the drill's namespace %s only: run the drill in the pods' namespace (metadata.namespace)",
						d.Where("spec.target.pods.selector"), pns, dns))
				}
			}
		}
		planned += d.PlannedTime()
	}
	if o.Schedule == "" {
		ps = append(ps, "no schedule: give one in cron syntax, e.g. \"0 3 * * *\"")
	}
	if o.Image == "" {
		ps = append(ps, "no image: give a container image with the aftershock command in it")
	}
	name := o.Name
	if name == "" {
		name = "aftershock-" + strings.Join(names, "-")
		if len(drills) > 1 && len(name) > validation.DNS1123LabelMaxLength-11 {
			ps = append(ps, fmt.Sprintf("%q is too long a CronJob name (at most %d characters): give one with --name", name, validation.DNS1123LabelMaxLength-11))
			name = ""
		}
	}
	// A CronJob's name leaves 11 characters for its Jobs' suffix.
	if name != "" {
		if len(name) > validation.DNS1123LabelMaxLength-11 {
			ps = append(ps, fmt.Sprintf("%q is too long a CronJob name (at most %d characters): shorten metadata.name, or give a name", name, validation.DNS1123LabelMaxLength-11))
		} else if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			ps = append(ps, fmt.Sprintf("name %q: %s", name, strings.Join(errs, "; ")))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o.SecretEnv)) {
		if _, plain := o.Env[k]; plain {
			ps = append(ps, fmt.Sprintf("%s is given both as a value and from a secret: keep one", k))
		}
		if sk := o.SecretEnv[k]; sk.Secret == "" || sk.Key == "" {
			ps = append(ps, fmt.Sprintf("%s: want NAME=SECRET/KEY, naming a Secret in namespace %s and one of its keys", k, ns))
		}
	}
	if o.DeadlineMargin < 0 || o.TTL < 0 {
		ps = append(ps, "deadline margin and TTL cannot be negative")
	}
	if len(ps) > 0 {
		return nil, fmt.Errorf("schedule drills %s: %s", strings.Join(names, ", "), joinLines(ps))
	}
	labels := map[string]string{"app.kubernetes.io/name": "aftershock"}
	if len(drills) == 1 {
		labels[chaosmesh.LabelDrill] = names[0]
	}
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: maps.Clone(labels)}
	}
	files := map[string]string{}
	for _, sd := range drills {
		files[sd.Drill.Metadata.Name+".yaml"] = string(sd.File)
	}
	s := &Scheduled{
		ServiceAccount: &corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount"), ObjectMeta: meta()},
		Role: &rbacv1.Role{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "Role"), ObjectMeta: meta(),
			Rules: []rbacv1.PolicyRule{{
				APIGroups: []string{"chaos-mesh.org"},
				Resources: slices.Clone(chaosmesh.Resources),
				Verbs:     slices.Clone(chaosmesh.Verbs),
			}, {
				// The verdict of each run, as an Event on the namespace.
				APIGroups: []string{""},
				Resources: []string{"events"},
				Verbs:     []string{"create"},
			}}},
		RoleBinding: &rbacv1.RoleBinding{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "RoleBinding"), ObjectMeta: meta(),
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}}},
		ConfigMap: &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: meta(), Data: files},
	}
	for _, sd := range drills {
		if sd.Drill.Spec.Target.Pods != nil {
			// In its cluster the drill reads the pods by their IPs.
			s.Role.Rules = append(s.Role.Rules, chaosmesh.PodRules(chaosmesh.ReachDirect)...)
			break
		}
	}
	artifacts := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	if o.ArtifactsClaim != "" {
		artifacts = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: o.ArtifactsClaim}}
	}
	var env []corev1.EnvVar
	for _, k := range slices.Sorted(maps.Keys(o.Env)) {
		env = append(env, corev1.EnvVar{Name: k, Value: o.Env[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(o.SecretEnv)) {
		sk := o.SecretEnv[k]
		env = append(env, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: sk.Secret}, Key: sk.Key}}})
	}
	command := o.Command
	if len(command) == 0 {
		command = []string{"aftershock"}
	}
	args := []string{"drill", "--context", chaosmesh.InCluster, "--artifacts", ArtifactsDir, "--per-run",
		"--output", "json", "--termination-log", TerminationLog}
	if o.MetricsPush != "" {
		args = append(args, "--metrics-push", o.MetricsPush)
	}
	for _, n := range names {
		args = append(args, DrillPath(n))
	}
	resources := o.Resources
	if resources.Requests == nil && resources.Limits == nil {
		resources = *DefaultResources.DeepCopy()
	}
	container := corev1.Container{
		Name:      "drill",
		Image:     o.Image,
		Command:   command,
		Args:      args,
		Env:       env,
		Resources: resources,
		VolumeMounts: []corev1.VolumeMount{
			{Name: "drill", MountPath: DrillDir, ReadOnly: true},
			{Name: "artifacts", MountPath: ArtifactsDir},
		},
		// aftershock writes a short verdict (drill, verdict, culprits) to
		// the termination log; should it die before, the log's tail.
		TerminationMessagePath:   TerminationLog,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To[int64](RunAs),
			RunAsGroup:               ptr.To[int64](RunAs),
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	margin := cmp.Or(o.DeadlineMargin, 10*time.Minute)
	ttl := cmp.Or(o.TTL, 7*24*time.Hour)
	var tz *string
	if o.TimeZone != "" {
		tz = ptr.To(o.TimeZone)
	}
	s.CronJob = &batchv1.CronJob{TypeMeta: typeMeta("batch/v1", "CronJob"), ObjectMeta: meta(),
		Spec: batchv1.CronJobSpec{
			Schedule:                   o.Schedule,
			TimeZone:                   tz,
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			SuccessfulJobsHistoryLimit: ptr.To[int32](3),
			FailedJobsHistoryLimit:     ptr.To[int32](3),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels)},
				Spec: batchv1.JobSpec{
					// A failed drill is a verdict, not a flake: no retry.
					BackoffLimit:            ptr.To[int32](0),
					ActiveDeadlineSeconds:   ptr.To(int64((planned + margin).Seconds())),
					TTLSecondsAfterFinished: ptr.To(int32(ttl.Seconds())),
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels)},
						Spec: corev1.PodSpec{
							ServiceAccountName: name,
							RestartPolicy:      corev1.RestartPolicyNever,
							// fsGroup: the artifacts claim is writable by
							// the non-root user, whoever formatted it.
							SecurityContext: &corev1.PodSecurityContext{
								RunAsNonRoot: ptr.To(true),
								RunAsUser:    ptr.To[int64](RunAs),
								RunAsGroup:   ptr.To[int64](RunAs),
								FSGroup:      ptr.To[int64](RunAs),
							},
							Containers: []corev1.Container{container},
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
