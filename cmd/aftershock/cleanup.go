package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/aftershock/aftershock/injectors/chaosmesh"
)

func init() { commands = append(commands, newCleanupCommand) }

func newCleanupCommand(*globalOptions) *cobra.Command {
	var namespace, drill string
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete the Chaos Mesh objects a dead run left on the cluster",
		Long: `Delete every NetworkChaos and HTTPChaos that aftershock submitted (those
labelled aftershock.dev/drill) in the kubeconfig's cluster: every drill's, or
one drill's with --drill, in every namespace or one with --namespace. Each
deleted object is printed as kind/namespace/name.

Only the cluster can hold a fault after aftershock is gone, and even there
each object's duration is its lease. Local faults cannot: fault proxies live
in the aftershock process, each fault with a lease, and a netns upstream's
namespace, rules, qdiscs and veth are removed by the kernel when the
process that made them ends, however it ends.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := chaosmesh.FromKubeconfig()
			if err != nil {
				return withCode(exitCouldNotRun, err)
			}
			deleted, err := k.Cleanup(cmd.Context(), namespace, drill)
			for _, name := range deleted {
				fmt.Fprintln(cmd.OutOrStdout(), "deleted", name)
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
	cmd.Flags().StringVar(&namespace, "namespace", "", "only this namespace (default: every namespace)")
	cmd.Flags().StringVar(&drill, "drill", "", "only this drill's objects (default: every drill's)")
	return cmd
}
