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
	"context"
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

// Target is a running target process.
type Target struct {
	// URL is the base URL of the target's control API.
	URL string
	// PprofURL is the target's pprof base URL, e.g. http://127.0.0.1:P/debug/pprof.
	PprofURL string
	// Upstream is the in-process upstream server the target's client calls.
	Upstream *httptest.Server

	tb     testing.TB
	cmd    *exec.Cmd
	client *http.Client
}

// Start starts a target process and an upstream for it, waits until the
// target is ready, and registers their cleanup with tb.
func Start(tb testing.TB) *Target {
	tb.Helper()
	upstream := httptest.NewServer(http.HandlerFunc(serveUpstream))
	tb.Cleanup(upstream.Close)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envTarget+"=1", envUpstream+"="+upstream.URL)
	cmd.Stderr = os.Stderr
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
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	type ready struct {
		URL   string `json:"url"`
		Pprof string `json:"pprof"`
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), readyPrefix) {
				lines <- strings.TrimPrefix(sc.Text(), readyPrefix)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var r ready
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			tb.Fatalf("target ready line %q: %v", line, err)
		}
	case <-time.After(20 * time.Second):
		tb.Fatalf("target did not print its ready line within 20s")
	}
	return &Target{
		URL: r.URL, PprofURL: r.Pprof, Upstream: upstream, tb: tb, cmd: cmd,
		// Control calls close their connection, so that they leave no idle
		// server connection behind in the target.
		client: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
}

// Do calls the control path (e.g. "/park?n=10") on the target and fails the
// test unless it answers 200.
func (t *Target) Do(path string) {
	t.tb.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, t.URL+path, nil)
	if err != nil {
		t.tb.Fatalf("control %s: %v", path, err)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		t.tb.Fatalf("control %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.tb.Fatalf("control %s: %s: %s", path, resp.Status, body)
	}
}

// Park parks n goroutines in ParkedWorker until Release.
func (t *Target) Park(n int) { t.Do(fmt.Sprintf("/park?n=%d", n)) }

// Release lets every parked goroutine return.
func (t *Target) Release() { t.Do("/release") }

// IdleConns makes n concurrent upstream requests whose bodies are read and
// closed: n healthy HTTP/1 client connections idle in the pool.
func (t *Target) IdleConns(n int) { t.Do(fmt.Sprintf("/client/idle?n=%d", n)) }

// LeakBodies makes n upstream requests whose bodies are never read nor
// closed: n HTTP/1 client connections pending on their body (the classic leak).
func (t *Target) LeakBodies(n int) { t.Do(fmt.Sprintf("/client/leak?n=%d", n)) }

// CloseConns closes the leaked bodies and the idle pooled connections.
func (t *Target) CloseConns() { t.Do("/client/close") }

// Retain allocates and keeps n bytes at RetainHeap's allocation site.
func (t *Target) Retain(n int) { t.Do(fmt.Sprintf("/heap/retain?bytes=%d", n)) }

// Free drops what Retain kept.
func (t *Target) Free() { t.Do("/heap/free") }
