package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aftershock/aftershock/fixtures/launch"
)

// signalContext is cancelled by the first SIGINT or SIGTERM, which makes
// the runner clear every fault and return; a second signal exits at once
// (130), after asking each cluster to delete what this process still
// holds there (see interrupted).
func signalContext(parent context.Context, stderr io.Writer) (context.Context, func()) {
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go interrupted(ch, done, cancel, &leftovers, launch.KillAll, stderr, os.Exit)
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}

// abandonWithin bounds what a second signal still does before exiting:
// one delete per Chaos Mesh object this process holds, no waiting for
// Chaos Mesh to recover them.
const abandonWithin = 5 * time.Second

// interrupted handles the signals of one command until done. The first
// calls cancel: the runner clears every fault and returns. A second
// exits (exit 130) without waiting for that clear. Local faults need
// no clear then: fault proxies and stalled clients are this process's own
// sockets, and a netns test host's namespace, rules and veth are removed
// by the kernel when the process ends. The services this process started
// (the demo's) are killed (kill), as a signal sent to this process alone
// would leave them running. What can outlive it are Chaos Mesh objects:
// each cluster is asked to delete those this process still holds, within
// abandonWithin, and what was done or could not be done goes to stderr
// with the aftershock cleanup command that removes the rest. A third
// signal exits without waiting for the cluster.
func interrupted(sigs <-chan os.Signal, done <-chan struct{}, cancel func(), left *clusters, kill func() []string, stderr io.Writer, exit func(int)) {
	select {
	case s := <-sigs:
		fmt.Fprintf(stderr, "aftershock: %v: clearing faults (again to quit at once)\n", s)
		cancel()
	case <-done:
		return
	}
	var s os.Signal
	select {
	case s = <-sigs:
	case <-done:
		return
	}
	local := "local faults (fault proxies, stalled clients, netns test hosts) end with this process"
	if killed := kill(); len(killed) > 0 {
		local += "; killed the services it started: " + strings.Join(killed, ", ")
	}
	fmt.Fprintf(stderr, "aftershock: %v again: exiting without waiting for the clear; %s\n", s, local)
	ctx, stop := context.WithTimeout(context.Background(), abandonWithin)
	defer stop()
	report := make(chan string, 1)
	go func() { report <- left.abandon(ctx) }()
	select {
	case r := <-report:
		io.WriteString(stderr, r)
	case s := <-sigs:
		fmt.Fprintf(stderr, "aftershock: %v a third time: not waiting for the cluster; %s", s, left.unknown())
	}
	exit(exitInterrupted)
}

// leftovers are the clusters the drill command submits to: the only
// place a fault can outlive this process.
var leftovers clusters

// abandoner is what a second signal asks of a cluster (chaosmesh.Cluster).
type abandoner interface {
	RunID() string
	Abandon(ctx context.Context) (asked []string, err error)
}

// clusters are the clusters of this process's runs, by kube context.
type clusters struct {
	mu   sync.Mutex
	runs []clusterRun
}

type clusterRun struct {
	context string // as given: the cleanup command's --context
	k       abandoner
}

func (c *clusters) add(context string, k abandoner) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runs = append(c.runs, clusterRun{context, k})
}

func (c *clusters) list() []clusterRun {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]clusterRun(nil), c.runs...)
}

// abandon asks every cluster to delete what this process holds there,
// and says, one line each, what it asked and what it could not.
func (c *clusters) abandon(ctx context.Context) string {
	var b strings.Builder
	for _, r := range c.list() {
		cleanup := fmt.Sprintf("aftershock cleanup --context %s --run %s", r.context, r.k.RunID())
		asked, err := r.k.Abandon(ctx)
		if len(asked) > 0 {
			fmt.Fprintf(&b, "aftershock: context %s, run %s: asked the API server to delete %s; Chaos Mesh recovers their targets before it lets them go (not waited for)\n",
				r.context, r.k.RunID(), strings.Join(asked, ", "))
		}
		if err != nil {
			fmt.Fprintf(&b, "aftershock: context %s, run %s: could not delete every Chaos Mesh object within %s: %v; they stay until their duration runs out, or until %s removes them\n",
				r.context, r.k.RunID(), abandonWithin, err, cleanup)
			continue
		}
		// An object whose submit is in flight right now is not known yet.
		fmt.Fprintf(&b, "aftershock: context %s, run %s: %s deletes anything of the run still there\n", r.context, r.k.RunID(), cleanup)
	}
	return b.String()
}

// unknown says, without asking the clusters, what may be left there.
func (c *clusters) unknown() string {
	var b strings.Builder
	for _, r := range c.list() {
		fmt.Fprintf(&b, "the Chaos Mesh objects of run %s may stay until their duration runs out: aftershock cleanup --context %s --run %s removes them; ", r.k.RunID(), r.context, r.k.RunID())
	}
	if b.Len() == 0 {
		return "nothing outlives it\n"
	}
	return strings.TrimSuffix(b.String(), "; ") + "\n"
}
