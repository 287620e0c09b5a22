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
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/aftershock/aftershock/injectors"
)

// Labels on every object the engine submits (the first two as experiments
// renders them; the run's ID when a run submits it). A drill's own labels
// may not use the aftershock.dev/ prefix.
const (
	LabelPrefix = "aftershock.dev/"
	LabelDrill  = LabelPrefix + "drill"
	LabelFault  = LabelPrefix + "fault"
	LabelRun    = LabelPrefix + "run"
)

// FieldOwner is the field manager of every write the engine makes.
const FieldOwner = "aftershock"

// CallTimeout bounds every call to the API server (see call.go): the
// caller has its answer or a *TimeoutError within it.
const CallTimeout = 30 * time.Second

// SelectGrace is how long Chaos Mesh may report Selected=False before
// Inject gives up: a selector that matches nothing.
const SelectGrace = 5 * time.Second

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
	// run labels every object this process submits.
	run string
	// callTimeout bounds every API call.
	callTimeout time.Duration
	// context is the kube context Connect connected to ("" otherwise):
	// the errors that say what may remain name it for aftershock cleanup.
	context string
	// cfg is the REST config the client was made from (nil from New);
	// the pod proxy's requests authenticate with it.
	cfg *rest.Config
	// reach is how the target's pods are reached (see Reach).
	reach Reach
	proxy *proxyHTTP
	// held is what this process submitted and has not seen go, shared
	// by every copy of the Cluster (With...): what Abandon deletes.
	held *held
	// Name says which cluster it is: the kube context (or "in-cluster")
	// and the server; Server is the API server's URL.
	Name, Server string
}

// DefaultWait is how long Inject waits for Chaos Mesh to report an object
// injected: long enough for an image pull of its daemon's sidecar-free
// path, short enough that a selector matching nothing fails the drill.
const DefaultWait = time.Minute

// Scheme knows the Chaos Mesh kinds and Kubernetes' own (the engine asks
// the server SelfSubjectAccessReviews).
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("kubernetes scheme: %w", err)
	}
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
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &Cluster{c: c, poll: poll, wait: DefaultWait, run: hex.EncodeToString(b[:]), callTimeout: CallTimeout, proxy: &proxyHTTP{}, held: &held{}}
}

// ForConfig connects to the cluster of cfg, reaching its pods through the
// API server's pod proxy (see WithReach).
func ForConfig(cfg *rest.Config) (*Cluster, error) {
	s, err := Scheme()
	if err != nil {
		return nil, err
	}
	// Discovery's requests carry no context: the transport bounds them,
	// so that a call given up on at its bound leaves no goroutine behind
	// for longer than this (see call.go).
	ccfg := rest.CopyConfig(cfg)
	ccfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return boundTransport{rt: rt, d: CallTimeout} })
	c, err := client.New(ccfg, client.Options{Scheme: s})
	if err != nil {
		return nil, fmt.Errorf("chaos mesh: client for %s: %w", cfg.Host, err)
	}
	k := New(c, 0)
	k.cfg = rest.CopyConfig(cfg)
	k.Server = cfg.Host
	return k, nil
}

// RunID is the ID this process labels its objects with (aftershock.dev/run):
// `aftershock cleanup --run ID` deletes them should the process die.
func (k *Cluster) RunID() string { return k.run }

// WithCallTimeout returns k with every API call bounded by d: the call
// returns a *TimeoutError when the server has not answered within d.
func (k *Cluster) WithCallTimeout(d time.Duration) *Cluster {
	c := *k
	c.callTimeout = d
	return &c
}

// WithWait returns k with Inject waiting at most d for Chaos Mesh.
func (k *Cluster) WithWait(d time.Duration) *Cluster {
	c := *k
	c.wait = d
	return &c
}

// InCluster names the cluster a pod runs in, by its service account.
const InCluster = "in-cluster"

// Connect connects to the cluster of kube context name, read from the
// kubeconfig as controller-runtime finds it ($KUBECONFIG, then
// ~/.kube/config), or, for InCluster, to the cluster of this pod's service
// account. The context is named explicitly: aftershock never submits a
// fault to whatever cluster happens to be current.
func Connect(name string) (*Cluster, error) {
	if name == "" {
		return nil, errors.New("chaos mesh: no kube context named: a drill with faults on engine chaos-mesh runs only against the context it (spec.cluster.context) or --context names")
	}
	var cfg *rest.Config
	var err error
	if name == InCluster {
		cfg, err = rest.InClusterConfig()
	} else {
		cfg, err = config.GetConfigWithContext(name)
	}
	if err != nil {
		return nil, fmt.Errorf("chaos mesh: kube context %q: %w", name, err)
	}
	k, err := ForConfig(cfg)
	if err != nil {
		return nil, err
	}
	k.Name = fmt.Sprintf("%s (%s)", name, cfg.Host)
	k.context = name
	if name == InCluster {
		// Pod IPs route inside the cluster: no detour through the
		// API server, and no pods/proxy permission needed.
		k.reach = ReachDirect
	}
	return k, nil
}

