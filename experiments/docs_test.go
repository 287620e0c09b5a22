package experiments

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// yamlBlock finds the YAML code blocks of a Markdown page.
var yamlBlock = regexp.MustCompile("(?ms)^```ya?ml\n(.*?)^```")

// drillish finds the fields of a Drill file in a block.
var drillish = regexp.MustCompile(`(?m)^\s*(spec|faults|upstreams|target):`)

// TestDocsDrillsLoad keeps the examples of README.md and docs/ honest:
// every YAML block that is a Drill file loads, checked as `aftershock
// validate` checks it, and no block is a fragment of one (a fragment
// cannot be checked, so it would rot: write the example whole).
func TestDocsDrillsLoad(t *testing.T) {
	pages, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append([]string{"../README.md"}, pages...)
	drills := 0
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range yamlBlock.FindAllSubmatchIndex(b, -1) {
			block := b[m[2]:m[3]]
			line := 1 + strings.Count(string(b[:m[2]]), "\n")
			name := strings.TrimPrefix(page, "../")
			// Lines before the block keep problems at the page's lines.
			block = append([]byte(strings.Repeat("\n", line-1)), block...)
			switch {
			case regexp.MustCompile(`(?m)^apiVersion: aftershock\.dev/`).Match(block):
				drills++
				// ForChecking: an example may name a variable (a token)
				// that is not set here.
				if _, err := Parse(name, block, ForChecking()); err != nil {
					t.Errorf("the Drill file at %s:%d does not load:\n%v", name, line, err)
				}
			case drillish.Match(block):
				t.Errorf("%s:%d: a fragment of a Drill file; write the example whole (apiVersion, kind, metadata, spec) so that this test loads it", name, line)
			}
		}
	}
	if drills < 4 {
		t.Errorf("found %d Drill files in README.md and docs/; want the README's minimal drill and the docs' examples", drills)
	}
}
