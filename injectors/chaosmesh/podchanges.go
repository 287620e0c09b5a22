package chaosmesh

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// ChangeKind is what became of a pod of the target since its baseline.
type ChangeKind string

// Changes.
const (
	// Restarted: a container of the pod restarted (its restartCount
	// grew). The process the baseline was taken of is gone: a restart
	// under a fault fails the drill.
	Restarted ChangeKind = "restarted"
	// Replaced: a pod of the same name with another UID (a StatefulSet's
	// pod deleted and made anew). Its process is not the baseline's, so
	// it cannot be judged against it.
	Replaced ChangeKind = "replaced"
	// Gone: the pod is no longer there, or is being deleted, or no longer
	// running (a rollout, a scale-down, an eviction): it cannot be judged
	// from then on.
	Gone ChangeKind = "gone"
	// Appeared: a pod the selector selects now that was not there at the
	// baseline (a rollout, autoscaling): it has no baseline to be judged
	// against.
	Appeared ChangeKind = "appeared"
)

// Change is what became of one pod since the baseline.
type Change struct {
	// Pod is the pod's name (the namespace only when the selector spans
	// several).
	Pod  string
	Kind ChangeKind
	// Detail says how: the restarts and the last termination's reason
	// and exit code ("OOMKilled (exit 137)"), the UIDs of a replaced pod,
	// why a pod is gone.
	Detail string
	// Restarts is how many times its containers restarted since the
	// baseline (Restarted).
	Restarts int32
	// Last is the last termination of the container that restarted, as
	// the kubelet recorded it (nil when it recorded none).
	Last *Termination
}

// Fails tells a change that fails the drill on its own: a restart.
// Replaced, gone and new pods are what could not be judged.
func (c Change) Fails() bool { return c.Kind == Restarted }

// Sentence says the change as a finding, during the named fault (and
// phase): "pod shop-7f9c restarted during slow-payments: OOMKilled (exit
// 137)".
func (c Change) Sentence(during string) string {
	var verb string
	switch c.Kind {
	case Restarted:
		verb = "restarted"
		if c.Restarts > 1 {
			verb = fmt.Sprintf("restarted %d times", c.Restarts)
		}
	case Replaced:
		verb = "was replaced by a new pod of the same name"
	case Gone:
		verb = "went away"
	case Appeared:
		verb = "appeared"
	}
	s := "pod " + c.Pod + " " + verb
	if during != "" {
		s += " during " + during
	}
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// Compare tells what became of the pods of base in now, the same
// selector's pods read later: each pod's restarts (with its last
// termination), replacements, departures, and the pods that are new.
// Pods are matched by namespace and name, and told apart by UID. The
// changes come sorted by pod.
func Compare(base, now []Pod) []Change {
	spans := map[string]bool{}
	for _, p := range slices.Concat(base, now) {
		spans[p.Namespace] = true
	}
	name := func(p *Pod) string {
		if len(spans) > 1 {
			return p.Key()
		}
		return p.Name
	}
	byKey := map[string]*Pod{}
	for i := range now {
		byKey[now[i].Key()] = &now[i]
	}
	var out []Change
	seen := map[string]bool{}
	for i := range base {
		b := &base[i]
		seen[b.Key()] = true
		n, ok := byKey[b.Key()]
		switch {
		case !ok:
			out = append(out, Change{Pod: name(b), Kind: Gone, Detail: "the API server no longer has it (deleted, evicted or scaled down): not judged from then on"})
		case n.UID != b.UID:
			out = append(out, Change{Pod: name(b), Kind: Replaced, Detail: fmt.Sprintf("UID %s → %s: its process is not the baseline's, so it is not judged against it", b.UID, n.UID)})
		default:
			if c, ok := restarted(b, n); ok {
				c.Pod = name(b)
				out = append(out, c)
			}
			if why := n.Unready(); why != "" {
				out = append(out, Change{Pod: name(b), Kind: Gone, Detail: why + ": not judged from then on"})
			}
		}
	}
	for i := range now {
		n := &now[i]
		if seen[n.Key()] || n.Deleting {
			continue
		}
		out = append(out, Change{Pod: name(n), Kind: Appeared, Detail: "it was not there at the baseline, so it has none to be judged against"})
	}
	slices.SortStableFunc(out, func(a, b Change) int { return cmp.Compare(a.Pod, b.Pod) })
	return out
}

// restarted tells whether a container of pod b restarted by the time of
// n (the same pod, read later), with the last termination's reason.
func restarted(b, n *Pod) (Change, bool) {
	var parts []string
	var total int32
	var last *Termination
	for _, nc := range n.Containers {
		var before int32
		if i := slices.IndexFunc(b.Containers, func(c Container) bool { return c.Name == nc.Name }); i >= 0 {
			before = b.Containers[i].RestartCount
		}
		grew := nc.RestartCount - before
		if grew <= 0 {
			continue
		}
		total += grew
		why := "no termination recorded"
		if t := nc.LastTerminated; t != nil {
			why = t.String()
			if last == nil || t.Finished.After(last.Finished) {
				last = t
			}
		}
		if len(n.Containers) > 1 {
			why = "container " + nc.Name + " " + why
		}
		parts = append(parts, why)
	}
	if total == 0 {
		return Change{}, false
	}
	return Change{Kind: Restarted, Restarts: total, Last: last, Detail: strings.Join(parts, "; ")}, true
}
