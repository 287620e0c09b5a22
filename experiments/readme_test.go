package experiments

import (
	"os"
	"regexp"
	"testing"
)

// TestReadmeDrillLoads keeps the README's example Drill file honest.
func TestReadmeDrillLoads(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)### The Drill file\n\n```yaml\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no Drill file example under '### The Drill file'")
	}
	t.Setenv("PPROF_TOKEN", "secret")
	if _, err := Parse("README.md", m[1]); err != nil {
		t.Fatalf("the README's Drill file does not load:\n%v", err)
	}
}
