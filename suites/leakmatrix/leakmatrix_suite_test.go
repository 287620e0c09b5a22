// Package leakmatrix_test is the leak matrix CI runs: for each leak of the
// demo shop, the suite whose fault provokes it runs as a subprocess
// against a demo with that leak on (AFTERSHOCK_DEMO_LEAKS), and must fail
// with the leak's culprit named in its output. It proves the suites catch
// what they claim to, and that their failures say where to look.
//
// It runs only when selected, since it takes a few minutes:
//
//	go tool ginkgo -p --label-filter=leak-matrix ./suites/leakmatrix
package leakmatrix_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/fixtures/launch"
)

func TestLeakMatrix(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Leak matrix suite")
}

// MatrixLabel selects the matrix: without it in --label-filter, the matrix
// is skipped (and nothing is built).
const MatrixLabel = "leak-matrix"

// selected tells whether the label filter asks for the matrix. An empty
// filter selects every spec in Ginkgo, but the matrix is too long for the
// quick run, so it must be asked for by name.
func selected() bool {
	f := GinkgoLabelFilter()
	return f != "" && Label(MatrixLabel).MatchesLabelFilter(f)
}

// suites are the suite packages the matrix runs, by directory under suites/.
var suites = []string{"slowupstream", "partition", "httpfaults", "stalledclients"}

// binaries are the compiled suites (directory name → test binary) and the
// demo shop, built once by the first process and shared with the others.
type binaries struct {
	Suites map[string]string `json:"suites"`
	Shop   string            `json:"shop"`
	Dir    string            `json:"dir"`
}

var bins binaries

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	if !selected() {
		return []byte("{}")
	}
	dir, err := os.MkdirTemp("", "aftershock-leakmatrix-")
	Expect(err).NotTo(HaveOccurred())
	b := binaries{Suites: map[string]string{}, Dir: dir}
	By("compiling the suites once: go test -c -o " + dir)
	args := []string{"test", "-c", "-o", dir + string(filepath.Separator)}
	for _, s := range suites {
		args = append(args, "../"+s)
		b.Suites[s] = filepath.Join(dir, s+".test")
	}
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go %v:\n%s", args, out)
	By("building the demo shop")
	b.Shop, err = launch.Build(launch.ShopPackage)
	Expect(err).NotTo(HaveOccurred())
	data, err := json.Marshal(b)
	Expect(err).NotTo(HaveOccurred())
	return data
}, func(data []byte) {
	Expect(json.Unmarshal(data, &bins)).To(Succeed())
}, NodeTimeout(5*time.Minute))

var _ = SynchronizedAfterSuite(func() {}, func() {
	launch.CleanupBuildArtifacts()
	if bins.Dir != "" {
		Expect(os.RemoveAll(bins.Dir)).To(Succeed())
	}
})