// Verbs are what the engine does with each kind it submits, in the order
// the preflight asks for them: a Role for drills grants exactly these.
var Verbs = []string{"create", "get", "delete"}

// Resources are the Chaos Mesh resources the engine submits.
var Resources = []string{"networkchaos", "httpchaos"}

// Check asks the API server, before anything is injected, whether it
// serves Chaos Mesh's kinds (the discovery every later call relies on),
// and whether this identity may do what a drill does with each kind it
// submits (Verbs) in namespace (SelfSubjectAccessReview), and refuses
// with every denial.
func (k *Cluster) Check(ctx context.Context, namespace string) error {
	for _, kind := range []string{v1alpha1.KindNetworkChaos, v1alpha1.KindHTTPChaos} {
		gvk := v1alpha1.SchemeGroupVersion.WithKind(kind)
		err := k.do(ctx, fmt.Sprintf("discover %s (%s)", kind, v1alpha1.SchemeGroupVersion), func(context.Context) error {
			_, err := k.c.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
			return err
		})
		var te *TimeoutError
		switch {
		case errors.As(err, &te) || ctx.Err() != nil:
			return fmt.Errorf("chaos mesh: %w", err)
		case err != nil:
			return fmt.Errorf("chaos mesh: %s does not serve %s (is Chaos Mesh installed?): %w", k.name(), gvk, err)
		}
	}
	var denied []string
	for _, res := range Resources {
		for _, verb := range Verbs {
			ok, why, err := k.allowed(ctx, &authorizationv1.ResourceAttributes{
				Namespace: namespace, Verb: verb, Group: v1alpha1.SchemeGroupVersion.Group, Resource: res,
			})
			if err != nil {
				return fmt.Errorf("chaos mesh: asking %s whether this identity may %s %s: %w", k.name(), verb, res, err)
			}
			if !ok {
				denied = append(denied, fmt.Sprintf("%s %s.%s (%s)", verb, res, v1alpha1.SchemeGroupVersion.Group, why))
			}
		}
	}
	if len(denied) > 0 {
		return fmt.Errorf("chaos mesh: this identity may not, in namespace %s of %s: %s; a drill needs %s on %s (aftershock render --schedule prints the Role)",
			namespace, k.name(), strings.Join(denied, "; "), strings.Join(Verbs, ", "), strings.Join(Resources, ", "))
	}
	return nil
}

// name says which cluster: the kube context and its server, the server,
// or, for a client made elsewhere (New), "the cluster".
func (k *Cluster) name() string {
	return cmp.Or(k.Name, k.Server, "the cluster")
}

// removes says how to remove what this run may have left on the cluster.
func (k *Cluster) removes() string {
	return fmt.Sprintf("aftershock cleanup --context %s --run %s removes it", cmp.Or(k.context, "<the kube context of "+k.name()+">"), k.run)
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
	return fmt.Sprintf("%s %s/%s", i.kind(), i.obj.GetNamespace(), i.obj.GetName())
}

// kind is the object's kind: NetworkChaos, HTTPChaos.
func (i *injector) kind() string {
	kind := fmt.Sprintf("%T", i.obj)
	return kind[strings.LastIndex(kind, ".")+1:]
}

