package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/aftershock/aftershock/experiments"
)

func init() { commands = append(commands, newRenderCommand) }

func newRenderCommand(g *globalOptions) *cobra.Command {
	var (
		o                              experiments.ScheduleOptions
		env, secretEnv                 []string
		cpuReq, cpuLim, memReq, memLim string
	)
	cmd := &cobra.Command{
		Use:   "render FILE...",
		Short: "Print the Chaos Mesh manifests of a Drill, or with --schedule a CronJob that runs drills in the cluster",
		Long: `Print the drill's networkChaos and httpChaos faults as Chaos Mesh
NetworkChaos and HTTPChaos objects, as written in the Drill file, each with
the fault's duration as its Chaos Mesh duration and labels naming the drill
and the fault. The file is checked for the cluster engine: selector and mode
are required. Stalled clients have no Chaos Mesh kind (they run from
aftershock itself), and Chaos Mesh cannot fault gRPC calls (grpcChaos runs
on aftershock's proxy engine only): such faults are named on stderr, with
why.

  aftershock render drill.yaml | kubectl apply -f -

With --schedule and --image, print instead what runs the drills (one file or
several) on that schedule inside their cluster, in their namespace: a
ServiceAccount, a Role granting exactly what a drill does with Chaos Mesh's
kinds (create, get, delete on networkchaos and httpchaos) and the Events it
records, its RoleBinding, a ConfigMap holding the drill files as written,
and one CronJob (batch/v1) whose Job runs "aftershock drill --context
in-cluster --artifacts /artifacts --per-run --output json" on all of them,
one after another (never two drills at once, never two runs at once), so
that they never spoil each other's baselines. The Job fails when a drill
does; the verdict is its pod's log, a short one (drill, verdict, culprits)
its termination message ("kubectl get pods" and alerts show why), and each
run's artifacts go to --artifacts-claim, at
/artifacts/<drill>/<UTC time>-<run ID>/, which "aftershock report -o
history.html /artifacts" reads back as history. The pod runs as 65532:65532
with fsGroup 65532 (the claim is writable), with resource requests and
limits, stopped after the drills' planned time plus --deadline-margin and
removed --ttl after it finished. The drills' ${VAR}s are expanded in the
pod, from --env, --secret-env (a secretKeyRef: the value never appears in
the manifest) and their defaults.

  aftershock render --schedule "0 3 * * *" --time-zone Europe/Berlin \
    --image registry.example/aftershock:v1 --artifacts-claim drills \
    --secret-env PPROF_TOKEN=pprof/token drills/*.yaml | kubectl apply -f -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("schedule") || cmd.Flags().Changed("image") {
				var err error
				if o.Resources, err = resources(cpuReq, cpuLim, memReq, memLim); err != nil {
					return withCode(exitBadInput, err)
				}
				return renderSchedule(cmd, g.output, args, o, env, secretEnv)
			}
			if len(args) > 1 {
				return withCode(exitBadInput, fmt.Errorf("render takes one drill file without --schedule (got %d): render each on its own", len(args)))
			}
			d, err := experiments.Load(args[0], experiments.ForRendering())
			if err != nil {
				return withCode(exitBadInput, err)
			}
			out, skipped, err := d.RenderYAML()
			if err != nil {
				return withCode(exitBadInput, err)
			}
			for _, s := range skipped {
				for i := range d.Spec.Faults {
					if f := &d.Spec.Faults[i]; f.Name == s {
						fmt.Fprintf(cmd.ErrOrStderr(), "aftershock: fault %s is not rendered: %s\n", s, f.Unrendered())
					}
				}
			}
			return writeManifests(cmd.OutOrStdout(), g.output, out)
		},
	}
	cmd.Flags().StringVar(&o.Schedule, "schedule", "", `run the drill in its cluster on this cron schedule, e.g. "0 3 * * *" (prints a CronJob and its RBAC)`)
	cmd.Flags().StringVar(&o.Image, "image", "", "with --schedule: a container image with the aftershock command in it")
	cmd.Flags().StringVar(&o.ArtifactsClaim, "artifacts-claim", "", "with --schedule: a PersistentVolumeClaim for the artifacts (default: the pod's own, gone with it)")
	cmd.Flags().StringArrayVar(&env, "env", nil, "with --schedule: NAME=VALUE for the drill's ${VAR}s in the pod (repeatable)")
	cmd.Flags().StringArrayVar(&secretEnv, "secret-env", nil, "with --schedule: NAME=SECRET/KEY, a ${VAR} read from a key of a Secret in the drills' namespace (repeatable; rendered as secretKeyRef)")
	cmd.Flags().StringVar(&o.Name, "name", "", `with --schedule: the CronJob's name (default "aftershock-" and the drills' names)`)
	cmd.Flags().StringVar(&o.TimeZone, "time-zone", "", `with --schedule: the schedule's time zone, e.g. "Europe/Berlin" (default: the cluster's, usually UTC)`)
	cmd.Flags().StringVar(&cpuReq, "cpu-request", experiments.DefaultResources.Requests.Cpu().String(), "with --schedule: the container's CPU request")
	cmd.Flags().StringVar(&cpuLim, "cpu-limit", experiments.DefaultResources.Limits.Cpu().String(), `with --schedule: the container's CPU limit ("" for none)`)
	cmd.Flags().StringVar(&memReq, "memory-request", experiments.DefaultResources.Requests.Memory().String(), "with --schedule: the container's memory request")
	cmd.Flags().StringVar(&memLim, "memory-limit", experiments.DefaultResources.Limits.Memory().String(), `with --schedule: the container's memory limit ("" for none)`)
	cmd.Flags().DurationVar(&o.DeadlineMargin, "deadline-margin", 10*time.Minute, "with --schedule: the Job's activeDeadlineSeconds is the drills' planned time plus this")
	cmd.Flags().DurationVar(&o.TTL, "ttl", 7*24*time.Hour, "with --schedule: how long a finished Job and its pod are kept (ttlSecondsAfterFinished)")
	cmd.Flags().StringVar(&o.MetricsPush, "metrics-push", "", "with --schedule: a Prometheus Pushgateway URL each run pushes its results to")
	return cmd
}

