package chaosmesh_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/aftershock/aftershock/injectors/chaosmesh"
)

// There is no cluster here: these tests run the engine against
// controller-runtime's fake client, with a stand-in for Chaos Mesh's
// controller that does what the engine waits for — reports the object
// injected, and holds a deleted object with its finalizer until it has
// "recovered" it.

const finalizer = "chaos-mesh/records"

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

// standIn plays Chaos Mesh's controller on c until the test ends: it adds
// its finalizer and reports AllInjected on every NetworkChaos, and lets a
// deleted one go after recoverAfter. It records the durations it saw.
type standIn struct {
	mu        sync.Mutex
	durations []string
}

func runStandIn(t *testing.T, c client.Client, recoverAfter time.Duration) *standIn {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s := &standIn{}
	go func() {
		defer close(done)
		deleted := map[string]time.Time{}
		for ctx.Err() == nil {
			var list v1alpha1.NetworkChaosList
			if err := c.List(ctx, &list); err == nil {
				for i := range list.Items {
					s.step(ctx, c, &list.Items[i], deleted, recoverAfter)
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func (s *standIn) step(ctx context.Context, c client.Client, o *v1alpha1.NetworkChaos, deleted map[string]time.Time, recoverAfter time.Duration) {
	switch {
	case o.DeletionTimestamp != nil:
		if _, ok := deleted[o.Name]; !ok {
			deleted[o.Name] = time.Now()
		}
		if time.Since(deleted[o.Name]) >= recoverAfter {
			o.Finalizers = nil
			c.Update(ctx, o)
		}
	case !slices.Contains(o.Finalizers, finalizer):
		s.mu.Lock()
		if o.Spec.Duration != nil {
			s.durations = append(s.durations, *o.Spec.Duration)
		}
		s.mu.Unlock()
		o.Finalizers = append(o.Finalizers, finalizer)
		c.Update(ctx, o)
	case len(o.Status.Conditions) == 0:
		o.Status.Conditions = []v1alpha1.ChaosCondition{
			{Type: v1alpha1.ConditionSelected, Status: corev1.ConditionTrue},
			{Type: v1alpha1.ConditionAllInjected, Status: corev1.ConditionTrue},
		}
		c.Status().Update(ctx, o)
	}
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
	s := runStandIn(t, c, 100*time.Millisecond)
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
	s.mu.Lock()
	if !slices.Equal(s.durations, []string{"40s"}) {
		t.Errorf("Chaos Mesh saw durations %v, want the lease, [40s]", s.durations)
	}
	s.mu.Unlock()
	start := time.Now()
	if err := inj.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Errorf("clear returned after %s, before the stand-in let the object go (100ms)", took)
	}
	var left v1alpha1.NetworkChaosList
	if err := c.List(ctx, &left); err != nil || len(left.Items) != 0 {
		t.Fatalf("after clear: %d objects, %v", len(left.Items), err)
	}
	if err := inj.Clear(ctx); err != nil {
		t.Fatalf("second clear: %v", err)
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
