package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/injectors/chaosmesh"
)

// A target of pods (spec.target.pods): its replicas are the pods its
// selector selects at the preflight, found through the cluster's API
// server; each is read on its own (by pod IP in the cluster, through the
// API server's pod proxy from outside) and judged as a replica. What the
// API server says of each pod (its UID, its containers' restart counts
// and last termination) is the replica's process record: a restart, a
// replacement or a pod gone is a finding of the replica, said with the
// kubelet's reason. A pod that appears later (a rollout, autoscaling) has
// no baseline: the result says it was not judged.

// podTarget is what the runner knows of a target's pods.
type podTarget struct {
	k   *chaosmesh.Cluster
	sel *chaosmesh.PodSelector
	mu  sync.Mutex
	// known are the pods judged or said so far, by namespace/name: a
	// pod that appears is said once.
	known map[string]bool
}

// podReplicas finds the drill's pods and makes each a replica. It fails
// (the preflight's exit 3) when the runner has no cluster, the identity
// may not find or read the pods, or the selector selects no running pod.
func (r *Runner) podReplicas(ctx context.Context, d *experiments.Drill) ([]Replica, error) {
	p := d.Spec.Target.Pods
	k := r.cfg.cluster
	if k == nil {
		return nil, fmt.Errorf("%s: target pods are found through a cluster's API server, and this run has no cluster (aftershock drill connects to spec.cluster.context or --context)", d.Where("spec.target.pods"))
	}
	sel := d.PodSelector()
	if sel == nil {
		return nil, fmt.Errorf("%s: the selector is not valid", d.Where("spec.target.pods.selector"))
	}
	h := header(d.Spec.Target.Headers)
	if h.Get("Authorization") != "" && k.Reach() == chaosmesh.ReachProxy {
		// The API server authenticates the request by that header and
		// does not pass it on.
		return nil, fmt.Errorf("%s: an Authorization header cannot reach a pod through the API server's pod proxy (the API server takes it for its own authentication): run aftershock in the cluster, where pods are read by their IPs, or guard pprof otherwise",
			d.Where("spec.target.headers"))
	}
	if err := k.CheckPods(ctx, sel.Namespaces()); err != nil {
		return nil, err
	}
	pods, err := k.FindPods(ctx, sel)
	if err != nil {
		return nil, err
	}
	t := &podTarget{k: k, sel: sel, known: map[string]bool{}}
	var reps []Replica
	var unready []string
	multi := len(sel.Namespaces()) > 1
	for _, pod := range pods {
		t.known[pod.Key()] = true
		if why := pod.Unready(); why != "" {
			unready = append(unready, fmt.Sprintf("%s (%s)", pod.Key(), why))
			continue
		}
		base, hc, err := k.PprofEndpoint(pod, p.Port, p.PprofPath())
		if err != nil {
			return nil, err
		}
		name := pod.Name
		if multi {
			name = pod.Key()
		}
		reps = append(reps, Replica{Name: name, Pprof: base, Headers: h.Clone(), HTTPClient: hc, Identity: podIdentity(k, pod, name)})
	}
	if len(reps) == 0 {
		found := "no pod"
		if len(unready) > 0 {
			found = "only pods it cannot read: " + strings.Join(unready, ", ")
		}
		return nil, fmt.Errorf("%s: %s on %s selects %s", d.Where("spec.target.pods.selector"), sel, k.Name, found)
	}
	for _, u := range unready {
		r.warnf("pod %s is not judged: it was not running at the preflight", u)
	}
	r.progressf("target pods: %d pods, read %s: %s", len(reps), k.Reach(), strings.Join(names(reps), ", "))
	r.pods = t
	return reps, nil
}

func names(reps []Replica) []string {
	out := make([]string, len(reps))
	for i, x := range reps {
		out[i] = x.Name
	}
	return out
}

// podIdentity reads pod's record: its UID and restart counts, and what
// changed since the last reading (the kubelet's reason for a restart).
func podIdentity(k *chaosmesh.Cluster, pod chaosmesh.Pod, name string) func(context.Context) (ProcessRecord, error) {
	var mu sync.Mutex
	last := pod
	return func(ctx context.Context) (ProcessRecord, error) {
		now, ok, err := k.GetPod(ctx, pod.Namespace, pod.Name)
		if err != nil {
			return ProcessRecord{}, err
		}
		mu.Lock()
		defer mu.Unlock()
		var seen []chaosmesh.Pod
		if ok {
			seen = []chaosmesh.Pod{now}
		}
		rec := ProcessRecord{Key: podKey(now, ok)}
		var why []string
		for _, c := range chaosmesh.Compare([]chaosmesh.Pod{last}, seen) {
			c.Pod = name
			why = append(why, c.Sentence(""))
			rec.Gone = rec.Gone || c.Kind == chaosmesh.Gone
		}
		rec.Detail = strings.Join(why, "; ")
		if ok {
			last = now
		}
		return rec, nil
	}
}

// podKey changes when another process serves the pod: another pod of the
// name, a container restarted, the pod gone or no longer running.
func podKey(p chaosmesh.Pod, ok bool) string {
	if !ok {
		return "gone"
	}
	var b strings.Builder
	b.WriteString(string(p.UID))
	for _, c := range p.Containers {
		fmt.Fprintf(&b, " %s=%d", c.Name, c.RestartCount)
	}
	if why := p.Unready(); why != "" {
		b.WriteString(" unready")
	}
	return b.String()
}

// newPods says which pods the selector selects now that were not there
// at the preflight: they have no baseline and are not judged, and the
// result says so (once per pod). A failure to list them is said too.
func (r *Runner) newPods(ctx context.Context, fault string) {
	t := r.pods
	if t == nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	pods, err := t.k.FindPods(cctx, t.sel)
	if err != nil {
		if !errors.Is(ctx.Err(), context.Canceled) {
			r.warnf("after %s, the pods could not be listed again, so pods that appeared meanwhile are not known: %v", fault, err)
		}
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	multi := len(t.sel.Namespaces()) > 1
	for _, p := range pods {
		if t.known[p.Key()] || p.Deleting {
			continue
		}
		t.known[p.Key()] = true
		name := p.Name
		if multi {
			name = p.Key()
		}
		r.warnf("pod %s appeared during %s (a rollout, autoscaling): it has no baseline, so it was not judged", name, fault)
	}
}
