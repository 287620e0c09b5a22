package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/spf13/cobra"

	"github.com/aftershock/aftershock/experiments"
)

func init() { commands = append(commands, newRenderCommand) }

func newRenderCommand(g *globalOptions) *cobra.Command {
	var (
		o   experiments.ScheduleOptions
		env []string
	)
	cmd := &cobra.Command{
		Use:   "render FILE",
		Short: "Print the Chaos Mesh manifests of a Drill, or with --schedule a CronJob that runs it in the cluster",
		Long: `Print the drill's networkChaos and httpChaos faults as Chaos Mesh
NetworkChaos and HTTPChaos objects, as written in the Drill file, each with
the fault's duration as its Chaos Mesh duration and labels naming the drill
and the fault. The file is checked for the cluster engine: selector and mode
are required. Stalled clients have no Chaos Mesh kind (they run from
aftershock itself), and Chaos Mesh cannot fault gRPC calls (grpcChaos runs
on aftershock's proxy engine only): such faults are named on stderr, with
why.

  aftershock render drill.yaml | kubectl apply -f -

With --schedule and --image, print instead what runs the drill on that
schedule inside its cluster, in the drill's namespace: a ServiceAccount, a
Role granting exactly what a drill does with Chaos Mesh's kinds (create,
get, delete on networkchaos and httpchaos), its RoleBinding, a ConfigMap
holding the drill file as written, and a CronJob (batch/v1) whose Job runs
"aftershock drill --context in-cluster --artifacts /artifacts --output
json" on it once, never two at a time: the Job fails when the drill does,
the verdict is its pod's log, the artifacts go to --artifacts-claim. The
drill's ${VAR}s are expanded in the pod, from --env and their defaults.

  aftershock render --schedule "0 3 * * *" --image registry.example/aftershock:v1 drill.yaml | kubectl apply -f -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("schedule") || cmd.Flags().Changed("image") {
				return renderSchedule(cmd, g.output, args[0], o, env)
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
	return cmd
}

// renderSchedule prints what runs the drill on a schedule in its cluster.
// The drill is loaded as the pod will see it: its ${VAR}s from --env and
// their defaults only, not from this shell's environment.
func renderSchedule(cmd *cobra.Command, output, file string, o experiments.ScheduleOptions, env []string) error {
	o.Env = map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return withCode(exitBadInput, fmt.Errorf("--env %q: want NAME=VALUE", kv))
		}
		o.Env[k] = v
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return withCode(exitBadInput, err)
	}
	d, err := experiments.Parse(file, data, experiments.WithEngine(experiments.EngineChaosMesh), experiments.WithLookup(func(name string) (string, bool) { v, ok := o.Env[name]; return v, ok }))
	if err != nil {
		return withCode(exitBadInput, err)
	}
	s, err := d.Schedule(data, o)
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
