package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeCluster is a cluster whose Abandon reports what the test says,
// after block (if any) is closed or its context ends.
type fakeCluster struct {
	run   string
	asked []string
	err   error
	block chan struct{}

	mu    sync.Mutex
	calls int
}

func (f *fakeCluster) RunID() string { return f.run }

func (f *fakeCluster) Abandon(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return f.asked, f.err
}

// lockedBuilder is stderr written by the handler's goroutine.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// interruptRig runs interrupted as the drill command does, with a run
// whose clear (what the runner does once the context is cancelled)
// blocks until the test ends: a second signal sent after the first one's
// cancel is then certain to arrive while the clear is still going.
type interruptRig struct {
	sigs    chan os.Signal
	done    chan struct{}
	cleared chan struct{} // closed when the run's clear has begun
	release chan struct{} // the clear returns once this is closed
	exited  chan int
	stderr  *lockedBuilder
}

func startInterrupts(t *testing.T, left *clusters, children ...string) *interruptRig {
	t.Helper()
	r := &interruptRig{sigs: make(chan os.Signal, 2), done: make(chan struct{}), cleared: make(chan struct{}),
		release: make(chan struct{}), exited: make(chan int, 1), stderr: &lockedBuilder{}}
	ctx, cancel := context.WithCancel(context.Background())
	// The run: it holds its faults until cancelled, then clears them,
	// and its clear takes until the test is over.
	go func() {
		<-ctx.Done()
		close(r.cleared)
		<-r.release
	}()
	handled := make(chan struct{})
	go func() {
		defer close(handled)
		kill := func() []string { k := children; children = nil; return k }
		interrupted(r.sigs, r.done, cancel, left, kill, r.stderr, func(code int) { r.exited <- code })
	}()
	t.Cleanup(func() {
		close(r.release)
		close(r.done)
		cancel()
		<-handled
	})
	return r
}

// within waits for ch, failing the test after a bound far above what
// the step needs (it only guards against a hang).
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(2 * abandonWithin):
		t.Fatalf("%s: not within %s", what, 2*abandonWithin)
		panic("unreachable")
	}
}

