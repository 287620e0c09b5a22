package chaosmesh_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aftershock/aftershock/fixtures/kubetest"
	"github.com/aftershock/aftershock/injectors/chaosmesh"
	"github.com/aftershock/aftershock/injectors/chaosmesh/chaosmeshtest"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// bound is the engines' call timeout in TestEveryCallIsBounded: short, so
// that the test is; every call returns within it, however loaded the
// machine, because the engine stops waiting at it.
const bound = 500 * time.Millisecond

// stalledServer is the test's API server behind a fault proxy, and the
// engines that reach it through the proxy.
type stalledServer struct {
	k   *kubetest.Cluster
	p   *proxy.Proxy
	cfg *rest.Config // the admin's, through the proxy
	ns  string

	mu    sync.Mutex
	after *afterResponse // the armed trigger, if any
}

// stall makes the server stop answering in dir (proxy.Both: connections
// are accepted and then nothing flows either way, open ones included;
// proxy.To: requests arrive, answers do not), until unstall.
func (s *stalledServer) stall(t *testing.T, dir proxy.Direction) {
	t.Helper()
	if err := s.p.Add("stall", proxy.Partition{Direction: dir}, time.Minute); err != nil {
		t.Fatal(err)
	}
}

func (s *stalledServer) unstall(t *testing.T) {
	t.Helper()
	if err := s.p.Remove("stall"); err != nil && !errors.Is(err, proxy.ErrNotFound) {
		t.Fatal(err)
	}
}

// engine is an engine that has not asked the server anything yet: its
// RESTMapper has discovered nothing.
func (s *stalledServer) engine(t *testing.T) *chaosmesh.Cluster {
	t.Helper()
	cfg := rest.CopyConfig(s.cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &hook{rt: rt, s: s} })
	eng, err := chaosmesh.ForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return eng.WithCallTimeout(bound).WithWait(20 * time.Second)
}

// afterResponse stalls the server once the answer to the first request
// of method whose path ends in suffix has been read: the next call is
// the one that meets the stall.
type afterResponse struct {
	method, suffix string
	dir            proxy.Direction
	fired          chan struct{}
}

// wait waits for the trigger to have fired.
func (a *afterResponse) wait(t *testing.T) {
	t.Helper()
	select {
	case <-a.fired:
	case <-time.After(30 * time.Second):
		t.Fatalf("no answer to %s …%s was read", a.method, a.suffix)
	}
}

// stallAfter arms the trigger.
func (s *stalledServer) stallAfter(method, suffix string, dir proxy.Direction) *afterResponse {
	a := &afterResponse{method: method, suffix: suffix, dir: dir, fired: make(chan struct{})}
	s.mu.Lock()
	s.after = a
	s.mu.Unlock()
	return a
}

// hook is the engines' transport, under the engine's own: it fires an
// armed afterResponse when the response's body is closed.
type hook struct {
	rt http.RoundTripper
	s  *stalledServer
}

func (h *hook) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.rt.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	h.s.mu.Lock()
	a := h.s.after
	if a != nil && req.Method == a.method && strings.HasSuffix(req.URL.Path, a.suffix) {
		h.s.after = nil
	} else {
		a = nil
	}
	h.s.mu.Unlock()
	if a != nil {
		resp.Body = &fireOnClose{ReadCloser: resp.Body, fire: func() {
			_ = h.s.p.Add("stall", proxy.Partition{Direction: a.dir}, time.Minute)
			close(a.fired)
		}}
	}
	return resp, nil
}

type fireOnClose struct {
	io.ReadCloser
	once sync.Once
	fire func()
}

func (f *fireOnClose) Close() error {
	err := f.ReadCloser.Close()
	f.once.Do(f.fire)
	return err
}

