// Package chaosmesh is the cluster engine: it submits Chaos Mesh objects
// (NetworkChaos, HTTPChaos) to a Kubernetes cluster through
// controller-runtime's client, waits for Chaos Mesh to report them injected,
// and deletes them on clear, waiting until Chaos Mesh has recovered the
// pods and let the object go.
//
// Every object carries its lease in Chaos Mesh's own spec.duration, so
// Chaos Mesh recovers the fault when it runs out even if the runner is
// gone; and every object carries the labels aftershock.dev/drill and
// aftershock.dev/fault, so that [Cleanup] finds what a dead run left.
package chaosmesh

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/aftershock/aftershock/injectors"
)

// Labels on every object the engine submits (the same as experiments
// renders).
const (
	LabelDrill = "aftershock.dev/drill"
	LabelFault = "aftershock.dev/fault"
)

// Chaos is a Chaos Mesh object the engine can submit: NetworkChaos or
// HTTPChaos.
type Chaos interface {
	client.Object
	GetStatus() *v1alpha1.ChaosStatus
}

// Cluster submits Chaos Mesh objects to one cluster.
type Cluster struct {
	c    client.Client
	poll time.Duration
	// wait bounds how long Inject waits for Chaos Mesh to report the
	// object injected.
	wait time.Duration
}

// DefaultWait is how long Inject waits for Chaos Mesh to report an object
// injected: long enough for an image pull of its daemon's sidecar-free
// path, short enough that a selector matching nothing fails the drill.
const DefaultWait = time.Minute

// Scheme knows the Chaos Mesh kinds.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("chaos mesh scheme: %w", err)
	}
	return s, nil
}

// New wraps a client whose scheme knows the Chaos Mesh kinds (see Scheme).
// poll is how often Inject and Clear look at the object's status; zero
// takes 500 ms.
func New(c client.Client, poll time.Duration) *Cluster {
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	return &Cluster{c: c, poll: poll, wait: DefaultWait}
}

// WithWait returns k with Inject waiting at most d for Chaos Mesh.
func (k *Cluster) WithWait(d time.Duration) *Cluster {
	c := *k
	c.wait = d
	return &c
}

// FromKubeconfig connects to the cluster of the current kubeconfig
// context, found as controller-runtime finds it: $KUBECONFIG, then the
// in-cluster service account, then ~/.kube/config.
func FromKubeconfig() (*Cluster, error) {
	cfg, err := config.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("chaos mesh: no cluster to submit to: %w", err)
	}
	s, err := Scheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, fmt.Errorf("chaos mesh: client for %s: %w", cfg.Host, err)
	}
	return New(c, 0), nil
}

// Check asks the cluster for one NetworkChaos and one HTTPChaos in
// namespace, so that a cluster without Chaos Mesh's kinds, or a user who
// may not see them, fails before anything is injected rather than at the
// first fault.
func (k *Cluster) Check(ctx context.Context, namespace string) error {
	for _, l := range []client.ObjectList{&v1alpha1.NetworkChaosList{}, &v1alpha1.HTTPChaosList{}} {
		if err := k.c.List(ctx, l, client.InNamespace(namespace), client.Limit(1)); err != nil {
			return fmt.Errorf("chaos mesh: listing %T in namespace %s failed (is Chaos Mesh installed, and may this user create its objects?): %w", l, namespace, err)
		}
	}
	return nil
}

// Injector submits obj on Inject and deletes it on Clear. obj is not
// changed; each Inject submits a copy with the lease as spec.duration.
func (k *Cluster) Injector(obj Chaos) injectors.Injector {
	return &injector{k: k, obj: obj}
}

type injector struct {
	k   *Cluster
	obj Chaos

	mu        sync.Mutex
	submitted bool      // the object this injector created is (maybe) there
	uid       types.UID // its UID, when the server gave one
}

func (i *injector) String() string {
	kind := fmt.Sprintf("%T", i.obj)
	kind = kind[strings.LastIndex(kind, ".")+1:]
	return fmt.Sprintf("%s %s/%s", kind, i.obj.GetNamespace(), i.obj.GetName())
}

// Inject submits the object and waits until Chaos Mesh reports every
// selected pod injected. Chaos Mesh counts spec.duration from the object's
// creation, so the duration is the lease plus the longest wait for the
// injection: a slow injection cannot eat into the hold. A refusal by Chaos
// Mesh's webhook comes back as the error; so does an object that selects
// no pod, with the conditions Chaos Mesh gave, once the wait is over. An
// object of the same name that is already there (another run of the drill,
// or one a dead run left) is an error and is left alone.
func (i *injector) Inject(ctx context.Context, lease time.Duration) error {
	obj, ok := i.obj.DeepCopyObject().(Chaos)
	if !ok {
		return fmt.Errorf("inject %s: cannot copy the object", i)
	}
	if lease > 0 {
		if err := setDuration(obj, lease+i.k.wait); err != nil {
			return fmt.Errorf("inject %s: %w", i, err)
		}
	}
	if err := i.k.c.Create(ctx, obj); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("inject %s: already on the cluster: another run of this drill holds it, or a dead run left it (aftershock cleanup --drill %s --namespace %s removes it): %w",
				i, obj.GetLabels()[LabelDrill], obj.GetNamespace(), err)
		}
		return fmt.Errorf("inject %s: submit: %w", i, err)
	}
	i.mu.Lock()
	i.submitted, i.uid = true, obj.GetUID()
	i.mu.Unlock()
	key := client.ObjectKeyFromObject(obj)
	var last *v1alpha1.ChaosStatus
	ctx, cancel := context.WithTimeout(ctx, i.k.wait)
	defer cancel()
	err := i.k.until(ctx, func(ctx context.Context) (bool, error) {
		if err := i.k.c.Get(ctx, key, obj); err != nil {
			return false, err
		}
		last = obj.GetStatus()
		return condition(last, v1alpha1.ConditionAllInjected), nil
	})
	if err != nil {
		return fmt.Errorf("inject %s: Chaos Mesh did not report it injected (%s): %w", i, describe(last), err)
	}
	return nil
}

