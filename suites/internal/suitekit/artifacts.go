package suitekit

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
)

// SpecArtifacts is a fresh directory name for the current spec's
// artifacts: <artifacts>/<suite>/<spec>-p<process>-<time>. It is created
// when something is saved into it.
func SpecArtifacts() string {
	r := CurrentSpecReport()
	// The outermost container is declared in the suite's own package (the
	// spec itself may come from a shared behaviour of this package).
	file := r.FileName()
	if locs := r.ContainerHierarchyLocations; len(locs) > 0 {
		file = locs[0].FileName
	}
	suite := filepath.Base(filepath.Dir(file))
	name := slug(r.FullText())
	if name == "" {
		name = slug(r.LeafNodeText)
	}
	return filepath.Join(ArtifactsDir(), suite,
		fmt.Sprintf("%s-p%d-%s", name, GinkgoParallelProcess(), time.Now().Format("20060102-150405.000")))
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	s = strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 80 {
		s = strings.TrimRight(s[:80], "-")
	}
	return s
}
