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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/aftershock/aftershock/injectors/chaosmesh"
	"github.com/aftershock/aftershock/injectors/chaosmesh/chaosmeshtest"
)

// There is no cluster here: these tests run the engine against
// controller-runtime's fake client, with a stand-in for Chaos Mesh's
// controller that does what the engine waits for — reports the object
// injected, and holds a deleted object with its finalizer until it has
// "recovered" it.

func fakeClient(t *testing.T, funcs *interceptor.Funcs) client.WithWatch {
	t.Helper()
	s, err := chaosmesh.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(s).
		WithStatusSubresource(&v1alpha1.NetworkChaos{}, &v1alpha1.HTTPChaos{})
	if funcs != nil {
		b = b.WithInterceptorFuncs(*funcs)
	}
	return b.Build()
}

// standIn runs chaosmeshtest's stand-in controller until the test ends.
func standIn(t *testing.T, c client.Client, apply chaosmeshtest.Apply, recoverDelay time.Duration) *chaosmeshtest.Controller {
	k := chaosmeshtest.Start(c, apply, recoverDelay)
	t.Cleanup(k.Stop)
	return k
}

func partition(name, ns, drill string) *v1alpha1.NetworkChaos {
	return &v1alpha1.NetworkChaos{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels: map[string]string{chaosmesh.LabelDrill: drill, chaosmesh.LabelFault: name}},
		Spec: v1alpha1.NetworkChaosSpec{Action: v1alpha1.PartitionAction},
	}
}

func TestInjectAndClear(t *testing.T) {
	c := fakeClient(t, nil)
	var applied, recovered atomic.Int32
	s := standIn(t, c, func(context.Context, chaosmesh.Chaos) (func() error, error) {
		applied.Add(1)
		return func() error { recovered.Add(1); return nil }, nil
	}, 100*time.Millisecond)
	k := chaosmesh.New(c, 10*time.Millisecond)
	inj := k.Injector(partition("cut", "shop", "d"))
	if got := inj.String(); got != "NetworkChaos shop/cut" {
		t.Errorf("String() = %q", got)
	}
	if err := inj.Clear(context.Background()); err != nil {
		t.Fatalf("clear before inject: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := inj.Inject(ctx, 40*time.Second); err != nil {
		t.Fatal(err)
	}
	if applied.Load() != 1 {
		t.Fatalf("Inject returned with the fault applied %d times, want once", applied.Load())
	}
	if ev, want := s.Events(), (40*time.Second + chaosmesh.DefaultWait).String(); len(ev) != 1 || ev[0].Duration != want {
		t.Errorf("Chaos Mesh saw %+v; want one injection with the lease plus the injection wait, %s, as its duration", ev, want)
	}
	start := time.Now()
	if err := inj.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Errorf("clear returned after %s, before Chaos Mesh let the object go (100ms)", took)
	}
	if recovered.Load() != 1 {
		t.Errorf("recovered %d times, want once", recovered.Load())
	}
	var left v1alpha1.NetworkChaosList
	if err := c.List(ctx, &left); err != nil || len(left.Items) != 0 {
		t.Fatalf("after clear: %d objects, %v", len(left.Items), err)
	}
	if err := inj.Clear(ctx); err != nil {
		t.Fatalf("second clear: %v", err)
	}
}

