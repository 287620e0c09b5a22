package crds_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aftershock/aftershock/injectors/chaosmesh/crds"
)

// TestCommittedCRDsAreGenerated: the committed CRDs are what controller-gen
// makes of the pinned Chaos Mesh module today; after a bump of either,
// `go generate ./injectors/chaosmesh/crds` brings them up to date.
func TestCommittedCRDsAreGenerated(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs controller-gen; not in -short")
	}
	dir := t.TempDir()
	out, err := exec.Command("go", "run", "./gen", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("go run ./gen: %v\n%s", err, out)
	}
	for _, name := range crds.Files {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := fs.ReadFile(crds.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what controller-gen generates from the pinned Chaos Mesh module: run go generate ./injectors/chaosmesh/crds", name)
		}
	}
}

// TestObjects: the CRDs decode strictly, under the plurals the engine's
// client uses. Chaos Mesh's types declare no status subresource: its
// controller writes status with the object, and so does the stand-in.
func TestObjects(t *testing.T) {
	objs, err := crds.Objects()
	if err != nil {
		t.Fatal(err)
	}
	plurals := map[string]bool{}
	for _, o := range objs {
		plurals[o.Spec.Names.Plural] = true
		if len(o.Spec.Versions) != 1 || o.Spec.Versions[0].Name != "v1alpha1" || o.Spec.Versions[0].Schema == nil {
			t.Errorf("%s: versions %+v, want v1alpha1 with a schema", o.Name, o.Spec.Versions)
		}
	}
	if !plurals["networkchaos"] || !plurals["httpchaos"] {
		t.Errorf("plurals = %v, want networkchaos and httpchaos", plurals)
	}
}
