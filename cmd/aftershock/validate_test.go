package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestValidateShippedDrills: every shipped drill is valid as it is, with
// none of the variables it names set.
func TestValidateShippedDrills(t *testing.T) {
	var files []string
	for _, pattern := range []string{"../../experiments/drills/*.yaml", "../../experiments/drills/*/*.yaml", "../../fixtures/*/drill.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 9 {
		t.Fatalf("found %d shipped drills, want at least 9: %v", len(files), files)
	}
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"validate"}, files...), &stdout, &stderr); code != exitPass {
		t.Fatalf("validate exit %d:\n%s%s", code, stdout.String(), stderr.String())
	}
	if n := strings.Count(stdout.String(), ": ok (drill "); n != len(files) {
		t.Errorf("%d files said ok, want %d:\n%s", n, len(files), stdout.String())
	}
}

// TestValidateBadDrill: every problem of every file, each as
// file:line:col: field: what is wrong, and exit 2; a good file beside a
// bad one is still said to be good.
func TestValidateBadDrill(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata:
  name: bad
spec:
  target:
    url: ${BAD_URL}
  upstreams:
    - {name: payments, listen: "127.0.0.1:${PROXY_PORT}", forward: 127.0.0.1:9200}
  bogus: 1
  faults:
    - name: slow
      upstream: payments
      duration: 10
      networkChaos: {action: delay, delay: {latency: 500ms}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	good := "../../experiments/drills/slow-upstream.yaml"
	var stdout, stderr bytes.Buffer
	code := run([]string{"validate", bad, good}, &stdout, &stderr)
	if code != exitBadInput {
		t.Fatalf("exit %d, want %d:\n%s%s", code, exitBadInput, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(bad) + `:10:3: spec\.bogus: unknown field "bogus"; allowed: target, upstreams`),
		regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(bad) + `:14:17: spec\.faults\[0\]\.duration: duration "10" has no unit`),
		regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(good) + `: ok \(drill slow-upstream\)`),
	} {
		if !want.MatchString(out) {
			t.Errorf("stdout lacks %s:\n%s", want, out)
		}
	}
	// The unset variables are no problem, whole or in part.
	if strings.Contains(out, "BAD_URL") || strings.Contains(out, "PROXY_PORT") {
		t.Errorf("an unset variable was reported:\n%s", out)
	}
	if !strings.Contains(stderr.String(), "2 problem(s) in 1 file(s)") {
		t.Errorf("stderr = %q", stderr.String())
	}

	stdout.Reset()
	code = run([]string{"validate", "--output", "json", bad, good}, &stdout, &stderr)
	var got validateOutput
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("--output json: %v\n%s", err, stdout.String())
	}
	if code != exitBadInput || got.Valid || len(got.Problems) != 2 || len(got.Files) != 2 || !got.Files[1].Valid {
		t.Fatalf("--output json: exit %d, %+v", code, got)
	}
	if p := got.Problems[0]; p.File != bad || p.Line != 10 || p.Column != 3 || p.Field != "spec.bogus" || !strings.Contains(p.Message, "unknown field") {
		t.Errorf("first problem = %+v", p)
	}
	if u := got.Files[0].Unchecked; u != nil {
		t.Errorf("a bad file lists unchecked fields: %v", u)
	}
}
