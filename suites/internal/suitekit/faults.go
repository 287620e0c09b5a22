package suitekit

import (
	"context"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/injectors/httpfault"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// leaseMargin is how much longer than its planned hold a fault's lease
// runs: only a runner that is gone lets a lease run out.
const leaseMargin = 10 * time.Second

// clearTimeout bounds clearing one fault, also at cleanup after a failure.
const clearTimeout = 15 * time.Second

// Proxy is the fault proxy in front of one upstream for the current spec
// (or Ordered container): it listens where the target calls the upstream
// and forwards to the upstream itself.
type Proxy struct {
	Upstream experiments.Upstream
	// TCP is the network proxy; HTTP is its HTTP layer, nil unless the
	// upstream is declared protocol: http.
	TCP  *proxy.Proxy
	HTTP *httpfault.Proxy
}

// StartProxy starts the fault proxy of u and closes it when the spec (or
// the Ordered container whose BeforeAll calls it) ends; closing removes its
// faults and every connection through it.
func StartProxy(u experiments.Upstream) *Proxy {
	GinkgoHelper()
	p := &Proxy{Upstream: u}
	if u.Protocol == experiments.ProtocolHTTP {
		hp, err := httpfault.New(u.Listen, u.Forward)
		Expect(err).NotTo(HaveOccurred(), "http fault proxy for upstream %s (%s → %s)", u.Name, u.Listen, u.Forward)
		DeferCleanup(hp.Close)
		p.HTTP, p.TCP = hp, hp.Network()
		return p
	}
	tp, err := proxy.New(u.Listen, u.Forward)
	Expect(err).NotTo(HaveOccurred(), "fault proxy for upstream %s (%s → %s)", u.Name, u.Listen, u.Forward)
	DeferCleanup(tp.Close)
	p.TCP = tp
	return p
}

// Network is a network fault on the proxy, under name.
func (p *Proxy) Network(name string, f proxy.Fault) injectors.Injector {
	return p.TCP.Injector(name, f)
}

// HTTPFault is an HTTP fault on the proxy, under name. The spec is skipped
// when the upstream is not declared protocol: http.
func (p *Proxy) HTTPFault(name string, f httpfault.Fault) injectors.Injector {
	GinkgoHelper()
	if p.HTTP == nil {
		Skip(fmt.Sprintf("upstream %s is declared protocol %s; HTTP faults need protocol: http", p.Upstream.Name, p.Upstream.Protocol))
	}
	return p.HTTP.Injector(name, f)
}

// Inject applies inj with a lease a little longer than hold and registers
// its Clear with DeferCleanup, so the fault goes whatever happens to the
// spec. It returns a function that clears it now (and fails the spec if
// that fails); clearing twice is harmless.
func Inject(ctx context.Context, inj injectors.Injector, hold time.Duration) (clear func()) {
	GinkgoHelper()
	var once sync.Once
	var clearErr error
	doClear := func(ctx context.Context) error {
		once.Do(func() { clearErr = inj.Clear(ctx) })
		return clearErr
	}
	DeferCleanup(func(ctx SpecContext) error { return doClear(ctx) }, NodeTimeout(clearTimeout))
	Expect(inj.Inject(ctx, hold+leaseMargin)).To(Succeed(), "inject %s", inj)
	return func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), clearTimeout)
		defer cancel()
		Expect(doClear(cctx)).To(Succeed(), "clear %s", inj)
	}
}

// Hold waits d, or until ctx ends (a timeout or an interrupt), which then
// fails the spec.
func Hold(ctx context.Context, d time.Duration) {
	GinkgoHelper()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		Fail(fmt.Sprintf("interrupted while holding for %s: %v", d, context.Cause(ctx)))
	}
}

// StartProxies starts a plain fault proxy for every upstream of the target
// (see StartProxy), so that the service reaches its upstreams while a
// fault acts on the service itself (stalled clients).
func StartProxies(t *Target) []*Proxy {
	GinkgoHelper()
	ps := make([]*Proxy, 0, len(t.Upstreams))
	for _, u := range t.Upstreams {
		ps = append(ps, StartProxy(u))
	}
	return ps
}
