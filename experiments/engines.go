package experiments

import (
	"fmt"
	"slices"

	"github.com/aftershock/aftershock/injectors/netns"

	"github.com/aftershock/aftershock/injectors/stall"
	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
)

// What each engine can honour. A fault the chosen engine cannot honour is
// an error at load time, never silently ignored. Kept as one table so that
// an engine that learns a new trick changes one line.
var (
	engines = []Engine{EngineProxy, EngineNetns, EngineChaosMesh}

	// networkActions lists the NetworkChaos actions each engine injects.
	networkActions = map[Engine][]v1alpha1.NetworkChaosAction{
		EngineProxy: {v1alpha1.DelayAction, v1alpha1.PartitionAction, v1alpha1.BandwidthAction},
		// netns delays with netem, which not every kernel has: the runner
		// checks for it before anything is injected.
		EngineNetns: {v1alpha1.DelayAction, v1alpha1.LossAction, v1alpha1.PartitionAction, v1alpha1.BandwidthAction},
		EngineChaosMesh: {v1alpha1.NetemAction, v1alpha1.DelayAction, v1alpha1.LossAction,
			v1alpha1.DuplicateAction, v1alpha1.CorruptAction, v1alpha1.PartitionAction,
			v1alpha1.BandwidthAction},
	}

	// httpActions lists the HTTPChaos actions each engine injects.
	httpActions = map[Engine][]string{
		EngineProxy:     {"abort", "delay", "replace", "patch"},
		EngineChaosMesh: {"abort", "delay", "replace", "patch"},
	}

	allNetworkActions = networkActions[EngineChaosMesh]

	directions         = []string{string(v1alpha1.To), string(v1alpha1.From), string(v1alpha1.Both)}
	partitionBehaviors = []string{string(v1alpha1.DropPartitionBehavior), string(v1alpha1.RejectPartitionBehavior)}
	selectorModes      = []string{string(v1alpha1.OneMode), string(v1alpha1.AllMode), string(v1alpha1.FixedMode),
		string(v1alpha1.FixedPercentMode), string(v1alpha1.RandomMaxPercentMode)}
	httpTargets = []string{string(v1alpha1.PodHttpRequest), string(v1alpha1.PodHttpResponse)}
	protocols   = []string{string(ProtocolTCP), string(ProtocolHTTP), string(ProtocolH2C), string(ProtocolGRPC)}
	stallModes  = strs(stall.Modes())
	httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)

// Local marks engines that run on this machine; for them the Chaos Mesh
// addressing fields (selector, mode, value, target, externalTargets,
// device, targetDevice, remoteCluster) are optional and unused, because the
// upstream's listen and forward addresses say where the fault goes.
func (e Engine) Local() bool { return e != EngineChaosMesh }

func engineNames() []string { return strs(engines) }

// enginesForNetwork lists the engines that can inject action.
func enginesForNetwork(action v1alpha1.NetworkChaosAction) []string {
	var out []string
	for _, e := range engines {
		if slices.Contains(networkActions[e], action) {
			out = append(out, string(e))
		}
	}
	return out
}

// strs converts a slice of string-typed values to []string.
func strs[S ~string](xs []S) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// kernelFaults says whether this system has kernel faults; a test swaps it
// to see the refusal a Mac or Windows machine gives.
var kernelFaults = netns.Supported

// CheckEngines refuses, before anything is injected, faults that need an
// engine this run cannot drive: a fault on engine chaos-mesh when the run
// has no cluster (Problems: bad input), and a kernel delay on a kernel
// without netem (an error naming the fault's line and the kernel's
// reason: the drill cannot run here), and any kernel fault or netns
// upstream on a system that is not Linux (likewise).
func (d *Drill) CheckEngines(cluster bool) error {
	if err := kernelFaults(); err != nil {
		// Kernel faults need Linux: refused here, where the drill could
		// not run anyway, never by the build (the file stays valid on
		// every system: it runs unchanged on a Linux machine).
		for i, u := range d.Spec.Upstreams {
			if u.Engine == EngineNetns {
				path := fmt.Sprintf("spec.upstreams[%d].engine", i)
				return fmt.Errorf("%s: %s: upstream %s: %w", d.Where(path), path, u.Name, err)
			}
		}
		for i, f := range d.Spec.Faults {
			if f.Engine == EngineNetns {
				path := fmt.Sprintf("spec.faults[%d].engine", i)
				return fmt.Errorf("%s: %s: fault %s: %w", d.Where(path), path, f.Name, err)
			}
		}
	}
	var ps Problems
	for i := range d.Spec.Faults {
		f := &d.Spec.Faults[i]
		e := f.Engine
		if e == "" && f.Upstream != "" {
			if u := d.Upstream(f.Upstream); u != nil {
				e = u.Engine
			}
		}
		if e == EngineNetns && f.NetworkChaos != nil && f.NetworkChaos.Action == v1alpha1.DelayAction {
			if err := netns.NetemSupport(); err != nil {
				path := fmt.Sprintf("spec.faults[%d].networkChaos.action", i)
				return fmt.Errorf("%s: %s: fault %s: %w", d.Where(path), path, f.Name, err)
			}
		}
		if e == EngineChaosMesh && !cluster {
			path := fmt.Sprintf("spec.faults[%d]", i)
			ps = append(ps, &Problem{
				File: d.File, Pos: d.pos.at(path + ".engine"), Path: path + ".engine",
				Detail:  fmt.Sprintf("fault %s needs engine %q, and this run has no cluster to submit it to", f.Name, e),
				Allowed: []string{string(EngineProxy), string(EngineNetns)},
			})
		}
	}
	if len(ps) == 0 {
		return nil
	}
	return ps
}
