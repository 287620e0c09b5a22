package chaosmesh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The bound of every API call. A context alone does not bound a call of
// controller-runtime's client: its RESTMapper discovers what the server
// serves on the first use of each API group (the first Create of a
// SelfSubjectAccessReview, of a NetworkChaos, the first list of pods),
// and client-go's discovery sends those requests without the caller's
// context, while holding the mapper's lock. A server that stops answering
// there held a call for as long as the TCP connection lived. So each call
// runs on a goroutine of its own, and the caller stops waiting at the
// bound whatever the client does; the requests that carry no context are
// bounded by the transport (boundTransport), so that a goroutine given up
// on ends soon after.

// TimeoutError is an API call that got no answer within the engine's call
// timeout: which call, to which server, and the bound that ran out. It is
// a context.DeadlineExceeded.
type TimeoutError struct {
	// Call is what was asked: "create NetworkChaos shop/cut",
	// "discover NetworkChaos (chaos-mesh.org/v1alpha1)".
	Call string
	// Server is the API server asked (its URL, or the kube context and
	// its URL).
	Server string
	// Bound is the call timeout that ran out.
	Bound time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s: no answer from %s within the call timeout (%s)", e.Call, e.Server, e.Bound)
}

// Unwrap makes a TimeoutError a context.DeadlineExceeded.
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// errBound is the cause of a call's context when its bound runs out.
var errBound = errors.New("call timeout")

// call runs f, one API call named by what ("get NetworkChaos shop/cut"),
// and returns within k's call timeout: its result, or a *TimeoutError when
// the bound ran out first (also when f noticed it first), or, when ctx
// ended, an error naming the call, the server and ctx's cause. f may still
// be running when call returns: it must write nothing the caller reads
// but its result (a fresh object of its own, never the caller's).
func call[T any](ctx context.Context, k *Cluster, what string, f func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeoutCause(ctx, k.callTimeout, errBound)
	// Ends the request of a call given up on, where it carries cctx.
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f(cctx)
		done <- result{v, err}
	}()
	var r result
	select {
	case r = <-done:
		if r.err == nil || cctx.Err() == nil {
			return r.v, r.err
		}
	case <-cctx.Done():
		// An answer that came with the bound is still an answer.
		select {
		case r = <-done:
			if r.err == nil {
				return r.v, nil
			}
		default:
		}
	}
	var zero T
	if ctx.Err() != nil {
		return zero, fmt.Errorf("%s on %s: %w", what, k.name(), context.Cause(ctx))
	}
	return zero, &TimeoutError{Call: what, Server: k.name(), Bound: k.callTimeout}
}

// do is call for a call whose only result is its error.
func (k *Cluster) do(ctx context.Context, what string, f func(context.Context) error) error {
	_, err := call(ctx, k, what, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

// boundTransport bounds each request that carries no deadline of its own
// (client-go's discovery) by d, from its start until its body is read or
// closed, as http.Client.Timeout would; a request with a deadline (every
// call's own, see call) keeps it, whatever the call timeout is.
type boundTransport struct {
	rt http.RoundTripper
	d  time.Duration
}

func (b boundTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, ok := req.Context().Deadline(); ok {
		return b.rt.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), b.d)
	resp, err := b.rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelBody releases a bounded request's context when its body is
// closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
