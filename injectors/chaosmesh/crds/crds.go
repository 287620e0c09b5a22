// Package crds holds Chaos Mesh's CustomResourceDefinitions of the kinds
// the cluster engine submits (NetworkChaos, HTTPChaos), generated from the
// Go types of the pinned github.com/chaos-mesh/chaos-mesh/api module by
// controller-gen (sigs.k8s.io/controller-tools, a tool of this module):
//
//	go generate ./injectors/chaosmesh/crds
//
// The Chaos Mesh module ships types with kubebuilder markers and no YAML;
// these files are what its own Makefile generates from them. The tests
// install them in a real API server, so that the server validates every
// object the engine submits against Chaos Mesh's schema, and a test fails
// when the committed files differ from what the pinned module generates.
package crds

//go:generate go run ./gen

import (
	"embed"
	"fmt"
	"io/fs"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// Files are the CRDs the cluster engine needs, by file name.
var Files = []string{"chaos-mesh.org_networkchaos.yaml", "chaos-mesh.org_httpchaos.yaml"}

//go:embed *.yaml
var files embed.FS

// FS holds the committed CRD files.
var FS fs.FS = files

// Objects returns the CRDs, decoded.
func Objects() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, name := range Files {
		data, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, fmt.Errorf("crds: %w", err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return nil, fmt.Errorf("crds: %s: %w", name, err)
		}
		out = append(out, crd)
	}
	return out, nil
}
