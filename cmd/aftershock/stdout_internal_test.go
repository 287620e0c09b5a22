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

// TestTheVerdictOutranksCouldNotRun: of several drills, one that failed
// its verdict and one that could not run exit 1, not 3 — a pipeline may
// retry 3 as an infrastructure flake, and the leak found must not read as
// one. Interrupted and bad input still come first.
func TestTheVerdictOutranksCouldNotRun(t *testing.T) {
	for _, tc := range []struct{ a, b, want int }{
		{exitFailed, exitCouldNotRun, exitFailed},
		{exitCouldNotRun, exitFailed, exitFailed},
		{exitPass, exitCouldNotRun, exitCouldNotRun},
		{exitFailed, exitBadInput, exitBadInput},
		{exitBadInput, exitInterrupted, exitInterrupted},
		{exitInterrupted, exitFailed, exitInterrupted},
		{exitPass, exitPass, exitPass},
	} {
		if got := worse(tc.a, tc.b); got != tc.want {
			t.Errorf("worse(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestArtifactsFollowTheVerdict: the one rule every command (drill, demo)
// writes its artifacts under: a failed verdict keeps 1 and the artifact's
// error goes to stderr; a passed one becomes 3 with the error.
func TestArtifactsFollowTheVerdict(t *testing.T) {
	var stderr strings.Builder
	failed := &outcome{code: exitFailed, errs: []error{errors.New("the demo did not tell the leaky shop from the fixed one")}, stderr: &stderr}
	failed.artifactFailed(errors.New("--report: open /nonexistent/r.html: no such file or directory"))
	var e *exitError
	if err := failed.err(); !errors.As(err, &e) || e.code != exitFailed {
		t.Errorf("failed verdict with an artifact error: %v, want exit %d", err, exitFailed)
	}
	if !strings.Contains(stderr.String(), "/nonexistent/r.html") {
		t.Errorf("stderr does not name the artifact: %q", stderr.String())
	}
	passed := &outcome{stderr: &stderr}
	if err := passed.err(); err != nil {
		t.Errorf("passed verdict, no artifact error: %v", err)
	}
	passed.artifactFailed(errors.New("--junit: permission denied"))
	if err := passed.err(); !errors.As(err, &e) || e.code != exitCouldNotRun || !strings.Contains(err.Error(), "--junit") {
		t.Errorf("passed verdict with an artifact error: %v, want exit %d naming --junit", err, exitCouldNotRun)
	}
}
