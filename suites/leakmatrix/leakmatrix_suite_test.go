// Package leakmatrix_test is the leak matrix CI runs: for each leak of the
// demo shops (HTTP, and gRPC with rows labelled grpc-<leak>), the suite whose fault provokes it runs as a subprocess
// against a demo with that leak on (AFTERSHOCK_DEMO_LEAKS), and must fail
// with the leak's culprit named in its output. It proves the suites catch
// what they claim to, and that their failures say where to look.
//
// Beside it, and in the same CI run, it drills a separately started shop
// through an env file (AFTERSHOCK_TARGET), HTTP and gRPC, and checks that
// the suite drilled that shop, not a demo of its own.
//
// It runs only when selected, since it takes a few minutes:
//
//	go tool ginkgo -p --label-filter=leak-matrix ./suites/leakmatrix
//	go tool ginkgo --label-filter=external-target ./suites/leakmatrix
package leakmatrix_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/fixtures/grpcshop"
	"github.com/aftershock/aftershock/fixtures/launch"
	"github.com/aftershock/aftershock/fixtures/shop"
)

func TestLeakMatrix(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Leak matrix suite")
}

// MatrixLabel selects the matrix: without it in --label-filter, the matrix
// is skipped (and nothing is built).
const MatrixLabel = "leak-matrix"

// ExternalLabel selects the external-target specs alone; they carry
// MatrixLabel too, so the matrix's CI run includes them.
const ExternalLabel = "external-target"

// matrixSelected and externalSelected tell whether the label filter
// selects a row of the matrix (labels leak-matrix and the row's leak) or
// the external-target specs. An empty filter selects every spec in
// Ginkgo, but these take minutes, so they must be asked for by name: a
// filter that an unlabelled spec would pass too (empty, or exclusions
// only, such as '!stalled-clients') selects neither.
func matrixSelected() bool   { return matrixSelectedBy(GinkgoLabelFilter()) }
func externalSelected() bool { return externalSelectedBy(GinkgoLabelFilter()) }

func matrixSelectedBy(filter string) bool {
	for _, leak := range shop.Leaks() {
		if selectedBy(filter, MatrixLabel, leak) {
			return true
		}
	}
	for _, leak := range grpcshop.Leaks() {
		if selectedBy(filter, MatrixLabel, grpcLabel(leak)) {
			return true
		}
	}
	return false
}

func externalSelectedBy(filter string) bool {
	return selectedBy(filter, MatrixLabel, ExternalLabel) || selectedBy(filter, MatrixLabel, ExternalLabel, "grpc")
}

// ParityLabel selects the specs that run one Drill file through
// `aftershock drill` and through the drills suite; they carry MatrixLabel
// too.
const ParityLabel = "parity"

func paritySelected() bool { return selectedBy(GinkgoLabelFilter(), MatrixLabel, ParityLabel) }

// selectedBy tells whether filter selects a spec labelled labels and not
// an unlabelled one.
func selectedBy(filter string, labels ...string) bool {
	return filter != "" && Label(labels...).MatchesLabelFilter(filter) && !Label().MatchesLabelFilter(filter)
}

// suites are the suite packages the matrix runs, by directory under suites/.
var suites = []string{"slowupstream", "partition", "httpfaults", "stalledclients", "grpc"}

// externalSuites are the suites the external-target specs run.
var externalSuites = []string{"slowupstream", "partition", "grpc", "drills"}

// needed are the suites to compile for the label filter: those of the
// matrix's rows, of the external-target specs and of the parity specs
// (the drills suite), as selected.
func needed() []string {
	var out []string
	add := func(ss ...string) {
		for _, s := range ss {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	if matrixSelected() {
		add(suites...)
	}
	if externalSelected() {
		add(externalSuites...)
	}
	if paritySelected() {
		add("drills")
	}
	return out
}

// binaries are the compiled suites (directory name → test binary), the
// demo shop and the payments upstream, built once by the first process
// and shared with the others.
type binaries struct {
	Suites     map[string]string `json:"suites"`
	Shop       string            `json:"shop"`
	GRPCShop   string            `json:"grpcShop"`
	Upstream   string            `json:"upstream"`
	Aftershock string            `json:"aftershock"`
	Dir        string            `json:"dir"`
}

var bins binaries

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	build := needed()
	if len(build) == 0 {
		return []byte("{}")
	}
	dir, err := os.MkdirTemp("", "aftershock-leakmatrix-")
	Expect(err).NotTo(HaveOccurred())
	b := binaries{Suites: map[string]string{}, Dir: dir}
	By("compiling the suites once: go test -c -o " + dir)
	args := []string{"test", "-c", "-o", dir + string(filepath.Separator)}
	for _, s := range build {
		args = append(args, "../"+s)
		b.Suites[s] = filepath.Join(dir, s+".test")
	}
	out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go %v:\n%s", args, out)
	By("building the demo shop")
	b.Shop, err = launch.Build(launch.ShopPackage)
	Expect(err).NotTo(HaveOccurred())
	if matrixSelected() || externalSelected() {
		By("building the gRPC demo shop")
		b.GRPCShop, err = launch.Build(launch.GRPCShopPackage)
		Expect(err).NotTo(HaveOccurred())
	}
	if paritySelected() {
		By("building the aftershock command")
		b.Aftershock = filepath.Join(dir, "aftershock")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", b.Aftershock, "../../cmd/aftershock").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "go build aftershock:\n%s", out)
	}
	if externalSelected() || paritySelected() {
		By("building the payments upstream")
		b.Upstream, err = launch.Build(launch.UpstreamPackage)
		Expect(err).NotTo(HaveOccurred())
	}
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