// Inject submits the object and waits until the fault is in effect: Chaos
// Mesh reports it Selected and AllInjected, with every record of a
// selected target Injected. Chaos Mesh counts spec.duration from the
// object's creation, so the duration is the lease plus the longest wait
// for the injection: a slow injection cannot eat into the hold. A refusal
// by the API server (its schema, Chaos Mesh's webhook) comes back as the
// error, word for word. A selector that matches nothing fails once Chaos
// Mesh has said so for SelectGrace (Chaos Mesh before 2.6 reported such an
// object Selected=False and AllInjected=True: that is no injection
// either). An object of the same name that is already there (another run
// of the drill, or one a dead run left) is an error and is left alone.
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
	labels := maps.Clone(obj.GetLabels())
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelRun] = i.k.run
	obj.SetLabels(labels)
	created, err := call(ctx, i.k, "create "+i.String(), func(ctx context.Context) (Chaos, error) {
		return obj, i.k.c.Create(ctx, obj, client.FieldOwner(FieldOwner))
	})
	if err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("inject %s: already on the cluster: another run of this drill holds it, or a dead run left it (aftershock cleanup --namespace %s removes it once its lease ran out): %w",
				i, i.obj.GetNamespace(), err)
		}
		var status apierrors.APIStatus
		if !errors.As(err, &status) {
			// No answer from the server (or not the server's): the
			// create may have been applied all the same. Clear looks
			// for it by name, and takes it only if it is this run's.
			i.mu.Lock()
			i.submitted, i.uid = true, ""
			i.mu.Unlock()
			i.k.held.add(i)
			return fmt.Errorf("inject %s: %w; the server may have created it all the same: clearing the fault deletes it once the server answers, else %s (or Chaos Mesh recovers it when its duration runs out)",
				i, err, i.k.removes())
		}
		return fmt.Errorf("inject %s: submit to %s: %w", i, i.k.name(), err)
	}
	i.mu.Lock()
	i.submitted, i.uid = true, created.GetUID()
	i.mu.Unlock()
	i.k.held.add(i)
	key := client.ObjectKeyFromObject(i.obj)
	var last *v1alpha1.ChaosStatus
	var unselected time.Time // since when Chaos Mesh has said Selected=False
	ctx, cancel := context.WithTimeout(ctx, i.k.wait)
	defer cancel()
	err = i.k.until(ctx, func(ctx context.Context) (bool, error) {
		got, err := i.get(ctx, key)
		if err != nil {
			return false, err
		}
		last = got.GetStatus()
		if conditionIs(last, v1alpha1.ConditionSelected, corev1.ConditionFalse) {
			if unselected.IsZero() {
				unselected = time.Now()
			}
			if time.Since(unselected) >= SelectGrace {
				return false, fmt.Errorf("its selector selects nothing: Chaos Mesh reports Selected=False for %s: %w", SelectGrace, ErrNothingSelected)
			}
			return false, nil
		}
		unselected = time.Time{}
		return inEffect(last), nil
	})
	if err != nil {
		if errors.Is(err, ErrNothingSelected) {
			return fmt.Errorf("inject %s: %w (%s)", i, err, describe(last))
		}
		return fmt.Errorf("inject %s: Chaos Mesh did not report it in effect (%s): %w", i, describe(last), err)
	}
	return nil
}

// get reads the object of key, within the call timeout, into an object
// of its own.
func (i *injector) get(ctx context.Context, key client.ObjectKey) (Chaos, error) {
	return call(ctx, i.k, "get "+i.String(), func(ctx context.Context) (Chaos, error) {
		o := reflect.New(reflect.TypeOf(i.obj).Elem()).Interface().(Chaos)
		return o, i.k.c.Get(ctx, key, o)
	})
}

// ErrNothingSelected is the error of a fault whose selector matches no
// target.
var ErrNothingSelected = errors.New("nothing selected")

// inEffect tells a fault Chaos Mesh has injected into every target it
// selected: Selected and AllInjected, and every record Injected.
func inEffect(s *v1alpha1.ChaosStatus) bool {
	if !condition(s, v1alpha1.ConditionSelected) || !condition(s, v1alpha1.ConditionAllInjected) || len(s.Experiment.Records) == 0 {
		return false
	}
	for _, r := range s.Experiment.Records {
		if r.Phase != v1alpha1.Injected {
			return false
		}
	}
	return true
}

