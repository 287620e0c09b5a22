// Package chaosmeshtest is a stand-in for Chaos Mesh's controller, for
// testing the cluster engine where there is no cluster: it watches a
// controller-runtime client (the fake one) and does to each NetworkChaos
// and HTTPChaos what Chaos Mesh does, as far as the engine can see —
// holds it with a finalizer, applies it (through a function the test
// gives, e.g. onto a local fault proxy), reports it injected, recovers it
// when its duration runs out or it is deleted, and lets it go.
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
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aftershock/aftershock/injectors/chaosmesh"
)

// Finalizer is the finalizer the stand-in holds its objects with, as
// Chaos Mesh does.
const Finalizer = "chaos-mesh/records"

// Apply injects one object and returns how to recover it.
type Apply func(ctx context.Context, obj chaosmesh.Chaos) (recover func() error, err error)

// Event is something the stand-in did, for tests to assert on.
type Event struct {
	Kind, Name string // "NetworkChaos", "cut"
	What       string // "injected", "recovered (deleted)", "recovered (duration 40s ran out)", "failed: ..."
	Duration   string // the object's spec.duration when injected
}

// Controller is a running stand-in.
type Controller struct {
	c     client.Client
	apply Apply
	every time.Duration

	mu        sync.Mutex
	events    []Event
	recovers  map[string]func() error // by kind/namespace/name
	injected  map[string]time.Time
	cancel    context.CancelFunc
	done      chan struct{}
	recoverDl time.Duration
}

// Start runs a stand-in on c until Stop. apply may be nil: objects are then
// reported injected without doing anything. recoverDelay is how long a
// deleted object is held before its finalizer goes (Chaos Mesh's recovery).
func Start(c client.Client, apply Apply, recoverDelay time.Duration) *Controller {
	ctx, cancel := context.WithCancel(context.Background())
	k := &Controller{
		c: c, apply: apply, every: 5 * time.Millisecond, recoverDl: recoverDelay,
		recovers: map[string]func() error{}, injected: map[string]time.Time{},
		cancel: cancel, done: make(chan struct{}),
	}
	go k.loop(ctx)
	return k
}

// Stop stops the stand-in and recovers what it still holds.
func (k *Controller) Stop() {
	k.cancel()
	<-k.done
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, rec := range k.recovers {
		rec()
		delete(k.recovers, key)
	}
}

// Events returns what the stand-in did so far.
func (k *Controller) Events() []Event {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.events)
}

func (k *Controller) loop(ctx context.Context) {
	defer close(k.done)
	deleted := map[string]time.Time{}
	t := time.NewTicker(k.every)
	defer t.Stop()
	for {
		var nets v1alpha1.NetworkChaosList
		var https v1alpha1.HTTPChaosList
		if k.c.List(ctx, &nets) == nil {
			for i := range nets.Items {
				k.step(ctx, v1alpha1.KindNetworkChaos, &nets.Items[i], nets.Items[i].Spec.Duration, deleted)
			}
		}
		if k.c.List(ctx, &https) == nil {
			for i := range https.Items {
				k.step(ctx, v1alpha1.KindHTTPChaos, &https.Items[i], https.Items[i].Spec.Duration, deleted)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (k *Controller) record(e Event) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.events = append(k.events, e)
}

func (k *Controller) step(ctx context.Context, kind string, obj chaosmesh.Chaos, duration *string, deleted map[string]time.Time) {
	key := fmt.Sprintf("%s/%s/%s", kind, obj.GetNamespace(), obj.GetName())
	status := obj.GetStatus()
	switch {
	case obj.GetDeletionTimestamp() != nil:
		if _, ok := deleted[key]; !ok {
			deleted[key] = time.Now()
			k.recover(kind, obj, "recovered (deleted)")
		}
		if time.Since(deleted[key]) >= k.recoverDl {
			obj.SetFinalizers(nil)
			if k.c.Update(ctx, obj) == nil {
				delete(deleted, key)
			}
		}
	case !slices.Contains(obj.GetFinalizers(), Finalizer):
		obj.SetFinalizers(append(obj.GetFinalizers(), Finalizer))
		k.c.Update(ctx, obj)
	case len(status.Conditions) == 0:
		e := Event{Kind: kind, Name: obj.GetName(), What: "injected"}
		if duration != nil {
			e.Duration = *duration
		}
		injected := corev1.ConditionTrue
		if k.apply != nil {
			rec, err := k.apply(ctx, obj)
			if err != nil {
				e.What, injected = "failed: "+err.Error(), corev1.ConditionFalse
			} else {
				k.mu.Lock()
				k.recovers[key] = rec
				k.injected[key] = time.Now()
				k.mu.Unlock()
			}
		}
		k.record(e)
		status.Conditions = []v1alpha1.ChaosCondition{
			{Type: v1alpha1.ConditionSelected, Status: corev1.ConditionTrue},
			{Type: v1alpha1.ConditionAllInjected, Status: injected},
			{Type: v1alpha1.ConditionAllRecovered, Status: corev1.ConditionFalse},
		}
		k.c.Status().Update(ctx, obj)
	case duration != nil:
		// The duration is the lease: recover when it runs out, counted
		// from the object's creation as Chaos Mesh counts it, whoever is
		// (or is not) watching.
		d, err := time.ParseDuration(*duration)
		k.mu.Lock()
		at, held := k.injected[key]
		k.mu.Unlock()
		if created := obj.GetCreationTimestamp(); !created.IsZero() {
			at = created.Time
		}
		if err == nil && held && time.Since(at) >= d {
			k.recover(kind, obj, "recovered (duration "+*duration+" ran out)")
			status.Conditions = []v1alpha1.ChaosCondition{
				{Type: v1alpha1.ConditionSelected, Status: corev1.ConditionTrue},
				{Type: v1alpha1.ConditionAllInjected, Status: corev1.ConditionFalse},
				{Type: v1alpha1.ConditionAllRecovered, Status: corev1.ConditionTrue},
			}
			k.c.Status().Update(ctx, obj)
		}
	}
}

// recover undoes what apply did for obj, once.
func (k *Controller) recover(kind string, obj chaosmesh.Chaos, what string) {
	key := fmt.Sprintf("%s/%s/%s", kind, obj.GetNamespace(), obj.GetName())
	k.mu.Lock()
	rec, ok := k.recovers[key]
	delete(k.recovers, key)
	delete(k.injected, key)
	k.mu.Unlock()
	if !ok {
		return
	}
	if err := rec(); err != nil {
		what += ", with error: " + err.Error()
	}
	k.record(Event{Kind: kind, Name: obj.GetName(), What: what})
}
