// Command gen regenerates the CRDs of package crds: it runs controller-gen
// over the pinned Chaos Mesh API module into a scratch directory and keeps
// the kinds the cluster engine submits. Run it from the package directory
// (go generate does), or name the output directory as its argument.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/aftershock/aftershock/injectors/chaosmesh/crds"
)

// Package is the Go package of Chaos Mesh's v1alpha1 types.
const Package = "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"

func main() {
	out := "."
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	if err := generate(out); err != nil {
		fmt.Fprintln(os.Stderr, "crds/gen:", err)
		os.Exit(1)
	}
}

func generate(out string) error {
	tmp, err := os.MkdirTemp("", "aftershock-crds-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "tool", "controller-gen", "crd", "paths="+Package, "output:crd:dir="+tmp)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("controller-gen: %w", err)
	}
	for _, name := range crds.Files {
		data, err := os.ReadFile(filepath.Join(tmp, name))
		if err != nil {
			return fmt.Errorf("controller-gen wrote no %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