// TestSecondSignalDoesNotWaitForTheClear: the first SIGINT cancels the
// run (its clear begins); a second, sent while that clear is still going,
// exits 130 at once, after asking the cluster to delete what the run
// holds there, and stderr says what outlives the process and how aftershock
// cleanup removes it.
func TestSecondSignalDoesNotWaitForTheClear(t *testing.T) {
	k := &fakeCluster{run: "4f2a9c1e", asked: []string{"NetworkChaos/shop/cut"}}
	var left clusters
	left.add("staging", k)
	r := startInterrupts(t, &left)
	r.sigs <- syscall.SIGINT
	within(t, r.cleared, "the first SIGINT did not cancel the run")
	select {
	case code := <-r.exited:
		t.Fatalf("exited %d on the first signal", code)
	default:
	}
	r.sigs <- syscall.SIGINT
	if code := within(t, r.exited, "the second SIGINT did not exit while the clear was going"); code != exitInterrupted {
		t.Errorf("exit %d, want %d", code, exitInterrupted)
	}
	if k.calls != 1 {
		t.Errorf("the cluster was asked to abandon its objects %d times, want once", k.calls)
	}
	errs := r.stderr.String()
	for _, want := range []string{
		"aftershock: interrupt: clearing faults (again to quit at once)\n",
		"aftershock: interrupt again: exiting without waiting for the clear; local faults (fault proxies, stalled clients, netns test hosts) end with this process\n",
		"aftershock: context staging, run 4f2a9c1e: asked the API server to delete NetworkChaos/shop/cut; Chaos Mesh recovers their targets before it lets them go (not waited for)\n",
		"aftershock: context staging, run 4f2a9c1e: aftershock cleanup --context staging --run 4f2a9c1e deletes anything of the run still there\n",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

// TestSecondSignalNamesWhatItCouldNotDelete: a cluster that refuses the
// deletes leaves its objects until their duration runs out, and stderr
// says so with the command that removes them; a cluster of no run says
// nothing beyond the local faults.
func TestSecondSignalNamesWhatItCouldNotDelete(t *testing.T) {
	k := &fakeCluster{run: "77aa0b3d", err: errors.New(`delete NetworkChaos shop/cut: networkchaos.chaos-mesh.org "cut" is forbidden`)}
	var left clusters
	left.add("prod", k)
	r := startInterrupts(t, &left)
	r.sigs <- syscall.SIGTERM
	within(t, r.cleared, "the first SIGTERM did not cancel the run")
	r.sigs <- syscall.SIGTERM
	if code := within(t, r.exited, "the second SIGTERM did not exit"); code != exitInterrupted {
		t.Errorf("exit %d, want %d", code, exitInterrupted)
	}
	errs := r.stderr.String()
	want := `aftershock: context prod, run 77aa0b3d: could not delete every Chaos Mesh object within 5s: delete NetworkChaos shop/cut: networkchaos.chaos-mesh.org "cut" is forbidden; they stay until their duration runs out, or until aftershock cleanup --context prod --run 77aa0b3d removes them` + "\n"
	if !strings.Contains(errs, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errs)
	}
	if strings.Contains(errs, "asked the API server") {
		t.Errorf("stderr claims a delete that was refused:\n%s", errs)
	}

	r = startInterrupts(t, &clusters{})
	r.sigs <- syscall.SIGINT
	within(t, r.cleared, "the first SIGINT did not cancel the run")
	r.sigs <- syscall.SIGINT
	within(t, r.exited, "the second SIGINT did not exit")
	if errs := r.stderr.String(); strings.Contains(errs, "Chaos Mesh") || !strings.HasSuffix(errs, "end with this process\n") {
		t.Errorf("a run without a cluster: stderr\n%s", errs)
	}

	// The demo's services, started by this process, are killed: a
	// signal sent to it alone would leave them running.
	r = startInterrupts(t, &clusters{}, "aftershock (pid 4242)", "aftershock (pid 4243)")
	r.sigs <- syscall.SIGTERM
	within(t, r.cleared, "the first SIGTERM did not cancel the run")
	r.sigs <- syscall.SIGTERM
	within(t, r.exited, "the second SIGTERM did not exit")
	if errs, want := r.stderr.String(), "end with this process; killed the services it started: aftershock (pid 4242), aftershock (pid 4243)\n"; !strings.HasSuffix(errs, want) {
		t.Errorf("stderr does not end with %q:\n%s", want, errs)
	}
}

// TestThirdSignalDoesNotWaitForTheCluster: a cluster that does not answer
// the deletes holds the exit at most abandonWithin, and a third signal
// exits at once, with what may stay there and the command that removes it.
func TestThirdSignalDoesNotWaitForTheCluster(t *testing.T) {
	k := &fakeCluster{run: "0c0ffee0", block: make(chan struct{})}
	defer close(k.block)
	var left clusters
	left.add("staging", k)
	r := startInterrupts(t, &left)
	r.sigs <- syscall.SIGINT
	within(t, r.cleared, "the first SIGINT did not cancel the run")
	r.sigs <- syscall.SIGINT
	// The third signal only once the cluster is being asked.
	for {
		k.mu.Lock()
		asked := k.calls > 0
		k.mu.Unlock()
		if asked {
			break
		}
		select {
		case code := <-r.exited:
			t.Fatalf("exited %d before asking the cluster", code)
		case <-time.After(time.Millisecond):
		}
	}
	r.sigs <- syscall.SIGINT
	if code := within(t, r.exited, "the third SIGINT did not exit"); code != exitInterrupted {
		t.Errorf("exit %d, want %d", code, exitInterrupted)
	}
	want := "aftershock: interrupt a third time: not waiting for the cluster; the Chaos Mesh objects of run 0c0ffee0 may stay until their duration runs out: aftershock cleanup --context staging --run 0c0ffee0 removes them\n"
	if errs := r.stderr.String(); !strings.Contains(errs, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errs)
	}
}

// TestNoSignalNoExit: a command that ends before any signal stops the
// handler; it neither cancels nor exits.
func TestNoSignalNoExit(t *testing.T) {
	sigs, done, exited := make(chan os.Signal, 2), make(chan struct{}), make(chan int, 1)
	cancelled := false
	handled := make(chan struct{})
	go func() {
		defer close(handled)
		interrupted(sigs, done, func() { cancelled = true }, &clusters{}, func() []string { t.Error("killed"); return nil }, &lockedBuilder{}, func(code int) { exited <- code })
	}()
	close(done)
	within(t, handled, "the handler did not stop")
	if cancelled || len(exited) > 0 {
		t.Errorf("cancelled %v, exited %d times", cancelled, len(exited))
	}
}
