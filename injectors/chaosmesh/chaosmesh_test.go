package chaosmesh_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aftershock/aftershock/fixtures/kubetest"
	"github.com/aftershock/aftershock/injectors/chaosmesh"
	"github.com/aftershock/aftershock/injectors/chaosmesh/chaosmeshtest"
)

// These tests run the engine against a real API server (fixtures/kubetest:
// kube-apiserver and etcd, Chaos Mesh's CRDs installed), with a stand-in
// for Chaos Mesh's controller that watches through an informer and writes
// status as Chaos Mesh does. A server that stops answering is the same
// server behind a fault proxy (bound_test.go).

func partition(name, ns, drill string) *v1alpha1.NetworkChaos {
	return &v1alpha1.NetworkChaos{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels: map[string]string{chaosmesh.LabelDrill: drill, chaosmesh.LabelFault: name}},
		Spec: v1alpha1.NetworkChaosSpec{
			PodSelector: v1alpha1.PodSelector{Mode: v1alpha1.AllMode, Selector: v1alpha1.PodSelectorSpec{
				GenericSelectorSpec: v1alpha1.GenericSelectorSpec{Namespaces: []string{ns}, LabelSelectors: map[string]string{"app": "payments"}}}},
			Action: v1alpha1.PartitionAction,
		},
	}
}

