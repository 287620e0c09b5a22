package chaosmesh

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The target's pods: a drill whose target is pods (spec.target.pods)
// finds them through the API server with a Chaos Mesh selector, reads
// each one's pprof on its own, and tells from the pods' status who
// restarted, who was replaced, who is gone and who is new.

// Pod is one pod of the target as the API server reported it: which pod
// it is (its UID: a pod of the same name made anew is another pod) and
// what its containers went through.
type Pod struct {
	Namespace, Name string
	UID             types.UID
	// IP is status.podIP; Node is spec.nodeName.
	IP, Node string
	Phase    corev1.PodPhase
	// Deleting tells a pod the API server is deleting (deletionTimestamp).
	Deleting   bool
	Containers []Container
}

// Container is one container of a pod: its restarts so far and how it
// last ended.
type Container struct {
	Name         string
	RestartCount int32
	// LastTerminated is status.containerStatuses[].lastState.terminated:
	// how the container's previous process ended; nil when none has.
	LastTerminated *Termination
}

// Termination is how a container's process ended.
type Termination struct {
	Reason   string
	ExitCode int32
	Signal   int32
	Message  string
	Finished time.Time
}

// String reads as the kubelet reports it: "OOMKilled (exit 137)".
func (t *Termination) String() string {
	s := cmp.Or(t.Reason, "terminated")
	if t.Signal != 0 {
		return fmt.Sprintf("%s (exit %d, signal %d)", s, t.ExitCode, t.Signal)
	}
	return fmt.Sprintf("%s (exit %d)", s, t.ExitCode)
}

// Key is namespace/name.
func (p *Pod) Key() string { return p.Namespace + "/" + p.Name }

// Restarts is the sum of its containers' restart counts.
func (p *Pod) Restarts() int32 {
	var n int32
	for _, c := range p.Containers {
		n += c.RestartCount
	}
	return n
}

// Unready says why the pod cannot be read as a replica now ("" when it
// can): it is being deleted, not running, or has no IP yet.
func (p *Pod) Unready() string {
	switch {
	case p.Deleting:
		return "it is being deleted"
	case p.Phase != corev1.PodRunning:
		return fmt.Sprintf("it is %s, not Running", cmp.Or(string(p.Phase), "in no phase"))
	case p.IP == "":
		return "it has no pod IP yet"
	}
	return ""
}

func podOf(o *corev1.Pod) Pod {
	p := Pod{Namespace: o.Namespace, Name: o.Name, UID: o.UID, IP: o.Status.PodIP, Node: o.Spec.NodeName,
		Phase: o.Status.Phase, Deleting: o.DeletionTimestamp != nil}
	for _, cs := range o.Status.ContainerStatuses {
		c := Container{Name: cs.Name, RestartCount: cs.RestartCount}
		if t := cs.LastTerminationState.Terminated; t != nil {
			c.LastTerminated = &Termination{Reason: t.Reason, ExitCode: t.ExitCode, Signal: t.Signal, Message: t.Message, Finished: t.FinishedAt.Time}
		}
		p.Containers = append(p.Containers, c)
	}
	return p
}

// FindPods lists the pods s selects, sorted by namespace and name, each
// list within the call timeout. A pod that s names (selector.pods) and
// that does not exist is left out: the caller compares what it asked for
// with what it got.
func (k *Cluster) FindPods(ctx context.Context, s *PodSelector) ([]Pod, error) {
	var out []Pod
	if len(s.spec.Pods) > 0 {
		for _, ns := range s.Namespaces() {
			for _, name := range slices.Compact(slices.Sorted(slices.Values(s.spec.Pods[ns]))) {
				o, ok, err := k.getPod(ctx, ns, name)
				switch {
				case err != nil:
					return nil, err
				case ok:
					out = append(out, podOf(o))
				}
			}
		}
		return out, nil
	}
	for _, ns := range s.Namespaces() {
		opts := []client.ListOption{client.InNamespace(ns), client.MatchingLabelsSelector{Selector: s.labels}}
		if !s.fields.Empty() {
			opts = append(opts, client.MatchingFieldsSelector{Selector: s.fields})
		}
		l, err := call(ctx, k, "list Pods in namespace "+ns, func(ctx context.Context) (*corev1.PodList, error) {
			var l corev1.PodList
			return &l, k.c.List(ctx, &l, opts...)
		})
		var te *TimeoutError
		switch {
		case errors.As(err, &te):
			return nil, fmt.Errorf("target pods: %w", err)
		case err != nil:
			return nil, fmt.Errorf("target pods: list the pods of namespace %s on %s: %w", ns, k.name(), err)
		}
		for i := range l.Items {
			if s.matches(&l.Items[i]) {
				out = append(out, podOf(&l.Items[i]))
			}
		}
	}
	slices.SortFunc(out, func(a, b Pod) int { return cmp.Compare(a.Key(), b.Key()) })
	return out, nil
}