// TestLeaseIsChaosMeshDuration: a runner that injects and then dies leaves
// the object behind, but its duration is the lease, and Chaos Mesh
// recovers the fault when it runs out.
func TestLeaseIsChaosMeshDuration(t *testing.T) {
	c := fakeClient(t, nil)
	s := standIn(t, c, func(context.Context, chaosmesh.Chaos) (func() error, error) {
		return func() error { return nil }, nil
	}, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	k := chaosmesh.New(c, 10*time.Millisecond).WithWait(5 * time.Second)
	if err := k.Injector(partition("cut", "shop", "d")).Inject(ctx, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ev := s.Events()
		if len(ev) == 2 && ev[1].What == "recovered (duration 5.2s ran out)" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not recovered 15s after a 5.2s duration: %+v", ev)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestInjectNeverReported: with nobody to inject it (no Chaos Mesh, or a
// selector that selects nothing), Inject fails when its context ends and
// says what Chaos Mesh reported.
func TestInjectNeverReported(t *testing.T) {
	c := fakeClient(t, nil)
	k := chaosmesh.New(c, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := k.Injector(partition("cut", "shop", "d")).Inject(ctx, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "did not report it injected (no conditions yet)") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Inject = %v", err)
	}
}

// TestWebhookRefusal: a refusal by the API server (Chaos Mesh's webhook)
// is Inject's error, word for word.
func TestWebhookRefusal(t *testing.T) {
	c := fakeClient(t, &interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		return errors.New(`admission webhook "vnetworkchaos.kb.io" denied the request: spec.selector: no pod selected`)
	}})
	err := chaosmesh.New(c, 0).Injector(partition("cut", "shop", "d")).Inject(context.Background(), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "submit: admission webhook") {
		t.Fatalf("Inject = %v", err)
	}
}

// TestNeverDeletesAnotherRunsObject: when an object of the same name is
// already there, Inject fails saying how to remove it, and Clear leaves it
// alone.
func TestNeverDeletesAnotherRunsObject(t *testing.T) {
	c := fakeClient(t, nil)
	ctx := context.Background()
	if err := c.Create(ctx, partition("cut", "shop", "d")); err != nil {
		t.Fatal(err)
	}
	inj := chaosmesh.New(c, 10*time.Millisecond).Injector(partition("cut", "shop", "d"))
	err := inj.Inject(ctx, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "already on the cluster") || !strings.Contains(err.Error(), "aftershock cleanup --drill d --namespace shop") {
		t.Fatalf("Inject over another run's object = %v", err)
	}
	if err := inj.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	var left v1alpha1.NetworkChaosList
	if err := c.List(ctx, &left); err != nil || len(left.Items) != 1 {
		t.Fatalf("Clear after a failed Inject deleted another run's object: %d left, %v", len(left.Items), err)
	}
}

// TestCleanup deletes what aftershock submitted and only that: every drill's
// objects, or one drill's in one namespace.
func TestCleanup(t *testing.T) {
	c := fakeClient(t, nil)
	ctx := context.Background()
	theirs := partition("theirs", "shop", "")
	theirs.Labels = map[string]string{"team": "sre"}
	http := &v1alpha1.HTTPChaos{ObjectMeta: metav1.ObjectMeta{Name: "d-503", Namespace: "shop", Labels: map[string]string{chaosmesh.LabelDrill: "d"}}}
	for _, o := range []client.Object{partition("d-cut", "shop", "d"), partition("e-cut", "shop", "e"), partition("d-cut", "pay", "d"), http, theirs} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	k := chaosmesh.New(c, 0)
	got, err := k.Cleanup(ctx, "shop", "d")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"NetworkChaos/shop/d-cut", "HTTPChaos/shop/d-503"}; !slices.Equal(got, want) {
		t.Errorf("Cleanup(shop, d) = %v, want %v", got, want)
	}
	got, err = k.Cleanup(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"NetworkChaos/pay/d-cut", "NetworkChaos/shop/e-cut"}; !slices.Equal(got, want) {
		t.Errorf("Cleanup(all) = %v, want %v", got, want)
	}
	var left v1alpha1.NetworkChaosList
	if err := c.List(ctx, &left); err != nil || len(left.Items) != 1 || left.Items[0].Name != "theirs" {
		t.Fatalf("left %v (%v); want only the object aftershock did not submit", left.Items, err)
	}
}

// TestCheck: a cluster that cannot list Chaos Mesh's kinds (not installed,
// or no permission) fails the check, saying so.
func TestCheck(t *testing.T) {
	if err := chaosmesh.New(fakeClient(t, nil), 0).Check(context.Background(), "shop"); err != nil {
		t.Fatalf("check on a cluster with the kinds: %v", err)
	}
	c := fakeClient(t, &interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		return errors.New(`no matches for kind "NetworkChaos" in version "chaos-mesh.org/v1alpha1"`)
	}})
	err := chaosmesh.New(c, 0).Check(context.Background(), "shop")
	if err == nil || !strings.Contains(err.Error(), "is Chaos Mesh installed") {
		t.Fatalf("Check = %v", err)
	}
}
