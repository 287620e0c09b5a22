package chaosmesh_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/aftershock/aftershock/injectors/chaosmesh"
)

func running(name, uid string, restarts ...int32) chaosmesh.Pod {
	p := chaosmesh.Pod{Namespace: "shop", Name: name, UID: typesUID(uid), IP: "198.18.0.2", Phase: corev1.PodRunning}
	for i, n := range restarts {
		p.Containers = append(p.Containers, chaosmesh.Container{Name: []string{"shop", "sidecar"}[i], RestartCount: n})
	}
	return p
}

// TestCompare: what became of each pod of the baseline is told from its
// UID and its containers' restart counts, with the kubelet's reason for
// the last termination; gone and new pods are said, never passed over.
func TestCompare(t *testing.T) {
	base := []chaosmesh.Pod{running("shop-7f9c", "a", 0), running("shop-2d41", "b", 2), running("shop-0", "c", 0), running("shop-9x", "d", 0)}
	oom := running("shop-7f9c", "a", 1)
	oom.Containers[0].LastTerminated = &chaosmesh.Termination{Reason: "OOMKilled", ExitCode: 137}
	now := []chaosmesh.Pod{
		oom,
		running("shop-2d41", "b", 2), // restarted before the baseline: not now
		running("shop-0", "c2", 0),   // a StatefulSet's pod made anew
		running("shop-new", "e", 0),  // a rollout's new pod
	}
	got := chaosmesh.Compare(base, now)
	var lines []string
	for _, c := range got {
		lines = append(lines, c.Sentence("slow-payments"))
	}
	want := []string{
		"pod shop-0 was replaced by a new pod of the same name during slow-payments: UID c → c2",
		"pod shop-7f9c restarted during slow-payments: OOMKilled (exit 137)",
		"pod shop-9x went away during slow-payments: the API server no longer has it",
		"pod shop-new appeared during slow-payments: it was not there at the baseline",
	}
	if len(lines) != len(want) {
		t.Fatalf("changes:\n%s\nwant %d", strings.Join(lines, "\n"), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("change %d: %q, want it to start %q", i, lines[i], want[i])
		}
	}
	fails := slices.IndexFunc(got, func(c chaosmesh.Change) bool { return c.Fails() })
	if fails < 0 || got[fails].Kind != chaosmesh.Restarted || got[fails].Last.ExitCode != 137 {
		t.Errorf("the restart is the change that fails: %+v", got)
	}
	if n := len(slices.DeleteFunc(slices.Clone(got), func(c chaosmesh.Change) bool { return !c.Fails() })); n != 1 {
		t.Errorf("%d changes fail the drill, want the restart alone", n)
	}
	// Nothing changed: nothing said.
	if c := chaosmesh.Compare(base, base); len(c) != 0 {
		t.Errorf("unchanged pods: %+v", c)
	}
}

// TestCompareContainers: a pod of several containers names the one that
// restarted, counts every restart, and says when the kubelet recorded no
// termination; a pod that stops running or is being deleted is gone.
func TestCompareContainers(t *testing.T) {
	base := []chaosmesh.Pod{running("shop-1", "a", 0, 0), running("shop-2", "b", 0)}
	twice := running("shop-1", "a", 0, 2)
	twice.Containers[1].LastTerminated = &chaosmesh.Termination{Reason: "Error", ExitCode: 2}
	deleting := running("shop-2", "b", 0)
	deleting.Deleting = true
	got := chaosmesh.Compare(base, []chaosmesh.Pod{twice, deleting})
	if len(got) != 2 {
		t.Fatalf("changes %+v", got)
	}
	if s := got[0].Sentence(""); s != "pod shop-1 restarted 2 times: container sidecar Error (exit 2)" {
		t.Errorf("%q", s)
	}
	if got[1].Kind != chaosmesh.Gone || !strings.Contains(got[1].Detail, "being deleted") {
		t.Errorf("%+v", got[1])
	}
	silent := running("shop-2", "b", 1)
	got = chaosmesh.Compare(base[1:], []chaosmesh.Pod{silent})
	if len(got) != 1 || got[0].Sentence("x") != "pod shop-2 restarted during x: no termination recorded" {
		t.Errorf("%+v", got)
	}
}

// TestNewPodSelector: the selector says what it selects, defaults its
// namespace as Chaos Mesh does, and collects every problem.
func TestNewPodSelector(t *testing.T) {
	s, ps := chaosmesh.NewPodSelector(v1alpha1.PodSelectorSpec{GenericSelectorSpec: v1alpha1.GenericSelectorSpec{
		LabelSelectors:      map[string]string{"app": "shop"},
		ExpressionSelectors: v1alpha1.LabelSelectorRequirements{{Key: "track", Operator: "NotIn", Values: []string{"canary"}}},
		FieldSelectors:      map[string]string{"status.phase": "Running"},
	}}, "shop")
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	if got := s.String(); got != "pods with labels app=shop,track notin (canary), fields status.phase=Running in namespace shop" {
		t.Errorf("%q", got)
	}
	_, ps = chaosmesh.NewPodSelector(v1alpha1.PodSelectorSpec{
		GenericSelectorSpec: v1alpha1.GenericSelectorSpec{Namespaces: []string{"ok", "Not_OK"}, FieldSelectors: map[string]string{"spec.host": "x"}},
		NodeSelectors:       map[string]string{"zone": "a"},
	}, "default")
	var fields []string
	for _, p := range ps {
		fields = append(fields, p.Field)
	}
	if !slices.Equal(fields, []string{"namespaces[1]", "fieldSelectors[spec.host]", "nodeSelectors"}) {
		t.Errorf("problems at %v: %+v", fields, ps)
	}
}

func typesUID(s string) types.UID { return types.UID(s) }
