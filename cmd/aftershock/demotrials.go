package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/explore"
	"github.com/aftershock/aftershock/experiments/search"
	"github.com/aftershock/aftershock/fixtures/fanout"
	"github.com/aftershock/aftershock/fixtures/launch"
	"github.com/aftershock/aftershock/fixtures/stack"
)

// `aftershock demo --search` and `--explore` run the threshold search and
// the schedule exploration on the demo's own services, started from this
// binary, so that both can be tried with nothing else: the same code as
// `aftershock search` and `aftershock explore`, with the arguments the
// docs give.

// demoTrialSettle is the settle deadline of every trial: the leaks of the
// demo services show in seconds.
const demoTrialSettle = 4 * time.Second

// demoTrialOut is where a demo search or exploration writes its Drill
// file: given with -o, else beside the system's temporary files (it names
// the demo's ports, which are gone once the demo ends).
func demoTrialOut(out, name string) string {
	if out != "" {
		return out
	}
	return filepath.Join(os.TempDir(), "aftershock-demo-"+name+".yaml")
}

// runDemoSearch searches the latency of the slow-upstream drill's fault
// at which the demo shop with its goroutine leak (it gives up on payments
// after 300 ms and leaves the late answer's goroutine behind) starts to
// fail.
func runDemoSearch(ctx context.Context, g *globalOptions, out string, stdout, stderr io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return withCode(exitCouldNotRun, fmt.Errorf("find own binary: %w", err))
	}
	st, err := stack.Start(ctx, stack.Config{
		Shop:   []string{self, "fixture", "shop"},
		Leaks:  []string{"goroutine"},
		Launch: []launch.Option{launch.WithOutput(io.Discard)},
	})
	if err != nil {
		return withCode(exitCouldNotRun, err)
	}
	defer st.Stop()
	fmt.Fprintf(stderr, "demo: the shop at %s with its goroutine leak (it gives up on payments after 300ms); searching the latency at which slow-upstream fails\n", st.Shop.URL)
	// The shipped drill, without its 50ms jitter (a latency under it could
	// not carry it) and held 3s, as docs/search-explore.md runs it.
	data, err := fs.ReadFile(experiments.DemoFS, "slow-upstream.yaml")
	if err != nil {
		return withCode(exitCouldNotRun, err)
	}
	text := strings.Replace(string(data), "delay: {latency: 500ms, jitter: 50ms}", "delay: {latency: 500ms}", 1)
	text = strings.Replace(text, "duration: 5s", "duration: 3s", 1)
	d, err := experiments.Parse("drills/slow-upstream.yaml", []byte(text), experiments.WithVars(st.Vars()))
	if err != nil {
		return withCode(exitCouldNotRun, fmt.Errorf("the demo's search drill: %w", err))
	}
	v, err := search.ParseVary("latency=10ms..3s")
	if err != nil {
		return withCode(exitCouldNotRun, err)
	}
	if err := v.Check(d, "slow-payments"); err != nil {
		return withCode(exitCouldNotRun, fmt.Errorf("the demo's search drill: %w", err))
	}
	f := searchFlags{fault: "slow-payments", out: demoTrialOut(out, "threshold"), settle: demoTrialSettle,
		opts: search.Options{MaxTrials: 20, Repeats: 3, Resolution: 0.05}}
	return runSearch(ctx, g, d, v, f, stdout, stderr)
}

// runDemoExplore explores schedules of the fanout service's faults: each
// of its upstreams slow alone is taken in its stride, both slow at once
// leak a goroutine per request. Seed 33 draws such a schedule first.
func runDemoExplore(ctx context.Context, g *globalOptions, out string, stdout, stderr io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return withCode(exitCouldNotRun, fmt.Errorf("find own binary: %w", err))
	}
	st, err := fanout.StartCommand(ctx, []string{self, "fixture", "fanout"}, nil, nil, launch.WithOutput(io.Discard))
	if err != nil {
		return withCode(exitCouldNotRun, err)
	}
	defer st.Stop()
	fmt.Fprintf(stderr, "demo: the fanout service at %s (it asks prices and stock at once); exploring schedules of its drill's faults\n", st.Service.URL)
	d, err := experiments.Parse("fixtures/fanout/drill.yaml", fanout.Drill, experiments.WithVars(st.Vars()))
	if err != nil {
		return withCode(exitCouldNotRun, fmt.Errorf("the fanout drill: %w", err))
	}
	pool, err := explore.NewPool(d)
	if err != nil {
		return withCode(exitCouldNotRun, fmt.Errorf("the fanout drill: %w", err))
	}
	f := exploreFlags{out: demoTrialOut(out, "minimal"), settle: demoTrialSettle, opts: explore.Options{
		Seed: 33, Runs: 10, MaxFaults: 3, MaxTrials: 40, Repeats: 1, Confirm: 3, Shrink: true,
	}}
	if err := explore.Check(pool, f.opts); err != nil {
		return withCode(exitCouldNotRun, err)
	}
	return runExplore(ctx, g, d, pool, f, stdout, stderr)
}