// Clear deletes the object this injector submitted — only that one, by
// its UID, never another run's of the same name — and waits until it is
// gone: Chaos Mesh holds it with a finalizer until it has recovered every
// pod. Before Inject, after a create the server refused, or once the
// object is gone, there is nothing to clear. After a create that got no
// answer, Clear looks the object up by name and deletes it when this
// run's label is on it. When the server does not answer Clear, its error
// says what may remain and how aftershock cleanup removes it; a create
// still in flight when Clear found nothing is left to its duration, as
// every object is (see Cleanup).
func (i *injector) Clear(ctx context.Context) error {
	i.mu.Lock()
	submitted, uid := i.submitted, i.uid
	i.mu.Unlock()
	if !submitted {
		return nil
	}
	key := client.ObjectKeyFromObject(i.obj)
	if uid == "" {
		var err error
		if uid, err = i.lookup(ctx); err != nil || uid == "" {
			if err != nil {
				return fmt.Errorf("clear %s: %w; it may be on the cluster: %s", i, err, i.k.removes())
			}
			return nil
		}
	}
	obj, ok := i.obj.DeepCopyObject().(Chaos)
	if !ok {
		return fmt.Errorf("clear %s: cannot copy the object", i)
	}
	if err := i.k.do(ctx, "delete "+i.String(), func(ctx context.Context) error {
		return i.k.c.Delete(ctx, obj, client.Preconditions{UID: &uid})
	}); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			// Gone, or replaced by another run's object: ours is gone.
			i.forget(uid)
			return nil
		}
		return fmt.Errorf("clear %s: delete: %w; it may still be on the cluster: %s", i, err, i.k.removes())
	}
	var last *v1alpha1.ChaosStatus
	err := i.k.until(ctx, func(ctx context.Context) (bool, error) {
		got, err := i.get(ctx, key)
		if apierrors.IsNotFound(err) || (err == nil && got.GetUID() != uid) {
			i.forget(uid)
			return true, nil
		}
		if err == nil {
			last = got.GetStatus()
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("clear %s: deleted, still there, Chaos Mesh may still be recovering its pods (%s): %w", i, describe(last), err)
	}
	return nil
}

// lookup finds the object of a create that got no answer: by name, and
// only when this run's label is on it. It returns its UID, or "" when
// there is none of this run's (then there is nothing to clear).
func (i *injector) lookup(ctx context.Context) (types.UID, error) {
	got, err := i.get(ctx, client.ObjectKeyFromObject(i.obj))
	switch {
	case apierrors.IsNotFound(err):
		i.forget("")
		return "", nil
	case err != nil:
		return "", err
	case got.GetLabels()[LabelRun] != i.k.run:
		// Another run's: ours was never created.
		i.forget("")
		return "", nil
	}
	uid := got.GetUID()
	i.mu.Lock()
	if i.submitted && i.uid == "" {
		i.uid = uid
	}
	i.mu.Unlock()
	return uid, nil
}

// forget records that the object with uid is gone.
func (i *injector) forget(uid types.UID) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.uid == uid {
		i.submitted, i.uid = false, ""
		i.k.held.remove(i)
	}
}

// held is the injectors whose object is (maybe) on the cluster.
type held struct {
	mu  sync.Mutex
	set map[*injector]bool
}

func (h *held) add(i *injector) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.set == nil {
		h.set = map[*injector]bool{}
	}
	h.set[i] = true
}

func (h *held) remove(i *injector) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.set, i)
}

func (h *held) list() []*injector {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.SortedFunc(maps.Keys(h.set), func(a, b *injector) int { return strings.Compare(a.String(), b.String()) })
}

// Abandon asks the API server to delete every object this process
// submitted and has not seen go, each by its UID, and does not wait for
// Chaos Mesh to recover its targets: what a process that must exit now
// can still do (the second SIGINT of aftershock drill). Only the verbs
// delete (and get, for an object whose create got no answer: it is
// deleted only when it carries this run's label) are needed, which a
// drill's identity has. It returns the objects
// it asked to delete ("NetworkChaos/shop/cut") and an error naming each
// it could not; those stay until their spec.duration runs out, or until
// aftershock cleanup --run RunID removes them. Clears in flight on
// other goroutines are left alone: a second delete of an object is
// harmless.
func (k *Cluster) Abandon(ctx context.Context) (asked []string, err error) {
	var errs []error
	for _, i := range k.held.list() {
		i.mu.Lock()
		submitted, uid := i.submitted, i.uid
		i.mu.Unlock()
		if !submitted {
			continue
		}
		if uid == "" {
			// Its create got no answer: delete it only if it is this
			// run's (get is a drill's verb too).
			var err error
			if uid, err = i.lookup(ctx); err != nil {
				errs = append(errs, fmt.Errorf("delete %s: %w", i, err))
				continue
			}
			if uid == "" {
				continue
			}
		}
		obj, ok := i.obj.DeepCopyObject().(Chaos)
		if !ok {
			errs = append(errs, fmt.Errorf("abandon %s: cannot copy the object", i))
			continue
		}
		err := k.do(ctx, "delete "+i.String(), func(ctx context.Context) error {
			return k.c.Delete(ctx, obj, client.Preconditions{UID: &uid})
		})
		switch {
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			i.forget(uid) // gone, or another run's object now: ours is gone
		case err != nil:
			errs = append(errs, fmt.Errorf("delete %s: %w", i, err))
		default:
			asked = append(asked, i.path())
		}
	}
	return asked, errors.Join(errs...)
}