// resources builds the container's requests and limits from the flags;
// an empty value leaves that one out.
func resources(cpuReq, cpuLim, memReq, memLim string) (corev1.ResourceRequirements, error) {
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, q := range []struct {
		flag, value string
		list        corev1.ResourceList
		name        corev1.ResourceName
	}{
		{"--cpu-request", cpuReq, r.Requests, corev1.ResourceCPU},
		{"--cpu-limit", cpuLim, r.Limits, corev1.ResourceCPU},
		{"--memory-request", memReq, r.Requests, corev1.ResourceMemory},
		{"--memory-limit", memLim, r.Limits, corev1.ResourceMemory},
	} {
		if q.value == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.value)
		if err != nil {
			return r, fmt.Errorf("%s %q: %w (like 250m or 1 for CPU, 256Mi for memory)", q.flag, q.value, err)
		}
		q.list[q.name] = v
	}
	for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okr := r.Requests[n]
		lim, okl := r.Limits[n]
		if okr && okl && req.Cmp(lim) > 0 {
			return r, fmt.Errorf("%s request %s is more than its limit %s", n, req.String(), lim.String())
		}
	}
	return r, nil
}

// renderSchedule prints what runs the drills on a schedule in their
// cluster. Each drill is loaded as the pod will see it: its ${VAR}s from
// --env, --secret-env (their values unknown here) and their defaults only,
// not from this shell's environment.
func renderSchedule(cmd *cobra.Command, output string, files []string, o experiments.ScheduleOptions, env, secretEnv []string) error {
	o.Env = map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return withCode(exitBadInput, fmt.Errorf("--env %q: want NAME=VALUE", kv))
		}
		o.Env[k] = v
	}
	o.SecretEnv = map[string]experiments.SecretKey{}
	for _, kv := range secretEnv {
		k, ref, ok := strings.Cut(kv, "=")
		secret, key, ok2 := strings.Cut(ref, "/")
		if !ok || !ok2 || k == "" || secret == "" || key == "" {
			return withCode(exitBadInput, fmt.Errorf("--secret-env %q: want NAME=SECRET/KEY, a Secret in the drills' namespace and one of its keys", kv))
		}
		o.SecretEnv[k] = experiments.SecretKey{Secret: secret, Key: key}
	}
	lookup := func(name string) (string, bool) {
		if v, ok := o.Env[name]; ok {
			return v, true
		}
		if _, ok := o.SecretEnv[name]; ok {
			// Known only in the pod: a placeholder, so that the drill
			// checks here as it will there.
			return "secret", true
		}
		return "", false
	}
	var drills []experiments.ScheduledDrill
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return withCode(exitBadInput, err)
		}
		d, err := experiments.Parse(file, data, experiments.WithEngine(experiments.EngineChaosMesh), experiments.WithLookup(lookup))
		if err != nil {
			return withCode(exitBadInput, err)
		}
		drills = append(drills, experiments.ScheduledDrill{Drill: d, File: data})
	}
	s, err := experiments.ScheduleDrills(drills, o)
	if err != nil {
		return withCode(exitBadInput, err)
	}
	out, err := experiments.YAMLStream(s.Objects()...)
	if err != nil {
		return withCode(exitBadInput, err)
	}
	return writeManifests(cmd.OutOrStdout(), output, out)
}

// writeManifests prints a YAML stream of Kubernetes objects as it is, or
// with --output json as one JSON List of them (kubectl applies either).
func writeManifests(w io.Writer, output string, stream []byte) error {
	if output != "json" {
		_, err := w.Write(stream)
		return err
	}
	list := map[string]any{"apiVersion": "v1", "kind": "List", "items": []any{}}
	dec := yaml.NewDecoder(bytes.NewReader(stream))
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("re-read the manifests: %w", err)
		}
		if obj != nil {
			list["items"] = append(list["items"].([]any), obj)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(list)
}
