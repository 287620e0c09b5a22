package main_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments/explore"
	"github.com/aftershock/aftershock/fixtures/fanout"
	"github.com/aftershock/aftershock/fixtures/launch"
)

// startFanout starts the fanout fixture (leaky, or fixed) and writes its
// drill where the CLI reads it.
func startFanout(t *testing.T, fixed bool) (*fanout.Stack, string) {
	t.Helper()
	bin, err := launch.Build(launch.FanoutPackage)
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	if fixed {
		args = append(args, "--fixed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := fanout.Start(ctx, bin, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Stop() })
	file := filepath.Join(t.TempDir(), "fanout.yaml")
	if err := os.WriteFile(file, fanout.Drill, 0o644); err != nil {
		t.Fatal(err)
	}
	return st, file
}

type exploreJSON struct {
	explore.Result
	File string `json:"file"`
}

// exploreSeed draws, as its first schedule, prices and stock slow at once
// (slow-prices 1.5s ×0.9 + slow-stock 2.1s ×0.7 from 500ms), with room to
// shrink; TestExploreSeed keeps it so.
const exploreSeed = 33

// TestExploreShrinksToTheOverlap: the fanout service leaks only while
// both its upstreams are slow at once. aftershock explore finds a failing
// schedule within its budget and shrinks it to those two faults held
// together, naming the culprit; the failing run's seed draws and fails the
// same schedule again. The fixed service passes the same schedules.
func TestExploreShrinksToTheOverlap(t *testing.T) {
	t.Run("leaky", func(t *testing.T) {
		heavy(t)
		st, drill := startFanout(t, false)
		out := filepath.Join(t.TempDir(), "minimal.yaml")
		code, stdout, stderr := aftershock(t, st.Vars(), "explore", drill, "--seed", strconv.Itoa(exploreSeed), "--runs", "3",
			"--max-trials", "30", "--settle", "4s", "--out", out, "--output", "json")
		var res exploreJSON
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatalf("exit %d, stdout not an explore result (%v):\n%s\nstderr:\n%s", code, err, stdout, stderr)
		}
		t.Logf("stderr:\n%s", stderr)
		if code != 1 || !res.Found || res.Minimal == nil {
			t.Fatalf("exit %d, found %v: want exit 1 and a failing schedule\nstderr:\n%s", code, res.Found, stderr)
		}
		m := res.Minimal
		t.Logf("failing %s (seed %d) → %s in %d trials, confirmed %v; steps %q", res.Failing, res.FailingSeed, m, len(res.Trials), res.Confirmed, res.Steps)
		names := []string{}
		for _, e := range m.Entries {
			names = append(names, e.Fault)
		}
		if len(m.Entries) != 2 || m.Episodes() != 1 || !strings.Contains(strings.Join(names, ","), "slow-prices") || !strings.Contains(strings.Join(names, ","), "slow-stock") {
			t.Fatalf("smallest schedule %s: want slow-prices and slow-stock held together", m)
		}
		if !strings.Contains(strings.Join(res.Culprits, "\n"), "fanout.(*server).ask") {
			t.Errorf("culprits %q do not name fanout.(*server).ask", res.Culprits)
		}
		if res.Confirmed[0] < 2 {
			t.Errorf("the smallest schedule failed %d of %d confirming trials, want a majority", res.Confirmed[0], res.Confirmed[1])
		}
		doc, err := os.ReadFile(out)
		if err != nil || !strings.Contains(string(doc), "overlap:") {
			t.Errorf("the smallest schedule's Drill file: %v\n%s", err, doc)
		}

		// The failing run's own seed draws it again, and it fails again.
		code, stdout, stderr = aftershock(t, st.Vars(), "explore", drill, "--seed", strconv.FormatUint(res.FailingSeed, 10), "--runs", "1",
			"--no-shrink", "--settle", "4s", "--out", filepath.Join(t.TempDir(), "again.yaml"), "--output", "json")
		var again exploreJSON
		if err := json.Unmarshal([]byte(stdout), &again); err != nil || code != 1 || !again.Found || again.Failing.String() != res.Failing.String() {
			t.Fatalf("seed %d again: exit %d, %v: %s\nstderr:\n%s", res.FailingSeed, code, err, stdout, stderr)
		}
	})
	t.Run("fixed", func(t *testing.T) {
		heavy(t)
		st, drill := startFanout(t, true)
		code, stdout, stderr := aftershock(t, st.Vars(), "explore", drill, "--seed", strconv.Itoa(exploreSeed), "--runs", "2",
			"--settle", "4s", "--out", filepath.Join(t.TempDir(), "none.yaml"))
		if code != 0 || !strings.Contains(stdout, "no failing schedule: none of 2 schedules drawn with seeds 33..34 failed") {
			t.Fatalf("exit %d, want 0 and no failing schedule:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})
}