// Reach is how aftershock reaches a pod's port.
type Reach int

const (
	// ReachProxy goes through the API server's pod proxy
	// (/api/v1/namespaces/NS/pods/NAME:PORT/proxy/...), with the
	// kubeconfig's credentials: how kubectl reaches a pod from outside
	// the cluster. It needs get on pods/proxy.
	ReachProxy Reach = iota
	// ReachDirect dials the pod's IP: from inside the cluster, where pod
	// IPs route.
	ReachDirect
)

func (r Reach) String() string {
	if r == ReachDirect {
		return "by pod IP"
	}
	return "through the API server's pod proxy"
}

// Reach is how this cluster's pods are reached: by pod IP from inside the
// cluster (Connect(InCluster)), else through the API server's proxy.
func (k *Cluster) Reach() Reach { return k.reach }

// WithReach returns k reaching pods as r.
func (k *Cluster) WithReach(r Reach) *Cluster {
	c := *k
	c.reach = r
	return &c
}

// PprofEndpoint is the pprof base URL of pod p's port and path (e.g.
// /debug/pprof) and the HTTP client that reads it: for ReachDirect the
// pod IP's URL and nil (the snapshot client's own transport); for
// ReachProxy the API server's proxy URL of that path, under a client
// that authenticates as the kubeconfig says. What the snapshot client
// appends (goroutine?debug=2) goes to the pod as it is.
func (k *Cluster) PprofEndpoint(p Pod, port int, path string) (string, *http.Client, error) {
	path = "/" + strings.Trim(path, "/")
	if k.reach == ReachDirect {
		if p.IP == "" {
			return "", nil, fmt.Errorf("target pods: pod %s has no IP", p.Key())
		}
		return "http://" + net.JoinHostPort(p.IP, strconv.Itoa(port)) + path, nil, nil
	}
	hc, err := k.proxyClient()
	if err != nil {
		return "", nil, err
	}
	u, err := url.Parse(k.cfg.Host)
	if err != nil {
		return "", nil, fmt.Errorf("target pods: API server URL %q: %w", k.cfg.Host, err)
	}
	if u.Scheme == "" { // a kubeconfig may say host:port
		u, _ = url.Parse("https://" + k.cfg.Host)
	}
	u.Path = strings.TrimRight(u.Path+k.cfg.APIPath, "/") + fmt.Sprintf("/api/v1/namespaces/%s/pods/%s:%d/proxy%s", p.Namespace, p.Name, port, path)
	return u.String(), hc, nil
}

// proxyClient is the one HTTP client of the API server's pod proxy.
func (k *Cluster) proxyClient() (*http.Client, error) {
	if k.cfg == nil {
		return nil, errors.New("target pods: the cluster was made without its REST config (chaosmesh.New): reach its pods by pod IP, or connect with Connect or ForConfig")
	}
	px := k.proxy
	px.once.Do(func() {
		cfg := rest.CopyConfig(k.cfg)
		// Bound by the snapshot client's own timeout, never by the
		// config's: a heap dump may take longer than an API call.
		cfg.Timeout = 0
		px.http, px.err = rest.HTTPClientFor(cfg)
	})
	if px.err != nil {
		return nil, fmt.Errorf("target pods: HTTP client for %s: %w", k.name(), px.err)
	}
	return px.http, nil
}

