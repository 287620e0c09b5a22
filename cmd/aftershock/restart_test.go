package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"html"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"

	"github.com/aftershock/aftershock/fixtures/launch"
	"github.com/aftershock/aftershock/fixtures/ports"
	"github.com/aftershock/aftershock/fixtures/stack"
)

// supervised is a demo stack whose shop listens on fixed ports, so that a
// crash restarted by its "supervisor" (launch.Process.Crash) answers where
// the old process did, as a service behind systemd or a kubelet does.
type supervised struct {
	*stack.Stack
	mu   sync.Mutex
	shop *launch.Process
}

func startSupervised(t *testing.T, leaks, fixes []string) *supervised {
	t.Helper()
	listen, err := ports.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	pprof, err := ports.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	st := startStackWith(t, leaks, fixes, "--listen="+listen, "--pprof="+pprof)
	s := &supervised{Stack: st, shop: st.Shop}
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.shop.Stop()
	})
	return s
}

// crash kills the shop and starts it again on its ports.
func (s *supervised) crash(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.shop.Crash(ctx)
	if err != nil {
		return err
	}
	s.shop = p
	return nil
}

// drillCrashing runs aftershock with args and crashes the shop as soon as
// the drill's progress (stderr) prints a line containing at: a crash at a
// phase of the drill, whatever the machine's speed.
func drillCrashing(t *testing.T, s *supervised, at string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(aftershockBin, args...)
	cmd.Env = os.Environ()
	for k, v := range s.Vars() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out strings.Builder
	cmd.Stdout = &out
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var errb strings.Builder
	crashed := make(chan error, 1)
	sc := bufio.NewScanner(pipe)
	once := false
	for sc.Scan() {
		line := sc.Text()
		errb.WriteString(line + "\n")
		if !once && strings.Contains(line, at) {
			once = true
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				crashed <- s.crash(ctx)
			}()
		}
	}
	_, _ = io.Copy(io.Discard, pipe)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run aftershock: %v", err)
	}
	if !once {
		t.Fatalf("the drill never printed %q: exit %d\nstdout:\n%s\nstderr:\n%s", at, code, out.String(), errb.String())
	}
	if err := <-crashed; err != nil {
		t.Fatalf("crash the shop: %v", err)
	}
	return code, out.String(), errb.String()
}

// TestRestartInSettleFails: a leaky shop that crashes as the settle
// begins and is restarted at once on its ports sits below its baseline
// (the new process has leaked nothing yet). The drill must not read that
// as a pass: it fails (exit 1) saying the service restarted, in the text,
// the HTML report and the JUnit file.
func TestRestartInSettleFails(t *testing.T) {
	heavy(t)
	s := startSupervised(t, []string{"goroutine"}, nil)
	dir := t.TempDir()
	report, junit := filepath.Join(dir, "report.html"), filepath.Join(dir, "junit.xml")
	code, out, errs := drillCrashing(t, s, "] settle slow-payments", "drill", "--settle=8s", "--report", report, "--junit", junit, demoDrill("slow-upstream"))
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	const want = "the service restarted during slow-payments (settle): counters went back ("
	if !strings.Contains(out, want) {
		t.Errorf("stdout does not say %q:\n%s\nstderr:\n%s", want, out, errs)
	}
	if strings.Contains(out, "back to baseline") {
		t.Errorf("a restarted service read as back to baseline:\n%s", out)
	}
	page, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if text := html.UnescapeString(string(page)); !strings.Contains(text, want) || !strings.Contains(text, "restart") {
		t.Errorf("the report does not say %q", want)
	}
	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var suites reporters.JUnitTestSuites
	if err := xml.Unmarshal(data, &suites); err != nil {
		t.Fatalf("--junit: %v", err)
	}
	var named bool
	for _, su := range suites.TestSuites {
		for _, c := range su.TestCases {
			named = named || (c.Failure != nil && strings.Contains(c.Failure.Message, want))
		}
	}
	if !named {
		t.Errorf("--junit: no failure says %q:\n%s", want, data)
	}
}

// TestRestartInHoldFails: a crash under the fault, restarted at once, is
// caught by the timeline's captures while the fault holds, and fails the
// fault with a restart finding in the JSON result.
func TestRestartInHoldFails(t *testing.T) {
	heavy(t)
	s := startSupervised(t, nil, []string{"all"})
	code, out, errs := drillCrashing(t, s, "] hold slow-payments", "drill", "--settle=8s", "--output=json", demoDrill("slow-upstream"))
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	var results []struct {
		Verdict  string
		Restarts []struct{ Fault, Phase, LastSeen, Why string }
		Faults   []struct {
			Name     string
			Returned bool
			Culprits []string
			Findings struct {
				Restart *struct{ Fault, Phase, Why string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("--output=json: %v\n%s", err, out)
	}
	if len(results) != 1 || results[0].Verdict != "fail" || len(results[0].Faults) != 1 {
		t.Fatalf("results = %+v", results)
	}
	r := results[0]
	// The capture that catches it is the first after the crash: in the
	// hold, or (the timeline's captures being paced to spare the target)
	// in a later phase of the same fault.
	if len(r.Restarts) == 0 || r.Restarts[0].Fault != "slow-payments" {
		t.Errorf("restarts = %+v, want one caught in slow-payments\nstderr:\n%s", r.Restarts, errs)
	}
	f := r.Faults[0]
	if f.Returned || f.Findings.Restart == nil || !strings.Contains(strings.Join(f.Culprits, "\n"), "the service restarted during slow-payments (") {
		t.Errorf("fault = %+v, want a restart finding of the hold", f)
	}
}
