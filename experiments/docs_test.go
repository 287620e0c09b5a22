package experiments

import (
	"os"
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
// TestSchemaValidatesShippedDrills checks them against the schema too.
func TestDocsDrillsLoad(t *testing.T) {
	drills := 0
	for _, page := range docPages(t) {
		name := strings.TrimPrefix(page, "../")
		for _, b := range drillBlocks(t, page) {
			drills++
			// ForChecking: an example may name a variable (a token)
			// that is not set here.
			if _, err := Parse(name, b.data, ForChecking()); err != nil {
				t.Errorf("the Drill file at %s:%d does not load:\n%v", name, b.line, err)
			}
		}
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range yamlBlock.FindAllSubmatchIndex(text, -1) {
			block := text[m[2]:m[3]]
			if !drillHeader.Match(block) && drillish.Match(block) {
				line := 1 + strings.Count(string(text[:m[2]]), "\n")
				t.Errorf("%s:%d: a fragment of a Drill file; write the example whole (apiVersion, kind, metadata, spec) so that this test loads it", name, line)
			}
		}
	}
	if drills < 4 {
		t.Errorf("found %d Drill files in README.md and docs/; want the README's minimal drill and the docs' examples", drills)
	}
}
