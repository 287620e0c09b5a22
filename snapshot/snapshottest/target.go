// Package snapshottest runs a real, deliberately leaky target process for the
// tests of the snapshot engine and of the matchers: the test binary re-executes
// itself as a small service that serves net/http/pprof and, on request, parks
// goroutines in known functions, holds HTTP client connections idle or with
// unread bodies, and retains heap at a known allocation site.
//
// A test package wires it in with a TestMain:
//
//	func TestMain(m *testing.M) {
//		snapshottest.ServeIfTarget()
//		os.Exit(m.Run())
//	}
//
// and starts a target per test with Start. Re-executing the test binary keeps
// the target as fast to start as a fork, with no build step.
package snapshottest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// envTarget switches a re-executed test binary into the target role.
const envTarget = "AFTERSHOCK_SNAPSHOTTEST_TARGET"

// envUpstream carries the URL of the upstream that the target's HTTP client
// calls; it lives in the test process so that the target's own server
// connections are only the ones its callers open.
const envUpstream = "AFTERSHOCK_SNAPSHOTTEST_UPSTREAM"

// readyPrefix starts the one line a target prints once it serves, the same
// line the project's fixtures print.
const readyPrefix = "aftershock-fixture ready "

// The target answers each command with okLine, or errPrefix and the error.
const (
	okLine    = "ok"
	errPrefix = "error: "
)

// awaitTimeout bounds every wait on the target.
const awaitTimeout = 20 * time.Second

// Target is a running target process. Its methods are commands it carries
// out before they return; they go over its stdin, so they leave no
// connection or goroutine in it.
type Target struct {
	// URL is the base URL of the target's HTTP server (pprof only).
	URL string
	// PprofURL is the target's pprof base URL, e.g. http://127.0.0.1:P/debug/pprof.
	PprofURL string
	// Upstream is the in-process upstream server the target's client calls.
	Upstream *httptest.Server

	tb    testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// Start starts a target process and an upstream for it, waits until the
// target is ready, and registers their cleanup with tb.
func Start(tb testing.TB) *Target {
	tb.Helper()
	return StartWithEnv(tb)
}

// StartWithEnv is Start with env added to the target's environment (e.g.
// GODEBUG=tracebackancestors=10).
func StartWithEnv(tb testing.TB, env ...string) *Target {
	tb.Helper()
	upstream := httptest.NewServer(http.HandlerFunc(serveUpstream))
	tb.Cleanup(upstream.Close)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), envTarget+"=1", envUpstream+"="+upstream.URL), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatalf("target stdin: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatalf("target stdout: %v", err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start target: %v", err)
	}
	// Registered after upstream.Close, so it runs first: the target's client
	// connections go away before the upstream waits for its own.
	tb.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t := &Target{tb: tb, cmd: cmd, stdin: stdin, lines: lines, Upstream: upstream}
	line := t.await(readyPrefix)
	var r struct {
		URL   string `json:"url"`
		Pprof string `json:"pprof"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, readyPrefix)), &r); err != nil {
		tb.Fatalf("target ready line %q: %v", line, err)
	}
	t.URL, t.PprofURL = r.URL, r.Pprof
	return t
}

// await returns the next stdout line with prefix, failing the test after
// awaitTimeout or when the target exits.
func (t *Target) await(prefix string) string {
	t.tb.Helper()
	deadline := time.After(awaitTimeout)
	for {
		select {
		case line, ok := <-t.lines:
			if !ok {
				t.tb.Fatalf("target exited while the test waited for %q", prefix)
			}
			if strings.HasPrefix(line, prefix) || strings.HasPrefix(line, errPrefix) {
				return line
			}
		case <-deadline:
			t.tb.Fatalf("target did not answer %q within %s", prefix, awaitTimeout)
		}
	}
}

// Do runs one command in the target (see the methods below) and returns
// once the target has carried it out.
func (t *Target) Do(command string) {
	t.tb.Helper()
	if _, err := fmt.Fprintln(t.stdin, command); err != nil {
		t.tb.Fatalf("target command %q: %v", command, err)
	}
	if line := t.await(okLine); line != okLine {
		t.tb.Fatalf("target command %q: %s", command, strings.TrimPrefix(line, errPrefix))
	}
}

// Park parks n goroutines in ParkedWorker until Release.
func (t *Target) Park(n int) { t.Do(fmt.Sprintf("park %d", n)) }

// Release lets every parked goroutine return.
func (t *Target) Release() { t.Do("release") }

// IdleConns makes n concurrent upstream requests whose bodies are read and
// closed: n healthy HTTP/1 client connections idle in the pool.
func (t *Target) IdleConns(n int) { t.Do(fmt.Sprintf("idle %d", n)) }

// Pid is the target process's ID, for measuring what it spends.
func (t *Target) Pid() int { return t.cmd.Process.Pid }

// AwaitHung starts n calls to an upstream path that never answers; they
// wait until Release. It returns at once: poll for them.
func (t *Target) AwaitHung(n int) { t.Do(fmt.Sprintf("await %d", n)) }

// LeakBodies makes n upstream requests whose bodies are never read nor
// closed: n HTTP/1 client connections pending on their body (the classic leak).
func (t *Target) LeakBodies(n int) { t.Do(fmt.Sprintf("leak %d", n)) }

// CloseConns closes the leaked bodies and the idle pooled connections.
func (t *Target) CloseConns() { t.Do("close") }

// Retain allocates and keeps n bytes at RetainHeap's allocation site.
func (t *Target) Retain(n int) { t.Do(fmt.Sprintf("retain %d", n)) }

// Free drops what Retain kept.
func (t *Target) Free() { t.Do("free") }
