package httpfault

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// GRPCFault is one fault on gRPC calls, applied per call — per HTTP/2
// stream — by a proxy of NewH2: the other calls on the same connection are
// left alone. Chaos Mesh has no such fault (its HTTPChaos is HTTP/1 only);
// this is aftershock's own, in the spirit of xk6-disruptor's gRPC faults.
type GRPCFault struct {
	// Methods selects calls by full method name, "/package.Service/Method";
	// * matches any run of characters ("/shop.Payments/*"). Empty selects
	// every call.
	Methods []string
	// ExcludeMethods are never selected, whatever Methods says.
	ExcludeMethods []string
	// Percent is the share of the selected calls the fault acts on, in
	// [0, 100]; 0 (unset) means every one. The share is exact: of every
	// hundred selected calls (every thousand for a tenth of a percent, …),
	// Percent are acted on, at shuffled positions.
	Percent float64
	// Delay holds the call this long, ± up to Jitter, before it goes on
	// (or is aborted).
	Delay, Jitter time.Duration
	// Abort ends the call with a status, as a trailers-only response: the
	// upstream never sees it.
	Abort *Status
	// Reset resets the call's stream (RST_STREAM): the client sees the
	// call fail as on a broken stream; the upstream never sees it.
	Reset bool
}

// Status is a gRPC status a fault answers with.
type Status struct {
	Code    codes.Code
	Message string
}

// Validate reports every problem of the fault, each naming its field.
func (f GRPCFault) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if f.Delay == 0 && f.Abort == nil && !f.Reset {
		bad("no action: set delay, abort or reset")
	}
	if f.Abort != nil && f.Reset {
		bad("abort and reset: a call ends one way; choose one")
	}
	if f.Abort != nil && (f.Abort.Code == codes.OK || f.Abort.Code > codes.Unauthenticated) {
		bad("abort.code: %d is not a gRPC error code (1..16)", f.Abort.Code)
	}
	if f.Delay < 0 || f.Jitter < 0 || f.Jitter > f.Delay {
		bad("delay: %v ± %v: want a delay ≥ 0 and a jitter between 0 and the delay", f.Delay, f.Jitter)
	}
	if f.Percent < 0 || f.Percent > 100 {
		bad("percent: %v is not in [0, 100] (0: every call)", f.Percent)
	}
	for _, m := range append(append([]string(nil), f.Methods...), f.ExcludeMethods...) {
		if _, _, err := ParseMethod(m); err != nil {
			bad("%v (* matches any run of characters)", err)
		} else if _, err := compileGlob(m); err != nil {
			bad("method %q: %v", m, err)
		}
	}
	return errors.Join(errs...)
}

// ParseMethod splits a full gRPC method name, /package.Service/Method (the
// :path of its calls), into its service and method, or says what is wrong
// with it. Every reader of method names (faults, their validation, the
// load) checks them with it.
func ParseMethod(full string) (service, method string, err error) {
	rest, slash := strings.CutPrefix(full, "/")
	service, method, ok := strings.Cut(rest, "/")
	if !slash || !ok || service == "" || method == "" || strings.Contains(method, "/") {
		return "", "", fmt.Errorf("%q is not a full method name; write /package.Service/Method", full)
	}
	return service, method, nil
}

// String describes the fault, e.g. "grpc /shop.Payments/Pay 50% → abort Unavailable".
func (f GRPCFault) String() string {
	var acts []string
	if f.Delay > 0 {
		d := "delay " + f.Delay.String()
		if f.Jitter > 0 {
			d += " ± " + f.Jitter.String()
		}
		acts = append(acts, d)
	}
	if f.Abort != nil {
		acts = append(acts, "abort "+f.Abort.Code.String())
	}
	if f.Reset {
		acts = append(acts, "reset stream")
	}
	methods := "*"
	if len(f.Methods) > 0 {
		methods = strings.Join(f.Methods, ",")
	}
	if len(f.ExcludeMethods) > 0 {
		methods += " except " + strings.Join(f.ExcludeMethods, ",")
	}
	share := ""
	if f.Percent > 0 && f.Percent < 100 {
		share = fmt.Sprintf(" %v%%", f.Percent)
	}
	return fmt.Sprintf("grpc %s%s → %s", methods, share, strings.Join(acts, ", "))
}

// ActiveCall is a gRPC fault that is set.
type ActiveCall struct {
	Name  string
	Fault GRPCFault
	// Added is when the fault was set.
	Added time.Time
	// Expires is when its lease runs out; zero when it has none.
	Expires time.Time
}

// grpcRule is a gRPC fault as the streams read it.
type grpcRule struct {
	ActiveCall
	include, except []*regexp.Regexp
	share           *share
}