// proxyHTTP is the pod proxy's HTTP client, made once and shared by the
// copies WithCallTimeout and WithReach make.
type proxyHTTP struct {
	once sync.Once
	http *http.Client
	err  error
}

// PodRules are what a drill with target pods needs, reaching them as r:
// get and list pods, and, through the API server's proxy, get
// pods/proxy. CheckPods asks for exactly these.
func PodRules(r Reach) []rbacv1.PolicyRule {
	rules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}}
	if r == ReachProxy {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/proxy"}, Verbs: []string{"get"}})
	}
	return rules
}

// CheckPods asks the API server, before anything is injected, whether this
// identity may find the target's pods (get and list pods) and, when it
// reaches them through the API server, read them (get pods/proxy), in
// each of namespaces (SelfSubjectAccessReview), and refuses with every
// denial.
func (k *Cluster) CheckPods(ctx context.Context, namespaces []string) error {
	var denied []string
	for _, ns := range namespaces {
		var no []string
		for _, rule := range PodRules(k.reach) {
			for _, verb := range rule.Verbs {
				res, sub, _ := strings.Cut(rule.Resources[0], "/")
				what := verb + " " + rule.Resources[0]
				ok, why, err := k.allowed(ctx, &authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: res, Subresource: sub})
				if err != nil {
					return fmt.Errorf("target pods: asking %s whether this identity may %s: %w", k.name(), what, err)
				}
				if !ok {
					no = append(no, fmt.Sprintf("%s (%s)", what, why))
				}
			}
		}
		if len(no) > 0 {
			denied = append(denied, fmt.Sprintf("in namespace %s: %s", ns, strings.Join(no, "; ")))
		}
	}
	if len(denied) > 0 {
		need := "get, list on pods"
		if k.reach == ReachProxy {
			need += " and get on pods/proxy (aftershock reads each pod's pprof through the API server's pod proxy)"
		}
		return fmt.Errorf("target pods: this identity may not, on %s, %s; a drill with target pods needs %s in the pods' namespaces (aftershock render --schedule prints the Role)",
			k.name(), strings.Join(denied, ", "), need)
	}
	return nil
}

// allowed asks a SelfSubjectAccessReview and says why not when denied.
func (k *Cluster) allowed(ctx context.Context, attrs *authorizationv1.ResourceAttributes) (bool, string, error) {
	what := "create SelfSubjectAccessReview (" + attrs.Verb + " " + attrs.Resource
	if attrs.Subresource != "" {
		what += "/" + attrs.Subresource
	}
	what += " in namespace " + attrs.Namespace + ")"
	r, err := call(ctx, k, what, func(ctx context.Context) (*authorizationv1.SelfSubjectAccessReview, error) {
		r := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs}}
		return r, k.c.Create(ctx, r)
	})
	if err != nil {
		return false, "", err
	}
	if r.Status.Allowed {
		return true, "", nil
	}
	return false, cmp.Or(r.Status.Reason, "no rule allows it"), nil
}

// GetPod reads one pod, within the call timeout; ok is false when the
// API server no longer has it.
func (k *Cluster) GetPod(ctx context.Context, namespace, name string) (_ Pod, ok bool, _ error) {
	o, ok, err := k.getPod(ctx, namespace, name)
	if !ok || err != nil {
		return Pod{}, false, err
	}
	return podOf(o), true, nil
}

// getPod reads one pod, within the call timeout; ok is false when the API
// server does not have it.
func (k *Cluster) getPod(ctx context.Context, namespace, name string) (_ *corev1.Pod, ok bool, _ error) {
	o, err := call(ctx, k, fmt.Sprintf("get Pod %s/%s", namespace, name), func(ctx context.Context) (*corev1.Pod, error) {
		var o corev1.Pod
		return &o, k.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &o)
	})
	var te *TimeoutError
	switch {
	case apierrors.IsNotFound(err):
		return nil, false, nil
	case errors.As(err, &te):
		return nil, false, fmt.Errorf("target pods: %w", err)
	case err != nil:
		return nil, false, fmt.Errorf("target pods: get pod %s/%s from %s: %w", namespace, name, k.name(), err)
	}
	return o, true, nil
}
