package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/aftershock/aftershock/fixtures/fanout"
	"github.com/aftershock/aftershock/fixtures/grpcshop"
	"github.com/aftershock/aftershock/fixtures/shop"
	"github.com/aftershock/aftershock/fixtures/upstream"
)

func init() { commands = append(commands, newFixtureCommand) }

// newFixtureCommand runs the demo's services from this very binary, so
// that `aftershock demo` needs no Go toolchain and no source tree: the demo
// re-executes aftershock as `aftershock fixture shop ...`. Hidden: it is
// plumbing, not a user command.
func newFixtureCommand(*globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:                "fixture shop|grpcshop|upstream|fanout [flags]",
		Short:              "Run a demo service (used by aftershock demo)",
		Hidden:             true,
		DisableFlagParsing: true,
		Args:               cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var code int
			switch args[0] {
			case "shop":
				code = shop.Main(args[1:], cmd.OutOrStdout(), cmd.ErrOrStderr())
			case "grpcshop":
				code = grpcshop.Main(args[1:], cmd.OutOrStdout(), cmd.ErrOrStderr())
			case "upstream":
				code = upstream.Main(args[1:], cmd.OutOrStdout(), cmd.ErrOrStderr())
			case "fanout":
				code = fanout.Main(args[1:], cmd.OutOrStdout(), cmd.ErrOrStderr())
			default:
				return withCode(exitBadInput, fmt.Errorf("unknown fixture %q; allowed: shop, grpcshop, upstream, fanout", args[0]))
			}
			os.Exit(code)
			return nil
		},
	}
	return cmd
}
