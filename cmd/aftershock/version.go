package main

import (
	"cmp"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
	"golang.org/x/mod/module"
)

func init() { commands = append(commands, newVersionCommand) }

func newVersionCommand(*globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print aftershock's module version, VCS revision and Go version",
		Long: `Print the version of the aftershock module this binary was built from (the
tag "go install ...@VERSION" asked for, or "(devel)" for a build from a
checkout), the VCS revision and time it was built at and whether the
checkout had uncommitted changes, the Go version that built it and the
platform it runs on: what a bug report needs. All of it comes from the
build information Go writes into every binary.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi, ok := debug.ReadBuildInfo()
			if !ok {
				return fmt.Errorf("this binary has no build information (built without module support?)")
			}
			writeVersion(cmd.OutOrStdout(), bi)
			return nil
		},
	}
}

// writeVersion prints what bi says of the binary, a line per fact, each
// "name: value", so that a script can pick one out.
func writeVersion(w io.Writer, bi *debug.BuildInfo) {
	setting := func(key string) string {
		for _, s := range bi.Settings {
			if s.Key == key {
				return s.Value
			}
		}
		return ""
	}
	fmt.Fprintf(w, "aftershock %s\n", cmp.Or(bi.Main.Version, "(devel)"))
	fmt.Fprintf(w, "module: %s\n", cmp.Or(bi.Main.Path, bi.Path))
	if bi.Main.Sum != "" {
		fmt.Fprintf(w, "sum: %s\n", bi.Main.Sum)
	}
	rev := setting("vcs.revision")
	if rev == "" && module.IsPseudoVersion(bi.Main.Version) {
		// go install ...@COMMIT builds from a module zip, which carries no
		// VCS: the pseudo-version names the commit.
		rev, _ = module.PseudoVersionRev(bi.Main.Version)
	}
	if rev == "" {
		rev = "unknown (no VCS stamp: built from a module zip at a tag, or with -buildvcs=false)"
	}
	if setting("vcs.modified") == "true" {
		rev += " (modified)"
	}
	fmt.Fprintf(w, "revision: %s\n", rev)
	if t := setting("vcs.time"); t != "" {
		fmt.Fprintf(w, "revision time: %s\n", t)
	}
	fmt.Fprintf(w, "go: %s %s/%s\n", bi.GoVersion, runtime.GOOS, runtime.GOARCH)
}