// path names the injector's object as aftershock cleanup prints it:
// kind/namespace/name.
func (i *injector) path() string {
	return fmt.Sprintf("%s/%s/%s", i.kind(), i.obj.GetNamespace(), i.obj.GetName())
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
	return conditionIs(s, t, corev1.ConditionTrue)
}

// conditionIs reports whether status holds condition t with status v.
func conditionIs(s *v1alpha1.ChaosStatus, t v1alpha1.ChaosConditionType, v corev1.ConditionStatus) bool {
	if s == nil {
		return false
	}
	return slices.ContainsFunc(s.Conditions, func(c v1alpha1.ChaosCondition) bool {
		return c.Type == t && c.Status == v
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

// Cleanup deletes what dead runs of aftershock left on the cluster: the
// NetworkChaos and HTTPChaos objects labelled aftershock.dev/drill (only
// drill's when it is not empty) in namespace ("" for every namespace) whose
// lease has run out — their spec.duration, counted from their creation as
// Chaos Mesh counts it, is over, so no live run holds them — or, when run
// is given, every object of that run. It returns what it deleted and what
// it left to live runs, as kind/namespace/name. It does not wait for Chaos
// Mesh to recover them; each delete is preconditioned on the UID it
// listed, so an object recreated meanwhile is left alone. It stops at the
// first call the server does not answer within the call timeout (a
// server that stopped answering would otherwise cost the timeout once
// per object), saying what it could not do.
func (k *Cluster) Cleanup(ctx context.Context, namespace, drill, run string) (deleted, live []string, err error) {
	var opts []client.ListOption
	switch {
	case run != "":
		opts = append(opts, client.MatchingLabels{LabelRun: run})
	case drill != "":
		opts = append(opts, client.MatchingLabels{LabelDrill: drill})
	default:
		opts = append(opts, client.HasLabels{LabelDrill})
	}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	where := "in every namespace"
	if namespace != "" {
		where = "in namespace " + namespace
	}
	var errs []error
	for _, l := range []struct {
		kind string
		list func() client.ObjectList
	}{
		{v1alpha1.KindNetworkChaos, func() client.ObjectList { return &v1alpha1.NetworkChaosList{} }},
		{v1alpha1.KindHTTPChaos, func() client.ObjectList { return &v1alpha1.HTTPChaosList{} }},
	} {
		list, err := call(ctx, k, fmt.Sprintf("list %s %s", l.kind, where), func(ctx context.Context) (client.ObjectList, error) {
			list := l.list()
			return list, k.c.List(ctx, list, opts...)
		})
		var te *TimeoutError
		switch {
		case errors.As(err, &te) || ctx.Err() != nil:
			return deleted, live, errors.Join(append(errs, err)...)
		case err != nil:
			errs = append(errs, err)
			continue
		}
		items, err := apimeta.ExtractList(list)
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", l.kind, err))
			continue
		}
		for _, item := range items {
			o, ok := item.(Chaos)
			if !ok {
				continue
			}
			name := fmt.Sprintf("%s/%s/%s", l.kind, o.GetNamespace(), o.GetName())
			if drill != "" && o.GetLabels()[LabelDrill] != drill {
				continue
			}
			if run == "" && !leaseOver(o) {
				live = append(live, name)
				continue
			}
			uid := o.GetUID()
			err := k.do(ctx, "delete "+name, func(ctx context.Context) error { return k.c.Delete(ctx, o, client.Preconditions{UID: &uid}) })
			switch {
			case errors.As(err, &te) || ctx.Err() != nil:
				// The delete may have been applied: a run again tells.
				errs = append(errs, fmt.Errorf("%w; it may still be there, and what follows it was not looked at: run aftershock cleanup again", err))
				return deleted, live, errors.Join(errs...)
			case err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err):
				errs = append(errs, fmt.Errorf("delete %s: %w", name, err))
				continue
			}
			deleted = append(deleted, name)
		}
	}
	return deleted, live, errors.Join(errs...)
}

// leaseOver tells an object whose duration has run out: Chaos Mesh has
// recovered its fault, and no live run holds it. An object without a
// duration (not submitted by a run) is never over.
func leaseOver(o Chaos) bool {
	var d *string
	switch c := o.(type) {
	case *v1alpha1.NetworkChaos:
		d = c.Spec.Duration
	case *v1alpha1.HTTPChaos:
		d = c.Spec.Duration
	}
	if d == nil {
		return false
	}
	dur, err := time.ParseDuration(*d)
	return err == nil && time.Since(o.GetCreationTimestamp().Time) > dur
}