func newCallRules() *ruleSet[GRPCFault, *grpcRule] {
	return newRuleSet("grpc fault", func(l injectors.Lease[GRPCFault]) *grpcRule {
		r := &grpcRule{ActiveCall: ActiveCall{Name: l.Name, Fault: l.Fault, Added: l.Added, Expires: l.Expires},
			share: newShare(l.Fault.Percent)}
		for _, m := range l.Fault.Methods {
			re, _ := compileGlob(m) // validated before
			r.include = append(r.include, re)
		}
		for _, m := range l.Fault.ExcludeMethods {
			re, _ := compileGlob(m)
			r.except = append(r.except, re)
		}
		return r
	})
}

// selects tells whether the rule acts on a call of method: the method is
// selected, and the call falls in the share.
func (r *grpcRule) selects(method string) bool {
	in := len(r.include) == 0
	for _, re := range r.include {
		in = in || re.MatchString(method)
	}
	for _, re := range r.except {
		in = in && !re.MatchString(method)
	}
	if !in {
		return false
	}
	p := r.Fault.Percent
	if p == 0 || p >= 100 {
		return true
	}
	return r.share.next()
}

// share picks exactly k of every block of selected calls, at positions
// shuffled anew for each block: exact over every whole block (a block is
// 100 calls for a whole percent), and out of step with any periodic
// pattern of calls (every other call of a service that makes two upstream
// calls per request is of the same method: a fixed stride would act on one
// of them only).
type share struct {
	k, block uint64
	mu       sync.Mutex
	n        uint64 // calls selected so far
	a, c     uint64 // in this block, position i acts when (a·i + c) mod block < k
}

func newShare(percent float64) *share {
	s := &share{block: 100}
	for s.block < 100000 && math.Abs(percent*float64(s.block)/100-math.Round(percent*float64(s.block)/100)) > 1e-9 {
		s.block *= 10
	}
	s.k = uint64(math.Round(percent * float64(s.block) / 100))
	return s
}

// next tells whether the next selected call is acted on.
func (s *share) next() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.n % s.block
	s.n++
	if i == 0 {
		// A new block, a new random affine permutation of its positions:
		// a is coprime with the block (a power of ten), so i → a·i + c
		// is one.
		s.c = rand.Uint64N(s.block)
		for s.a = rand.Uint64N(s.block) | 1; s.a%5 == 0; s.a = rand.Uint64N(s.block) | 1 {
		}
	}
	return (s.a*i+s.c)%s.block < s.k
}

// delay is the rule's delay for one call.
func (r *grpcRule) delay() time.Duration {
	d := r.Fault.Delay
	if j := r.Fault.Jitter; j > 0 {
		d += time.Duration(rand.Int64N(int64(2*j)+1)) - j
	}
	return d
}

// CallFaults are the gRPC faults of a proxy, by name (see Proxy.Calls).
type CallFaults struct{ p *Proxy }

// Calls is the registry of the proxy's gRPC faults; they act only on a
// proxy of NewH2.
func (p *Proxy) Calls() *CallFaults { return &CallFaults{p} }

// Add sets gRPC fault f under name, acting on every call from then on,
// on open connections too; a positive lease removes it when it runs out.
func (c *CallFaults) Add(name string, f GRPCFault, lease time.Duration) error {
	if c.p.h2 == nil {
		return fmt.Errorf("add grpc fault %q: the proxy on %s speaks HTTP/1.1; gRPC faults need an HTTP/2 proxy (NewH2)", name, c.p.Addr())
	}
	return c.p.calls.Add(name, f, lease)
}

// Remove clears the gRPC fault name.
func (c *CallFaults) Remove(name string) error { return c.p.calls.Remove(name) }

// Faults lists the gRPC faults that are set, oldest first.
func (c *CallFaults) Faults() []ActiveCall {
	rs := c.p.calls.load()
	out := make([]ActiveCall, len(rs))
	for i, r := range rs {
		out[i] = r.ActiveCall
	}
	return out
}

// GRPCInjector adapts one gRPC fault of p to the injectors.Injector
// contract.
func (p *Proxy) GRPCInjector(name string, f GRPCFault) injectors.Injector {
	return injectors.Named[GRPCFault](p.Calls(), name, f, proxy.ErrNotFound,
		fmt.Sprintf("%s (%s on %s)", name, f, p.Addr()))
}

// writeStatus answers a call with a trailers-only response: the status in
// the response's headers, and the stream ended with them.
func writeStatus(w http.ResponseWriter, s *Status) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", fmt.Sprint(int(s.Code)))
	if s.Message != "" {
		h.Set("Grpc-Message", encodeGRPCMessage(s.Message))
	}
	w.WriteHeader(http.StatusOK)
}

// encodeGRPCMessage percent-encodes a status message as the gRPC protocol
// wants it: every byte outside printable ASCII, and '%'.
func encodeGRPCMessage(m string) string {
	var b strings.Builder
	for i := 0; i < len(m); i++ {
		c := m[i]
		if c >= 0x20 && c <= 0x7e && c != '%' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
