// Package chaosmeshtest is a stand-in for Chaos Mesh's controller, for
// testing the cluster engine against a real API server (fixtures/kubetest)
// where no Chaos Mesh runs. It watches NetworkChaos and HTTPChaos through
// an informer and writes their status as Chaos Mesh 2.6 and later does:
//
//   - it holds each object with the finalizer chaos-mesh/records and sets
//     status.experiment.desiredPhase;
//   - it "selects" targets (a function the test gives; none selected is a
//     selector that matches nothing) into status.experiment.containerRecords,
//     applies the fault to each (through a function the test gives, e.g.
//     onto a local fault proxy), and reports each record's phase;
//   - its conditions are Chaos Mesh's: Selected (records exist),
//     AllInjected, AllRecovered, Paused;
//   - it recovers when the object's spec.duration runs out (counted from
//     its creation, as Chaos Mesh counts it) or when the object is deleted,
//     and lets a deleted object go after a recovery delay.
//
// Legacy mode reports an empty selection as Chaos Mesh before 2.6 did:
// Selected=False with AllInjected=True.
//
// It is not Chaos Mesh: it selects no pods and runs no daemon. It proves
// the engine's side of the contract, not Chaos Mesh's.
package chaosmeshtest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aftershock/aftershock/injectors/chaosmesh"
)

// Finalizer is the finalizer the stand-in holds its objects with, as
// Chaos Mesh does.
const Finalizer = "chaos-mesh/records"

// Apply injects one object and returns how to recover it.
type Apply func(ctx context.Context, obj chaosmesh.Chaos) (recover func() error, err error)

// Select returns the IDs of the targets an object selects ("namespace/pod");
// none means its selector matches nothing.
type Select func(obj chaosmesh.Chaos) []string

// Options configure a stand-in.
type Options struct {
	// Apply applies each selected object; nil reports it injected without
	// doing anything.
	Apply Apply
	// Select selects the targets; nil selects one, "<namespace>/<name>-0".
	Select Select
	// RecoverDelay is how long a deleted object is held before its
	// finalizer goes (Chaos Mesh's recovery of every pod).
	RecoverDelay time.Duration
	// Legacy reports an empty selection as Chaos Mesh before 2.6 did.
	Legacy bool
}

// Event is something the stand-in did, for tests to assert on.
type Event struct {
	Kind, Name string // "NetworkChaos", "cut"
	What       string // "injected", "selected nothing", "recovered (deleted)", "recovered (duration 40s ran out)", "failed: ..."
	Duration   string // the object's spec.duration when injected
}

// Controller is a running stand-in.
type Controller struct {
	c     client.Client
	o     Options
	queue workqueue.TypedRateLimitingInterface[key]

	mu       sync.Mutex
	events   []Event
	recovers map[key]func() error
	deleted  map[key]time.Time // when the stand-in first saw it deleted

	cancel context.CancelFunc
	done   chan struct{}
}

type key struct {
	kind string
	types.NamespacedName
}

// Start runs a stand-in against the cluster of cfg until Stop: an informer
// per kind feeds a work queue, and each object is reconciled with the
// current state read from the API server.
func Start(cfg *rest.Config, scheme *runtime.Scheme, o Options) (*Controller, error) {
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("stand-in: client: %w", err)
	}
	informers, err := cache.New(cfg, cache.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("stand-in: cache: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := &Controller{
		c: c, o: o,
		queue:    workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[key](5*time.Millisecond, time.Second)),
		recovers: map[key]func() error{}, deleted: map[key]time.Time{},
		cancel: cancel, done: make(chan struct{}),
	}
	for _, kind := range []struct {
		name string
		obj  client.Object
	}{{v1alpha1.KindNetworkChaos, &v1alpha1.NetworkChaos{}}, {v1alpha1.KindHTTPChaos, &v1alpha1.HTTPChaos{}}} {
		inf, err := informers.GetInformer(ctx, kind.obj)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("stand-in: informer for %s: %w", kind.name, err)
		}
		enqueue := func(obj any) {
			if o, ok := obj.(client.Object); ok {
				k.queue.Add(key{kind.name, client.ObjectKeyFromObject(o)})
			}
		}
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    enqueue,
			UpdateFunc: func(_, obj any) { enqueue(obj) },
		}); err != nil {
			cancel()
			return nil, fmt.Errorf("stand-in: watch %s: %w", kind.name, err)
		}
	}
	go func() { _ = informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) {
		cancel()
		return nil, fmt.Errorf("stand-in: informers did not sync")
	}
	go k.work(ctx)
	return k, nil
}

