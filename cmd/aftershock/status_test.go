package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/muesli/termenv"

	"github.com/aftershock/aftershock/experiments/runner"
)

func TestStatusText(t *testing.T) {
	now := time.Date(2026, 12, 2, 3, 0, 10, 0, time.UTC)
	st := runner.Status{Drill: "slow-upstream", Phase: "settle", Fault: "slow-payments",
		PhaseStart: now.Add(-3 * time.Second), PhaseLength: 20 * time.Second,
		At: now.Add(-200 * time.Millisecond), Goroutines: 590, Conns: 104,
		Baseline: true, BaseGoroutines: 496, BaseConns: 102}
	want := "[slow-upstream] settle slow-payments, 17s left · goroutines 590 (baseline 496, +94) · connections 104 (baseline 102, +2) (read 200ms ago)"
	if got := statusText(st, now); got != want {
		t.Errorf("status\n got %q\nwant %q", got, want)
	}
	st = runner.Status{Drill: "d", Phase: "baseline", PhaseStart: now}
	if got := statusText(st, now); got != "[d] baseline" {
		t.Errorf("no figures yet: %q", got)
	}
}

// TestStatusLine: progress lines go above the status line, which is
// cleared before each and redrawn after it, and removed on Close.
func TestStatusLine(t *testing.T) {
	var buf bytes.Buffer
	sl := startStatusLine(termenv.NewOutput(&buf, termenv.WithProfile(termenv.Ascii)), func() int { return 60 })
	sl.update(runner.Status{Drill: "slow-upstream", Phase: "hold", Fault: "slow-payments", PhaseStart: time.Now(), PhaseLength: 5 * time.Second})
	if _, err := sl.Write([]byte("[slow-upstream] hold slow-payments\n")); err != nil {
		t.Fatal(err)
	}
	sl.Close()
	sl.Close() // idempotent
	out := buf.String()
	const clear = "\x1b[2K\r"
	// drawn, cleared for the progress line, the line, drawn again, cleared.
	if !strings.HasPrefix(out, "[slow-upstream] hold slow-payments, 5s left") || !strings.HasSuffix(out, clear) {
		t.Errorf("output %q", out)
	}
	if i := strings.Index(out, clear+"[slow-upstream] hold slow-payments\n[slow-upstream] hold"); i < 0 {
		t.Errorf("the progress line was not written above the status line: %q", out)
	}
	for _, l := range strings.Split(strings.ReplaceAll(out, clear, "\n"), "\n") {
		if len([]rune(l)) > 60 {
			t.Errorf("a status line wider than the terminal: %q", l)
		}
	}
}

// TestNoStatusLineOffATerminal: on a pipe or a file, plain lines.
func TestNoStatusLineOffATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if newStatusLine(w) != nil || newStatusLine(&bytes.Buffer{}) != nil {
		t.Error("a status line off a terminal")
	}
}
