package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/muesli/termenv"
	"golang.org/x/term"

	"github.com/aftershock/aftershock/experiments/runner"
)

// statusLine is the live status line of `aftershock drill` on a terminal:
// one line at the bottom, redrawn in place, that says which drill and
// phase is running, how long the phase has left, and the target's
// goroutines and connections against the baseline. Progress lines are
// written above it. On anything but a terminal (a pipe, a CI log) it is
// not drawn and progress is plain lines, as before.
type statusLine struct {
	out   *termenv.Output
	width func() int

	mu     sync.Mutex
	st     runner.Status
	drawn  bool
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

// newStatusLine returns a status line on w when w is a terminal, else nil.
func newStatusLine(w io.Writer) *statusLine {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return startStatusLine(termenv.NewOutput(f), func() int {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil {
			return w
		}
		return 80
	})
}

// startStatusLine draws on out, redrawing every 250 ms so that the time
// left counts down between the runner's reports.
func startStatusLine(out *termenv.Output, width func() int) *statusLine {
	s := &statusLine{out: out, width: width, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.mu.Lock()
				s.redraw()
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// update takes the runner's latest status (runner.WithStatus).
func (s *statusLine) update(st runner.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = st
	s.redraw()
}

// Write writes progress lines above the status line.
func (s *statusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clear()
	n, err := s.out.Write(p)
	s.redraw()
	return n, err
}

// Close removes the status line and stops redrawing.
func (s *statusLine) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.stop)
	s.clear()
	s.mu.Unlock()
	<-s.done
}

func (s *statusLine) clear() {
	if s.drawn {
		s.out.ClearLine()
		io.WriteString(s.out, "\r")
		s.drawn = false
	}
}

func (s *statusLine) redraw() {
	if s.closed || s.st.Drill == "" {
		return
	}
	s.clear()
	line := statusText(s.st, time.Now())
	if w := s.width(); w > 1 && len([]rune(line)) >= w {
		line = string([]rune(line)[:w-2]) + "…"
	}
	io.WriteString(s.out, s.out.String(line).Faint().String())
	s.drawn = true
}

// statusText is the status line's text: drill, phase, time left, and the
// figures against the baseline.
func statusText(st runner.Status, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s", st.Drill, st.Phase)
	if st.Fault != "" {
		b.WriteString(" " + st.Fault)
	}
	if st.PhaseLength > 0 {
		fmt.Fprintf(&b, ", %s left", st.Left(now).Round(100*time.Millisecond))
	}
	if !st.At.IsZero() {
		if st.Baseline {
			fmt.Fprintf(&b, " · goroutines %d (baseline %d, %+d) · connections %d (baseline %d, %+d)",
				st.Goroutines, st.BaseGoroutines, st.Goroutines-st.BaseGoroutines, st.Conns, st.BaseConns, st.Conns-st.BaseConns)
		} else {
			fmt.Fprintf(&b, " · goroutines %d · connections %d", st.Goroutines, st.Conns)
		}
		fmt.Fprintf(&b, " (read %s ago)", now.Sub(st.At).Round(100*time.Millisecond))
	}
	return b.String()
}