// Clear deletes the object this injector submitted — only that one, by
// its UID, never another run's of the same name — and waits until it is
// gone: Chaos Mesh holds it with a finalizer until it has recovered every
// pod. Before Inject, after a failed submit, or once the object is gone,
// there is nothing to clear.
func (i *injector) Clear(ctx context.Context) error {
	i.mu.Lock()
	submitted, uid := i.submitted, i.uid
	i.mu.Unlock()
	if !submitted {
		return nil
	}
	obj, ok := i.obj.DeepCopyObject().(Chaos)
	if !ok {
		return fmt.Errorf("clear %s: cannot copy the object", i)
	}
	var opts []client.DeleteOption
	if uid != "" {
		opts = append(opts, client.Preconditions{UID: &uid})
	}
	if err := i.k.c.Delete(ctx, obj, opts...); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			// Gone, or replaced by another run's object: ours is gone.
			i.forget(uid)
			return nil
		}
		return fmt.Errorf("clear %s: delete: %w", i, err)
	}
	key := client.ObjectKeyFromObject(obj)
	var last *v1alpha1.ChaosStatus
	err := i.k.until(ctx, func(ctx context.Context) (bool, error) {
		err := i.k.c.Get(ctx, key, obj)
		if apierrors.IsNotFound(err) || (err == nil && uid != "" && obj.GetUID() != uid) {
			i.forget(uid)
			return true, nil
		}
		last = obj.GetStatus()
		return false, err
	})
	if err != nil {
		return fmt.Errorf("clear %s: still there, Chaos Mesh may still be recovering its pods (%s): %w", i, describe(last), err)
	}
	return nil
}

// forget records that the object with uid is gone.
func (i *injector) forget(uid types.UID) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.uid == uid {
		i.submitted, i.uid = false, ""
	}
}

// until polls done until it reports true, fails, or ctx ends.
func (k *Cluster) until(ctx context.Context, done func(context.Context) (bool, error)) error {
	t := time.NewTicker(k.poll)
	defer t.Stop()
	for {
		ok, err := done(ctx)
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

func setDuration(obj Chaos, d time.Duration) error {
	s := d.String()
	switch o := obj.(type) {
	case *v1alpha1.NetworkChaos:
		o.Spec.Duration = &s
	case *v1alpha1.HTTPChaos:
		o.Spec.Duration = &s
	default:
		return fmt.Errorf("kind %T has no duration this engine knows", obj)
	}
	return nil
}

// condition reports whether status holds condition t as True.
func condition(s *v1alpha1.ChaosStatus, t v1alpha1.ChaosConditionType) bool {
	if s == nil {
		return false
	}
	return slices.ContainsFunc(s.Conditions, func(c v1alpha1.ChaosCondition) bool {
		return c.Type == t && c.Status == corev1.ConditionTrue
	})
}

// describe renders the conditions and records of a status for errors.
func describe(s *v1alpha1.ChaosStatus) string {
	if s == nil {
		return "no status yet"
	}
	var parts []string
	for _, c := range s.Conditions {
		p := fmt.Sprintf("%s=%s", c.Type, c.Status)
		if c.Reason != "" {
			p += " (" + c.Reason + ")"
		}
		parts = append(parts, p)
	}
	for _, r := range s.Experiment.Records {
		parts = append(parts, fmt.Sprintf("%s %s", r.Id, r.Phase))
	}
	if len(parts) == 0 {
		return "no conditions yet"
	}
	return strings.Join(parts, ", ")
}

// Cleanup deletes every NetworkChaos and HTTPChaos that aftershock
// submitted — those labelled aftershock.dev/drill, or only drill's when it
// is not empty — in namespace ("" for every namespace), and returns what it
// deleted as kind/namespace/name. It does not wait for Chaos Mesh to
// recover them.
func (k *Cluster) Cleanup(ctx context.Context, namespace, drill string) ([]string, error) {
	sel := client.HasLabels{LabelDrill}
	var opts []client.ListOption
	if drill != "" {
		opts = append(opts, client.MatchingLabels{LabelDrill: drill})
	} else {
		opts = append(opts, sel)
	}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	var deleted []string
	var errs []error
	for _, l := range []struct {
		kind string
		list client.ObjectList
	}{{v1alpha1.KindNetworkChaos, &v1alpha1.NetworkChaosList{}}, {v1alpha1.KindHTTPChaos, &v1alpha1.HTTPChaosList{}}} {
		if err := k.c.List(ctx, l.list, opts...); err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", l.kind, err))
			continue
		}
		items, err := apimeta.ExtractList(l.list)
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", l.kind, err))
			continue
		}
		for _, item := range items {
			o, ok := item.(client.Object)
			if !ok {
				continue
			}
			name := fmt.Sprintf("%s/%s/%s", l.kind, o.GetNamespace(), o.GetName())
			if err := k.c.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete %s: %w", name, err))
				continue
			}
			deleted = append(deleted, name)
		}
	}
	return deleted, errors.Join(errs...)
}
