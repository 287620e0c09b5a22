package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// brokenStdout fails every write, as a full disk or a closed file does.
type brokenStdout struct{}

func (brokenStdout) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestStdoutErrorKeepsTheCode: results that cannot be written to stdout
// (--output json to a full disk) leave the exit code the drill's — 3 for
// a target that does not answer — and say so on stderr; they were exit 2,
// "bad input", which a pipeline reads as a broken Drill file.
func TestStdoutErrorKeepsTheCode(t *testing.T) {
	file := filepath.Join(t.TempDir(), "unreachable.yaml")
	if err := os.WriteFile(file, []byte(`apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: unreachable}
spec:
  target: {url: "http://127.0.0.1:1"}
  faults:
    - {name: crowd, duration: 1s, stalledClients: {mode: idle, count: 1}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	code := run([]string{"drill", "--output", "json", file}, brokenStdout{}, &stderr)
	if code != exitCouldNotRun {
		t.Errorf("exit %d, want %d (the target does not answer; stdout could not be written)\n%s", code, exitCouldNotRun, stderr.String())
	}
	for _, want := range []string{"writing the results to stdout: no space left on device", "does not answer"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
		}
	}
}
