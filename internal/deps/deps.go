//go:build tools

// Package deps pins the modules the project builds on while the packages
// that use them are being written, so that `go mod tidy` keeps them.
// Remove an import once a real package uses it.
package deps

import (
	_ "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	_ "github.com/google/pprof/profile"
	_ "github.com/onsi/ginkgo/v2"
	_ "github.com/onsi/gomega/gexec"
	_ "github.com/onsi/gomega/gleak"
	_ "github.com/sony/gobreaker/v2"
	_ "github.com/spf13/cobra"
	_ "github.com/tsenart/vegeta/v12/lib"
	_ "go.uber.org/goleak"
	_ "sigs.k8s.io/yaml"
)