// bounded runs one call against the stalled server and checks that it
// returned within the bound with an error naming the call, the server and
// the bound. A call that has not returned long after the bound fails the
// test (it returns once the test unstalls the server).
func (s *stalledServer) bounded(t *testing.T, call string, f func(ctx context.Context) error) error {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- f(context.Background()) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(bound + 10*time.Second):
		t.Errorf("%s: no return %s after the call timeout of %s: the call is not bounded", call, 10*time.Second, bound)
		s.unstall(t)
		return <-done
	}
	took := time.Since(start)
	if took < bound || took > bound+time.Second {
		t.Errorf("%s: returned after %s, want within the call timeout %s (and not before it: the server never answered)", call, took, bound)
	}
	if err == nil {
		t.Errorf("%s: no error from a server that does not answer", call)
		return nil
	}
	msg := err.Error()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(msg, call) || !strings.Contains(msg, s.p.Addr().String()) || !strings.Contains(msg, bound.String()) {
		t.Errorf("%s: error %q; want a deadline error naming the call, the server (%s) and the bound (%s)", call, msg, s.p.Addr(), bound)
	}
	t.Logf("%s: %s: %v", call, took.Round(time.Millisecond), err)
	return err
}

// TestEveryCallIsBounded: against Kubernetes' own API server reached
// through a fault proxy that stops answering (it accepts connections and
// then nothing flows), every call the cluster engine makes returns within
// its call timeout, with an error that says which call, to which server,
// and what bound ran out: on an engine that has discovered nothing yet
// (the first call of each API group makes the client's RESTMapper ask the
// server, without the caller's context) and on one that has. A create
// whose answer is lost still leaves nothing behind: Clear, or aftershock
// cleanup --run, finds and deletes it.
func TestEveryCallIsBounded(t *testing.T) {
	t.Parallel()
	k := kubetest.Start(t)
	s := &stalledServer{k: k, ns: namespace(t, k, "bounded")}
	KubePod(t, k, s.ns, "shop-0", "127.0.0.1", map[string]string{"app": "shop"})
	u, err := url.Parse(k.Config.Host)
	if err != nil || u.Host == "" {
		t.Fatalf("API server URL %q: %v", k.Config.Host, err)
	}
	s.p, err = proxy.New("127.0.0.1:0", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.p.Close() })
	s.cfg = rest.CopyConfig(k.Config)
	s.cfg.Host = "https://" + s.p.Addr().String()
	standIn(t, k, chaosmeshtest.Options{})
	ns := s.ns
	byLabel := podSelector(t, ns, map[string]string{"app": "shop"})
	byName, ps := chaosmesh.NewPodSelector(v1alpha1.PodSelectorSpec{Pods: map[string][]string{ns: {"shop-0"}}}, "default")
	if len(ps) > 0 {
		t.Fatal(ps)
	}

	// Every call but those of Inject and Clear, which follow.
	type probe struct {
		call string
		f    func(context.Context, *chaosmesh.Cluster) error
	}
	probes := func(check string) []probe {
		return []probe{
			{check, func(ctx context.Context, e *chaosmesh.Cluster) error { return e.Check(ctx, ns) }},
			{"create SelfSubjectAccessReview (get pods in namespace " + ns + ")", func(ctx context.Context, e *chaosmesh.Cluster) error {
				return e.CheckPods(ctx, []string{ns})
			}},
			{"list Pods in namespace " + ns, func(ctx context.Context, e *chaosmesh.Cluster) error { _, err := e.FindPods(ctx, byLabel); return err }},
			{"get Pod " + ns + "/shop-0", func(ctx context.Context, e *chaosmesh.Cluster) error { _, err := e.FindPods(ctx, byName); return err }},
			{"get Pod " + ns + "/shop-0", func(ctx context.Context, e *chaosmesh.Cluster) error {
				_, _, err := e.GetPod(ctx, ns, "shop-0")
				return err
			}},
			{"create Event in namespace " + ns, func(ctx context.Context, e *chaosmesh.Cluster) error {
				return e.Event(ctx, ns, "bounded", true, "passed")
			}},
			{"list NetworkChaos in namespace " + ns, func(ctx context.Context, e *chaosmesh.Cluster) error {
				_, _, err := e.Cleanup(ctx, ns, "", "")
				return err
			}},
		}
	}
	ctx := context.Background()

	t.Run("an engine that has discovered nothing", func(t *testing.T) {
		// The preflight's first call is the discovery of Chaos Mesh's
		// kinds (RESTMapping); every other call's first request is its
		// API group's discovery, made inside the client.
		for _, p := range probes("discover NetworkChaos (chaos-mesh.org/v1alpha1)") {
			eng := s.engine(t)
			s.stall(t, proxy.Both)
			s.bounded(t, p.call, func(ctx context.Context) error { return p.f(ctx, eng) })
			s.unstall(t)
		}
		eng := s.engine(t)
		inj := eng.Injector(partition("cold", ns, "bounded"))
		s.stall(t, proxy.Both)
		s.bounded(t, "create NetworkChaos "+ns+"/cold", func(ctx context.Context) error { return inj.Inject(ctx, time.Minute) })
		s.unstall(t)
		// Its create was never sent: the discovery before it got no
		// answer. Clear finds nothing of this run's.
		if err := inj.Clear(ctx); err != nil {
			t.Errorf("clear after a create that got no answer: %v", err)
		}
	})

	// One engine that has made every call once.
	eng := s.engine(t)
	for _, p := range probes("") {
		if err := p.f(ctx, eng); err != nil {
			t.Fatalf("warming up, %s: %v", p.call, err)
		}
	}

	t.Run("an engine that has", func(t *testing.T) {
		for _, p := range probes("create SelfSubjectAccessReview (create networkchaos in namespace " + ns + ")") {
			s.stall(t, proxy.Both)
			s.bounded(t, p.call, func(ctx context.Context) error { return p.f(ctx, eng) })
			s.unstall(t)
		}
	})

	t.Run("a create whose answer is lost is cleared", func(t *testing.T) {
		inj := eng.Injector(partition("lost", ns, "bounded"))
		s.stall(t, proxy.To) // the create arrives, its answer does not
		err := s.bounded(t, "create NetworkChaos "+ns+"/lost", func(ctx context.Context) error { return inj.Inject(ctx, time.Minute) })
		if err == nil || !strings.Contains(err.Error(), "may have created it") || !strings.Contains(err.Error(), "aftershock cleanup --context") ||
			!strings.Contains(err.Error(), "--run "+eng.RunID()) {
			t.Errorf("Inject = %v; want it to say the object may be there, and how aftershock cleanup removes it", err)
		}
		key := client.ObjectKey{Namespace: ns, Name: "lost"}
		var nc v1alpha1.NetworkChaos
		eventually(t, "the server created the object whose answer was lost", func() bool {
			return k.Client.Get(ctx, key, &nc) == nil && nc.Labels[chaosmesh.LabelRun] == eng.RunID()
		})
		// The server still does not answer: Clear says what may remain.
		err = s.bounded(t, "get NetworkChaos "+ns+"/lost", inj.Clear)
		if err == nil || !strings.Contains(err.Error(), "may be on the cluster") || !strings.Contains(err.Error(), "--run "+eng.RunID()) {
			t.Errorf("Clear = %v; want it to say what may remain and how to remove it", err)
		}
		s.unstall(t)
		if err := inj.Clear(ctx); err != nil {
			t.Fatalf("clear once the server answers: %v", err)
		}
		if err := k.Client.Get(ctx, key, &nc); !apierrors.IsNotFound(err) {
			t.Errorf("after clear: %v; want the object gone", err)
		}
	})

	t.Run("a create whose answer is lost is removed by cleanup --run", func(t *testing.T) {
		inj := eng.Injector(partition("left", ns, "bounded"))
		s.stall(t, proxy.To)
		s.bounded(t, "create NetworkChaos "+ns+"/left", func(ctx context.Context) error { return inj.Inject(ctx, time.Minute) })
		eventually(t, "the server created the object whose answer was lost", func() bool {
			return k.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "left"}, &v1alpha1.NetworkChaos{}) == nil
		})
		s.unstall(t)
		// The process that ran the drill is gone; another cleans up.
		deleted, _, err := s.engine(t).Cleanup(ctx, ns, "", eng.RunID())
		if err != nil || len(deleted) != 1 || deleted[0] != "NetworkChaos/"+ns+"/left" {
			t.Fatalf("cleanup --run %s: deleted %v, %v", eng.RunID(), deleted, err)
		}
	})

	t.Run("a create whose answer is lost is abandoned", func(t *testing.T) {
		// The second signal's Abandon, from a process of its own.
		eng := s.engine(t)
		if err := eng.Check(ctx, ns); err != nil {
			t.Fatal(err)
		}
		inj := eng.Injector(partition("orphan", ns, "bounded"))
		s.stall(t, proxy.To)
		s.bounded(t, "create NetworkChaos "+ns+"/orphan", func(ctx context.Context) error { return inj.Inject(ctx, time.Minute) })
		eventually(t, "the server created the object whose answer was lost", func() bool {
			return k.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orphan"}, &v1alpha1.NetworkChaos{}) == nil
		})
		// Still no answer: Abandon cannot tell whether it is this run's.
		s.bounded(t, "get NetworkChaos "+ns+"/orphan", func(ctx context.Context) error { _, err := eng.Abandon(ctx); return err })
		s.unstall(t)
		asked, err := eng.Abandon(ctx)
		if err != nil || len(asked) != 1 || asked[0] != "NetworkChaos/"+ns+"/orphan" {
			t.Fatalf("Abandon once the server answers: asked %v, %v", asked, err)
		}
	})

	t.Run("inject's status poll", func(t *testing.T) {
		inj := eng.Injector(partition("poll", ns, "bounded"))
		a := s.stallAfter(http.MethodPost, "/networkchaos", proxy.Both)
		start := time.Now()
		err := inj.Inject(ctx, time.Minute)
		a.wait(t)
		if took := time.Since(start); took > bound+2*time.Second || err == nil || !strings.Contains(err.Error(), "get NetworkChaos "+ns+"/poll: no answer from "+s.cfg.Host+" within the call timeout ("+bound.String()+")") {
			t.Errorf("Inject = %v after %s; want the status poll's get to fail at its bound", err, took)
		}
		s.unstall(t)
		if err := inj.Clear(ctx); err != nil {
			t.Fatalf("clear: %v", err)
		}
	})

	t.Run("clear's delete and its poll", func(t *testing.T) {
		inj := eng.Injector(partition("del", ns, "bounded"))
		if err := inj.Inject(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
		s.stall(t, proxy.Both)
		err := s.bounded(t, "delete NetworkChaos "+ns+"/del", inj.Clear)
		if err == nil || !strings.Contains(err.Error(), "may still be on the cluster") {
			t.Errorf("Clear = %v; want it to say the object may remain", err)
		}
		s.unstall(t)
		if err := inj.Clear(ctx); err != nil {
			t.Fatalf("clear once the server answers: %v", err)
		}

		inj = eng.Injector(partition("gone", ns, "bounded"))
		if err := inj.Inject(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
		a := s.stallAfter(http.MethodDelete, "/networkchaos/gone", proxy.Both)
		start := time.Now()
		err = inj.Clear(ctx)
		a.wait(t)
		if took := time.Since(start); took > bound+2*time.Second || err == nil || !strings.Contains(err.Error(), "get NetworkChaos "+ns+"/gone: no answer from "+s.cfg.Host) {
			t.Errorf("Clear = %v after %s; want the poll after the delete to fail at its bound", err, took)
		}
		s.unstall(t)
		if err := inj.Clear(ctx); err != nil {
			t.Fatalf("clear once the server answers: %v", err)
		}
	})

	t.Run("cleanup's delete", func(t *testing.T) {
		inj := eng.Injector(partition("dead", ns, "bounded"))
		if err := inj.Inject(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
		a := s.stallAfter(http.MethodGet, "/networkchaos", proxy.Both)
		err := s.bounded(t, "delete NetworkChaos/"+ns+"/dead", func(ctx context.Context) error {
			_, _, err := eng.Cleanup(ctx, ns, "", eng.RunID())
			return err
		})
		a.wait(t)
		if err == nil || !strings.Contains(err.Error(), "run aftershock cleanup again") {
			t.Errorf("Cleanup = %v; want it to say the object may remain", err)
		}
		s.unstall(t)
		if _, _, err := eng.Cleanup(ctx, ns, "", eng.RunID()); err != nil {
			t.Fatalf("cleanup once the server answers: %v", err)
		}
		if err := inj.Clear(ctx); err != nil {
			t.Fatalf("clear after cleanup: %v", err)
		}
	})

	// Nothing left behind: Chaos Mesh (the stand-in) lets the objects
	// deleted without waiting go.
	eventually(t, "no NetworkChaos left in "+ns, func() bool {
		var l v1alpha1.NetworkChaosList
		return k.Client.List(ctx, &l, client.InNamespace(ns)) == nil && len(l.Items) == 0
	})
}

// eventually polls cond for up to 30 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not after 30s: %s", what)
		}
	}
}