// Stop stops the stand-in and recovers what it still holds.
func (k *Controller) Stop() {
	k.cancel()
	k.queue.ShutDown()
	<-k.done
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, rec := range k.recovers {
		_ = rec()
		delete(k.recovers, key)
	}
}

// Events returns what the stand-in did so far.
func (k *Controller) Events() []Event {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.events)
}

func (k *Controller) record(e Event) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.events = append(k.events, e)
}

func (k *Controller) work(ctx context.Context) {
	defer close(k.done)
	for {
		item, quit := k.queue.Get()
		if quit {
			return
		}
		again, err := k.reconcile(ctx, item)
		switch {
		case err != nil && ctx.Err() == nil:
			k.queue.AddRateLimited(item)
		case again > 0:
			k.queue.Forget(item)
			k.queue.AddAfter(item, again)
		default:
			k.queue.Forget(item)
		}
		k.queue.Done(item)
	}
}

// reconcile brings one object a step closer to what Chaos Mesh would make
// of it, and says when to look again.
func (k *Controller) reconcile(ctx context.Context, item key) (time.Duration, error) {
	var obj chaosmesh.Chaos = &v1alpha1.NetworkChaos{}
	if item.kind == v1alpha1.KindHTTPChaos {
		obj = &v1alpha1.HTTPChaos{}
	}
	if err := k.c.Get(ctx, item.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			k.mu.Lock()
			delete(k.deleted, item)
			k.mu.Unlock()
			return 0, nil
		}
		return 0, err
	}
	status := obj.GetStatus()
	exp := &status.Experiment
	switch {
	case obj.GetDeletionTimestamp() != nil:
		if !slices.Contains(obj.GetFinalizers(), Finalizer) {
			return 0, nil // someone else's finalizer holds it
		}
		k.mu.Lock()
		since, seen := k.deleted[item]
		if !seen {
			since = time.Now()
			k.deleted[item] = since
		}
		k.mu.Unlock()
		if exp.DesiredPhase != v1alpha1.StoppedPhase {
			k.recover(item, obj, "recovered (deleted)")
			return 0, k.c.Update(ctx, obj)
		}
		if wait := k.o.RecoverDelay - time.Since(since); wait > 0 {
			return wait, nil
		}
		obj.SetFinalizers(slices.DeleteFunc(obj.GetFinalizers(), func(f string) bool { return f == Finalizer }))
		return 0, k.c.Update(ctx, obj)
	case !slices.Contains(obj.GetFinalizers(), Finalizer):
		obj.SetFinalizers(append(obj.GetFinalizers(), Finalizer))
		exp.DesiredPhase = v1alpha1.RunningPhase
		return 0, k.c.Update(ctx, obj)
	case exp.DesiredPhase != v1alpha1.RunningPhase:
		return 0, nil // stopped: its duration ran out
	}
	if left, ok := remaining(obj); ok && left <= 0 {
		k.recover(item, obj, "recovered (duration "+*duration(obj)+" ran out)")
		return 0, k.c.Update(ctx, obj)
	}
	if exp.Records == nil {
		k.inject(ctx, item, obj)
		if err := k.c.Update(ctx, obj); err != nil {
			k.undo(item) // the status did not land: try again from scratch
			return 0, err
		}
	}
	if left, ok := remaining(obj); ok {
		return left, nil
	}
	return 0, nil
}