// namespace creates a namespace for one subtest.
func namespace(t *testing.T, k *kubetest.Cluster, name string) string {
	t.Helper()
	if err := k.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// standIn runs a stand-in Chaos Mesh until the test ends.
func standIn(t *testing.T, k *kubetest.Cluster, o chaosmeshtest.Options) *chaosmeshtest.Controller {
	t.Helper()
	s, err := chaosmeshtest.Start(k.Config, k.Scheme, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// engine is the engine as aftershock makes it: its own scheme.
func engine(t *testing.T, k *kubetest.Cluster) *chaosmesh.Cluster {
	t.Helper()
	s, err := chaosmesh.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(k.Config, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return chaosmesh.New(c, 10*time.Millisecond)
}

func TestAgainstAPIServer(t *testing.T) {
	k := kubetest.Start(t)

	t.Run("inject, hold, clear, let go", func(t *testing.T) {
		ns := namespace(t, k, "inject")
		var applied, recovered atomic.Int32
		s := standIn(t, k, chaosmeshtest.Options{
			Apply: func(context.Context, chaosmesh.Chaos) (func() error, error) {
				applied.Add(1)
				return func() error { recovered.Add(1); return nil }, nil
			},
			RecoverDelay: 200 * time.Millisecond,
		})
		eng := engine(t, k)
		inj := eng.Injector(partition("cut", ns, "d"))
		if got := inj.String(); got != "NetworkChaos "+ns+"/cut" {
			t.Errorf("String() = %q", got)
		}
		if err := inj.Clear(context.Background()); err != nil {
			t.Fatalf("clear before inject: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := inj.Inject(ctx, 40*time.Second); err != nil {
			t.Fatal(err)
		}
		if applied.Load() != 1 {
			t.Fatalf("Inject returned with the fault applied %d times, want once", applied.Load())
		}
		var nc v1alpha1.NetworkChaos
		if err := k.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "cut"}, &nc); err != nil {
			t.Fatal(err)
		}
		if want := (40*time.Second + chaosmesh.DefaultWait).String(); nc.Spec.Duration == nil || *nc.Spec.Duration != want {
			t.Errorf("duration %v, want the lease plus the injection wait, %s", nc.Spec.Duration, want)
		}
		if nc.Labels[chaosmesh.LabelRun] != eng.RunID() || nc.UID == "" {
			t.Errorf("labels %v, uid %q: want the run's label and a UID from the server", nc.Labels, nc.UID)
		}
		if !slices.ContainsFunc(nc.ManagedFields, func(f metav1.ManagedFieldsEntry) bool { return f.Manager == chaosmesh.FieldOwner }) {
			t.Errorf("managed fields %+v: the engine's writes carry no field owner %q", nc.ManagedFields, chaosmesh.FieldOwner)
		}
		start := time.Now()
		if err := inj.Clear(ctx); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < 200*time.Millisecond {
			t.Errorf("clear returned after %s, before Chaos Mesh let the object go (200ms)", took)
		}
		if recovered.Load() != 1 {
			t.Errorf("recovered %d times, want once", recovered.Load())
		}
		if err := k.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "cut"}, &nc); !apierrors.IsNotFound(err) {
			t.Fatalf("after clear: %v", err)
		}
		if err := inj.Clear(ctx); err != nil {
			t.Fatalf("second clear: %v", err)
		}
		if ev := s.Events(); len(ev) != 2 || ev[0].What != "injected" || ev[1].What != "recovered (deleted)" {
			t.Errorf("Chaos Mesh saw %+v", ev)
		}
	})

	t.Run("the lease is Chaos Mesh's duration", func(t *testing.T) {
		ns := namespace(t, k, "lease")
		s := standIn(t, k, chaosmeshtest.Options{Apply: func(context.Context, chaosmesh.Chaos) (func() error, error) {
			return func() error { return nil }, nil
		}})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		eng := engine(t, k).WithWait(2 * time.Second)
		// A runner that injects and dies: nobody clears.
		if err := eng.Injector(partition("cut", ns, "d")).Inject(ctx, 500*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		for {
			if ev := s.Events(); len(ev) == 2 && ev[1].What == "recovered (duration 2.5s ran out)" {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("not recovered after a 2.5s duration: %+v", s.Events())
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("a selector that selects nothing fails the injection", func(t *testing.T) {
		for _, legacy := range []bool{false, true} {
			ns := namespace(t, k, map[bool]string{false: "unselected", true: "unselected-legacy"}[legacy])
			standIn(t, k, chaosmeshtest.Options{Select: func(chaosmesh.Chaos) []string { return nil }, Legacy: legacy})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := engine(t, k).Injector(partition("cut", ns, "d")).Inject(ctx, time.Minute)
			cancel()
			if !errors.Is(err, chaosmesh.ErrNothingSelected) || !strings.Contains(err.Error(), "its selector selects nothing") || !strings.Contains(err.Error(), "Selected=False") {
				t.Errorf("legacy %v: Inject = %v; want a failure saying nothing was selected", legacy, err)
			}
		}
	})

	t.Run("the schema refuses a malformed fault with the server's message", func(t *testing.T) {
		ns := namespace(t, k, "schema")
		bad := partition("slow", ns, "d")
		bad.Spec.Action = v1alpha1.DelayAction
		bad.Spec.Delay = &v1alpha1.DelaySpec{Latency: "fifty"}
		err := engine(t, k).Injector(bad).Inject(context.Background(), time.Minute)
		if err == nil || !strings.Contains(err.Error(), `spec.delay.latency: Invalid value: "fifty"`) {
			t.Fatalf("Inject = %v; want the server's refusal", err)
		}
	})

	t.Run("another run's object of the same name survives this run's clear and cleanup", func(t *testing.T) {
		ns := namespace(t, k, "other-run")
		standIn(t, k, chaosmeshtest.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		eng := engine(t, k)
		inj := eng.Injector(partition("cut", ns, "d"))
		if err := inj.Inject(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
		// Our object goes (someone deleted it), and another run of the
		// drill submits its own under the same name.
		key := client.ObjectKey{Namespace: ns, Name: "cut"}
		var ours v1alpha1.NetworkChaos
		if err := k.Client.Get(ctx, key, &ours); err != nil {
			t.Fatal(err)
		}
		if err := k.Client.Delete(ctx, &ours); err != nil {
			t.Fatal(err)
		}
		for k.Client.Get(ctx, key, &v1alpha1.NetworkChaos{}) == nil {
			time.Sleep(20 * time.Millisecond)
		}
		other := engine(t, k)
		if err := other.Injector(partition("cut", ns, "d")).Inject(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := inj.Clear(ctx); err != nil {
			t.Fatalf("clear: %v", err)
		}
		deleted, live, err := eng.Cleanup(ctx, ns, "", "")
		if err != nil {
			t.Fatal(err)
		}
		var theirs v1alpha1.NetworkChaos
		if err := k.Client.Get(ctx, key, &theirs); err != nil || theirs.DeletionTimestamp != nil || theirs.Labels[chaosmesh.LabelRun] != other.RunID() {
			t.Fatalf("the other run's object did not survive: %v, %+v", err, theirs.ObjectMeta)
		}
		if len(deleted) != 0 || !slices.Equal(live, []string{"NetworkChaos/" + ns + "/cut"}) {
			t.Errorf("cleanup deleted %v and left %v; want nothing deleted, the live object left", deleted, live)
		}
		// Named by its run, it goes.
		deleted, _, err = eng.Cleanup(ctx, ns, "", other.RunID())
		if err != nil || len(deleted) != 1 {
			t.Fatalf("cleanup --run: %v, %v", deleted, err)
		}
	})

	t.Run("abandon asks to delete what the run holds, with a drill's verbs, and waits for nothing", func(t *testing.T) {
		ns := namespace(t, k, "abandon")
		// Chaos Mesh holds a deleted object until the test ends: a
		// clear would wait that long.
		standIn(t, k, chaosmeshtest.Options{RecoverDelay: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The identity a scheduled drill runs as: exactly the engine's
		// verbs, no list.
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "drill", Namespace: ns},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"chaos-mesh.org"}, Resources: chaosmesh.Resources, Verbs: chaosmesh.Verbs}}}
		binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "drill", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "drill"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "abandoner", APIGroup: "rbac.authorization.k8s.io"}}}
		for _, o := range []client.Object{role, binding} {
			if err := k.Client.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		s, err := chaosmesh.Scheme()
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.New(k.User(t, "abandoner"), client.Options{Scheme: s})
		if err != nil {
			t.Fatal(err)
		}
		eng := chaosmesh.New(c, 10*time.Millisecond)
		for _, name := range []string{"cut-b", "cut-a", "gone"} {
			if err := eng.Injector(partition(name, ns, "d")).Inject(ctx, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		// One the run holds went meanwhile (Chaos Mesh let it go, or
		// someone deleted it): nothing to ask for it.
		if err := k.Client.Delete(ctx, partition("gone", ns, "d")); err != nil {
			t.Fatal(err)
		}
		for {
			var nc v1alpha1.NetworkChaos
			err := k.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gone"}, &nc)
			if apierrors.IsNotFound(err) {
				break
			}
			if err == nil {
				nc.Finalizers = nil
				err = k.Client.Update(ctx, &nc)
			}
			if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				t.Fatal(err)
			}
		}
		start := time.Now()
		asked, err := eng.WithCallTimeout(5 * time.Second).Abandon(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"NetworkChaos/" + ns + "/cut-a", "NetworkChaos/" + ns + "/cut-b"}; !slices.Equal(asked, want) {
			t.Errorf("abandon asked to delete %v, want %v", asked, want)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("abandon took %s: it waited for Chaos Mesh", took)
		}
		for _, name := range []string{"cut-a", "cut-b"} {
			var nc v1alpha1.NetworkChaos
			if err := k.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &nc); err != nil || nc.DeletionTimestamp == nil {
				t.Errorf("%s: %v, deletion %v: want it being deleted (Chaos Mesh's finalizer holds it)", name, err, nc.DeletionTimestamp)
			}
		}
	})

	t.Run("cleanup deletes what dead runs left, and only that", func(t *testing.T) {
		ns := namespace(t, k, "cleanup")
		ctx := context.Background()
		expired, live, theirs := partition("expired", ns, "d"), partition("live", ns, "d"), partition("theirs", ns, "")
		theirs.Labels = map[string]string{"team": "sre"}
		past, future := "1ms", "1h"
		expired.Spec.Duration, live.Spec.Duration, theirs.Spec.Duration = &past, &future, &past
		for _, o := range []client.Object{expired, live, theirs} {
			if err := k.Client.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(10 * time.Millisecond)
		deleted, left, err := engine(t, k).Cleanup(ctx, ns, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(deleted, []string{"NetworkChaos/" + ns + "/expired"}) || !slices.Equal(left, []string{"NetworkChaos/" + ns + "/live"}) {
			t.Errorf("deleted %v, left %v", deleted, left)
		}
		var all v1alpha1.NetworkChaosList
		if err := k.Client.List(ctx, &all, client.InNamespace(ns)); err != nil || len(all.Items) != 2 {
			t.Fatalf("left %d objects (%v); want the live one and the one aftershock did not submit", len(all.Items), err)
		}
	})

	t.Run("preflight asks the server what this identity may do", func(t *testing.T) {
		ns := namespace(t, k, "rbac")
		ctx := context.Background()
		if err := engine(t, k).Check(ctx, ns); err != nil {
			t.Fatalf("the admin: %v", err)
		}
		// A user granted everything but delete.
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "no-delete", Namespace: ns},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"chaos-mesh.org"}, Resources: chaosmesh.Resources, Verbs: []string{"create", "get", "list", "watch"}}}}
		binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "no-delete", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "no-delete"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "drill-runner", APIGroup: "rbac.authorization.k8s.io"}}}
		for _, o := range []client.Object{role, binding} {
			if err := k.Client.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		s, err := chaosmesh.Scheme()
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.New(k.User(t, "drill-runner"), client.Options{Scheme: s})
		if err != nil {
			t.Fatal(err)
		}
		err = chaosmesh.New(c, 0).Check(ctx, ns)
		if err == nil || !strings.Contains(err.Error(), "may not, in namespace rbac") || !strings.Contains(err.Error(), "delete networkchaos.chaos-mesh.org") ||
			!strings.Contains(err.Error(), "delete httpchaos.chaos-mesh.org") || strings.Contains(err.Error(), "create networkchaos") {
			t.Fatalf("Check = %v; want delete refused on both kinds, and nothing else", err)
		}
	})
}
