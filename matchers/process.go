package matchers

import (
	"fmt"
	"strings"
	"time"
)

// Restart is a finding of its own: the process that answered is not the
// one the verdict would compare with the baseline. The service restarted
// (a crash, an OOM kill, a probe that failed behind a partition), or it
// stopped answering and nothing answered again before the verdict. Nothing
// such a process holds is compared with the baseline, and the verdict
// fails: a crash under a fault is what a drill is there to find.
type Restart struct {
	// Replica names the replica ("" for a target of one process).
	Replica string `json:"replica,omitempty"`
	// Fault and Phase say when it was caught ("" outside a drill).
	Fault string `json:"fault,omitempty"`
	Phase string `json:"phase,omitempty"`
	// At is when the capture that caught it was taken.
	At time.Time `json:"at,omitzero"`
	// Why says how it was told: "counters went back (NumGC 212 → 3)",
	// another binary, a pod's restart count and last state.
	Why string `json:"why"`
	// Gone: the process stopped answering and no other one answered
	// before the verdict.
	Gone bool `json:"gone,omitempty"`
	// Platform: told by the platform's record of the process (a pod's
	// status), not by a capture.
	Platform bool `json:"platform,omitempty"`
	// LastSeen is the phase in which the old process last answered, when
	// it is not Phase: the restart came between the two (captures are
	// paced to spare the target, so the one that catches a restart may
	// come a phase later).
	LastSeen string `json:"lastSeen,omitempty"`
}

// String is the finding as every rendering says it: "the service
// restarted during slow-payments (settle): counters went back (NumGC 212
// → 3)", prefixed with the replica's name for a target of several.
func (r Restart) String() string {
	what := "restarted"
	if r.Gone {
		what = "stopped answering"
	}
	when := ""
	switch {
	case r.Fault != "" && r.Phase != "":
		when = fmt.Sprintf(" during %s (%s)", r.Fault, r.Phase)
	case r.Fault != "":
		when = " during " + r.Fault
	case r.Phase != "":
		when = " during the " + r.Phase
	}
	s := fmt.Sprintf("%sthe service %s%s: %s", replicaPrefix(r.Replica), what, when, r.Why)
	if r.LastSeen != "" && r.LastSeen != r.Phase {
		s += "; the old process last answered in the " + r.LastSeen
	}
	return s
}

func replicaPrefix(name string) string {
	if name == "" {
		return ""
	}
	return name + ": "
}

// restartMessage is the paragraph a failure message opens with.
func (r Restart) message() string {
	return r.String() + "\n  Nothing it holds was compared with the baseline: the baseline was taken of another process.\n"
}

// OfReplicas gathers the findings of a target's replicas, each judged
// against its own baseline (and named by its Replica), into the one
// verdict of the target: it is within tolerance only when every replica
// is, and its culprits and message are theirs, each naming its replica.
func OfReplicas(each []*Findings) *Findings {
	f := &Findings{Replicas: each}
	if len(each) > 0 {
		f.Tolerances = each[0].Tolerances
	}
	return f
}

// Restarts are the restarts among the findings (of every replica).
func (f *Findings) Restarts() []Restart {
	if f == nil {
		return nil
	}
	var out []Restart
	if f.Restart != nil {
		out = append(out, *f.Restart)
	}
	for _, r := range f.Replicas {
		out = append(out, r.Restarts()...)
	}
	return out
}

// replicasMessage is Message for a target of several replicas: each
// replica's message under its name.
func (f *Findings) replicasMessage(rs []Resource) string {
	var b strings.Builder
	for i, r := range f.Replicas {
		if i > 0 {
			b.WriteString("\n")
		}
		status := "within tolerance"
		if !r.OK(rs...) {
			status = "NOT within tolerance"
		}
		fmt.Fprintf(&b, "Replica %s: %s\n  %s\n", r.Replica, status, strings.ReplaceAll(strings.TrimSpace(r.Message(rs...)), "\n", "\n  "))
	}
	return b.String()
}
