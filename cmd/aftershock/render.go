package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aftershock/aftershock/experiments"
)

func init() { commands = append(commands, newRenderCommand) }

func newRenderCommand(*globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "render FILE",
		Short: "Print the Chaos Mesh manifests of a Drill (kubectl-ready YAML)",
		Long: `Print the drill's networkChaos and httpChaos faults as Chaos Mesh
NetworkChaos and HTTPChaos objects, as written in the Drill file, each with
the fault's duration as its Chaos Mesh duration and labels naming the drill
and the fault. The file is checked for the cluster engine: selector and mode
are required. Stalled clients have no Chaos Mesh kind (they run from
aftershock itself) and are named on stderr.

  aftershock render drill.yaml | kubectl apply -f -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := experiments.Load(args[0], experiments.WithEngine(experiments.EngineChaosMesh))
			if err != nil {
				return withCode(exitBadInput, err)
			}
			out, skipped, err := d.RenderYAML()
			if err != nil {
				return withCode(exitBadInput, err)
			}
			for _, s := range skipped {
				fmt.Fprintf(cmd.ErrOrStderr(), "aftershock: fault %s: stalled clients have no Chaos Mesh kind; not rendered\n", s)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
}