// inject selects the object's targets and applies it to them.
func (k *Controller) inject(ctx context.Context, item key, obj chaosmesh.Chaos) {
	exp := &obj.GetStatus().Experiment
	ids := []string{obj.GetNamespace() + "/" + obj.GetName() + "-0"}
	if k.o.Select != nil {
		ids = k.o.Select(obj)
	}
	exp.Records = []*v1alpha1.Record{}
	e := Event{Kind: item.kind, Name: obj.GetName(), What: "injected"}
	if d := duration(obj); d != nil {
		e.Duration = *d
	}
	phase := v1alpha1.Injected
	if len(ids) == 0 {
		e.What = "selected nothing"
	} else if k.o.Apply != nil {
		rec, err := k.o.Apply(ctx, obj)
		if err != nil {
			e.What, phase = "failed: "+err.Error(), v1alpha1.NotInjected
		} else {
			k.mu.Lock()
			k.recovers[item] = rec
			k.mu.Unlock()
		}
	}
	for _, id := range ids {
		r := &v1alpha1.Record{Id: id, SelectorKey: ".", Phase: phase}
		if phase == v1alpha1.Injected {
			r.InjectedCount = 1
		}
		exp.Records = append(exp.Records, r)
	}
	k.record(e)
	k.conditions(obj)
}

// undo recovers an injection whose status could not be written.
func (k *Controller) undo(item key) {
	k.mu.Lock()
	rec, ok := k.recovers[item]
	delete(k.recovers, item)
	k.mu.Unlock()
	if ok {
		_ = rec()
	}
}

// recover undoes what Apply did for obj and marks its records recovered.
func (k *Controller) recover(item key, obj chaosmesh.Chaos, what string) {
	k.mu.Lock()
	rec, ok := k.recovers[item]
	delete(k.recovers, item)
	k.mu.Unlock()
	if ok {
		if err := rec(); err != nil {
			what += ", with error: " + err.Error()
		}
		k.record(Event{Kind: item.kind, Name: obj.GetName(), What: what})
	}
	exp := &obj.GetStatus().Experiment
	exp.DesiredPhase = v1alpha1.StoppedPhase
	for _, r := range exp.Records {
		if r.Phase == v1alpha1.Injected {
			r.Phase, r.RecoveredCount = v1alpha1.NotInjected, r.RecoveredCount+1
		}
	}
	k.conditions(obj)
}

// conditions computes Chaos Mesh's conditions from the records.
func (k *Controller) conditions(obj chaosmesh.Chaos) {
	status := obj.GetStatus()
	records := status.Experiment.Records
	injected, recovered := len(records) > 0, len(records) > 0
	for _, r := range records {
		injected = injected && r.Phase == v1alpha1.Injected
		recovered = recovered && r.Phase == v1alpha1.NotInjected
	}
	if len(records) == 0 && k.o.Legacy {
		injected = true // what Chaos Mesh before 2.6 reported
	}
	cond := func(ok bool) corev1.ConditionStatus {
		if ok {
			return corev1.ConditionTrue
		}
		return corev1.ConditionFalse
	}
	status.Conditions = []v1alpha1.ChaosCondition{
		{Type: v1alpha1.ConditionSelected, Status: cond(len(records) > 0)},
		{Type: v1alpha1.ConditionAllInjected, Status: cond(injected)},
		{Type: v1alpha1.ConditionAllRecovered, Status: cond(recovered)},
		{Type: v1alpha1.ConditionPaused, Status: corev1.ConditionFalse},
	}
}

// remaining is how much of the object's duration is left, counted from
// its creation as Chaos Mesh counts it; ok is false without a duration.
func remaining(obj chaosmesh.Chaos) (time.Duration, bool) {
	d := duration(obj)
	if d == nil {
		return 0, false
	}
	dur, err := time.ParseDuration(*d)
	if err != nil {
		return 0, false
	}
	return time.Until(obj.GetCreationTimestamp().Add(dur)), true
}

func duration(obj chaosmesh.Chaos) *string {
	switch o := obj.(type) {
	case *v1alpha1.NetworkChaos:
		return o.Spec.Duration
	case *v1alpha1.HTTPChaos:
		return o.Spec.Duration
	}
	return nil
}
