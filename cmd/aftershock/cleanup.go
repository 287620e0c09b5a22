package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aftershock/aftershock/injectors/chaosmesh"
)

func init() { commands = append(commands, newCleanupCommand) }

func newCleanupCommand(g *globalOptions) *cobra.Command {
	var namespace, drill, run, kubeContext string
	cmd := &cobra.Command{
		Use:   "cleanup --context CONTEXT",
		Short: "Delete the Chaos Mesh objects dead runs left on the cluster",
		Long: `Delete the NetworkChaos and HTTPChaos objects that runs of aftershock left on
the cluster of kube context --context ("in-cluster" in a pod): those
labelled aftershock.dev/drill whose lease has run out (their spec.duration,
counted from their creation, is over: Chaos Mesh has recovered the fault,
and no live run holds them), every drill's or one drill's with --drill, in
every namespace or one with --namespace; or, with --run ID, every object of
that run (the ID a drill prints when it submits). Objects of live runs are
left alone and listed. Each deleted object is printed as
kind/namespace/name.

Only the cluster can hold a fault after aftershock is gone, and even there
each object's duration is its lease. Local faults cannot: fault proxies live
in the aftershock process, each fault with a lease, and a netns upstream's
namespace, rules, qdiscs and veth are removed by the kernel when the
process that made them ends, however it ends.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kubeContext == "" {
				return withCode(exitBadInput, fmt.Errorf("--context is required: name the kube context of the cluster to clean up (%q in a pod)", chaosmesh.InCluster))
			}
			k, err := chaosmesh.Connect(kubeContext)
			if err != nil {
				return withCode(exitCouldNotRun, err)
			}
			deleted, live, err := k.Cleanup(cmd.Context(), namespace, drill, run)
			if g.output == "json" {
				out := struct {
					Deleted []string `json:"deleted"`
					Left    []string `json:"left"`
				}{append([]string{}, deleted...), append([]string{}, live...)}
				if jerr := json.NewEncoder(cmd.OutOrStdout()).Encode(out); jerr != nil {
					return withCode(exitCouldNotRun, jerr)
				}
				if err != nil {
					return withCode(exitCouldNotRun, err)
				}
				return nil
			}
			for _, name := range deleted {
				fmt.Fprintln(cmd.OutOrStdout(), "deleted", name)
			}
			for _, name := range live {
				fmt.Fprintln(cmd.ErrOrStderr(), "aftershock: left", name, "alone: its lease has not run out (a live run holds it; --run ID deletes a dead run's)")
			}
			if err != nil {
				return withCode(exitCouldNotRun, err)
			}
			if len(deleted) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "aftershock: nothing to clean up")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kubeContext, "context", "", `the kube context of the cluster (required; "in-cluster" in a pod)`)
	cmd.Flags().StringVar(&namespace, "namespace", "", "only this namespace (default: every namespace)")
	cmd.Flags().StringVar(&drill, "drill", "", "only this drill's objects (default: every drill's)")
	cmd.Flags().StringVar(&run, "run", "", "every object of this run, whatever its lease (the run ID a drill printed)")
	return cmd
}
