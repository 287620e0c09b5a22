package httpfault_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/aftershock/aftershock/injectors/httpfault"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// grpcUpstream is a gRPC test service: EmptyCall and UnaryCall answer at
// once and count their calls.
type grpcUpstream struct {
	testpb.UnimplementedTestServiceServer
	empty, unary atomic.Int64
}

func (u *grpcUpstream) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	u.empty.Add(1)
	return &testpb.Empty{}, nil
}

func (u *grpcUpstream) UnaryCall(_ context.Context, in *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	u.unary.Add(1)
	return &testpb.SimpleResponse{Payload: in.GetPayload()}, nil
}

const (
	emptyCall = "/grpc.testing.TestService/EmptyCall"
	unaryCall = "/grpc.testing.TestService/UnaryCall"
)

// grpcSetup starts a gRPC upstream, an HTTP/2 fault proxy in front of it
// and one client connection through it (every call of a test shares it).
func grpcSetup(t *testing.T) (*httpfault.Proxy, testpb.TestServiceClient, *grpcUpstream) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &grpcUpstream{}
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, u)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	p, err := httpfault.NewH2("127.0.0.1:0", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	cc, err := grpc.NewClient(p.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return p, testpb.NewTestServiceClient(cc), u
}

func addGRPC(t *testing.T, p *httpfault.Proxy, name string, f httpfault.GRPCFault) {
	t.Helper()
	if err := p.Calls().Add(name, f, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// TestGRPCAbortExactShareOneMethod: an abort of half the calls of one
// method fails exactly half of them, with the status given, while the
// calls of another method on the same connection all succeed, undelayed.
func TestGRPCAbortExactShareOneMethod(t *testing.T) {
	p, c, u := grpcSetup(t)
	ctx := context.Background()
	if _, err := c.EmptyCall(ctx, &testpb.Empty{}); err != nil { // the connection is open before the fault
		t.Fatal(err)
	}
	addGRPC(t, p, "half", httpfault.GRPCFault{Methods: []string{unaryCall}, Percent: 50,
		Abort: &httpfault.Status{Code: codes.Unavailable, Message: "payments are down ✗ 100%"}})
	const n = 200
	var failed, other atomic.Int64
	var slowest atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range n / 4 {
				_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{})
				if err != nil {
					st := status.Convert(err)
					if st.Code() != codes.Unavailable || st.Message() != "payments are down ✗ 100%" {
						t.Errorf("aborted call: %v; want Unavailable with the fault's message", err)
					}
					failed.Add(1)
				}
				start := time.Now()
				if _, err := c.EmptyCall(ctx, &testpb.Empty{}); err != nil {
					other.Add(1)
				}
				if d := int64(time.Since(start)); d > slowest.Load() {
					slowest.Store(d)
				}
			}
		})
	}
	wg.Wait()
	if got := failed.Load(); got != n/2 {
		t.Errorf("%d of %d UnaryCalls failed, want exactly half", got, n)
	}
	if got := u.unary.Load(); got != n/2 {
		t.Errorf("the upstream saw %d UnaryCalls, want the %d that were not aborted", got, n/2)
	}
	if other.Load() != 0 {
		t.Errorf("%d EmptyCalls failed on the same connection: the fault selected only UnaryCall", other.Load())
	}
	if s := time.Duration(slowest.Load()); s > 500*time.Millisecond {
		t.Errorf("an EmptyCall took %s", s)
	}
}

// TestGRPCDelayOnlySelectedStreams: a delay of one method holds its calls,
// and only them: calls of an excluded method on the same connection go
// through at once meanwhile.
func TestGRPCDelayOnlySelectedStreams(t *testing.T) {
	p, c, _ := grpcSetup(t)
	ctx := context.Background()
	addGRPC(t, p, "slow", httpfault.GRPCFault{Methods: []string{"/grpc.testing.TestService/*"}, ExcludeMethods: []string{emptyCall},
		Delay: 300 * time.Millisecond, Jitter: 20 * time.Millisecond})
	slow := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{})
		if err != nil {
			t.Error(err)
		}
		slow <- time.Since(start)
	}()
	for p.Requests() < 1 { // the slow call is in flight, held
		time.Sleep(time.Millisecond)
	}
	for range 20 {
		start := time.Now()
		if _, err := c.EmptyCall(ctx, &testpb.Empty{}); err != nil {
			t.Fatal(err)
		}
		// Well under the 300 ms delay, with room for a busy machine.
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Fatalf("an excluded call took %s beside a delayed one", d)
		}
	}
	if d := <-slow; d < 280*time.Millisecond || d > 2*time.Second {
		t.Errorf("the delayed call took %s, want about 300ms", d)
	}
}

// TestGRPCResetStream: a reset fails the call as on a broken stream; the
// connection carries the next call.
func TestGRPCResetStream(t *testing.T) {
	p, c, u := grpcSetup(t)
	ctx := context.Background()
	addGRPC(t, p, "rst", httpfault.GRPCFault{Methods: []string{unaryCall}, Reset: true})
	_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{})
	if st := status.Convert(err); st.Code() != codes.Internal || u.unary.Load() != 0 {
		t.Fatalf("reset call: %v (upstream saw %d); want Internal, and the upstream untouched", err, u.unary.Load())
	}
	if _, err := c.EmptyCall(ctx, &testpb.Empty{}); err != nil {
		t.Fatalf("the connection after a reset stream: %v", err)
	}
}

// TestGRPCFaultsRefused: gRPC faults are validated, and refused by an
// HTTP/1.1 proxy.
func TestGRPCFaultsRefused(t *testing.T) {
	p, _, _ := grpcSetup(t)
	for _, f := range []httpfault.GRPCFault{
		{},
		{Abort: &httpfault.Status{Code: codes.OK}},
		{Abort: &httpfault.Status{Code: codes.Unavailable}, Reset: true},
		{Reset: true, Percent: 120},
		{Reset: true, Methods: []string{"UnaryCall"}},
		{Delay: time.Second, Jitter: 2 * time.Second},
	} {
		if err := p.Calls().Add("bad", f, 0); err == nil {
			t.Errorf("%+v was accepted", f)
		}
	}
}

// TestGRPCFaultsNeedHTTP2: an HTTP/1.1 proxy refuses gRPC faults.
func TestGRPCFaultsNeedHTTP2(t *testing.T) {
	h1, _, _, _ := setup(t)
	err := h1.Calls().Add("x", httpfault.GRPCFault{Reset: true}, 0)
	if err == nil || !strings.Contains(err.Error(), "speaks HTTP/1.1") || !strings.Contains(err.Error(), "NewH2") {
		t.Errorf("a gRPC fault on an HTTP/1.1 proxy: %v", err)
	}
}

// h2cSetup starts an h2c upstream that answers every path with its name,
// an HTTP/2 fault proxy in front of it and an h2c client.
func h2cSetup(t *testing.T) (*httpfault.Proxy, *http.Client, string) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Protocols: &h2c, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http.Error(w, "want HTTP/2", http.StatusHTTPVersionNotSupported)
			return
		}
		fmt.Fprint(w, r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p, err := httpfault.NewH2("127.0.0.1:0", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	tr := &http.Transport{Protocols: &h2c}
	t.Cleanup(tr.CloseIdleConnections)
	return p, &http.Client{Transport: tr, Timeout: 5 * time.Second}, "http://" + p.Addr().String()
}

func h2get(t *testing.T, c *http.Client, url string) (int, string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 {
		t.Errorf("%s: %s, want HTTP/2", url, resp.Proto)
	}
	return resp.StatusCode, string(b), err
}

// TestH2CHTTPFaultsPerStream: httpChaos acts on h2 streams as on HTTP/1.1
// requests — on a connection opened before the fault, and only on the
// streams it selects; a network fault acts on the upstream leg.
func TestH2CHTTPFaultsPerStream(t *testing.T) {
	p, c, url := h2cSetup(t)
	if code, body, err := h2get(t, c, url+"/pay"); err != nil || code != 200 || body != "/pay" {
		t.Fatalf("before the fault: %d %q %v", code, body, err)
	}
	if err := p.Add("503", httpfault.Fault{Target: httpfault.Response, Selector: httpfault.Selector{Path: "/pay"},
		Replace: &httpfault.Replace{Code: http.StatusServiceUnavailable, Body: []byte("down")}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := p.Add("abort", httpfault.Fault{Target: httpfault.Request, Selector: httpfault.Selector{Path: "/gone"}, Abort: true}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if code, body, err := h2get(t, c, url+"/pay"); err != nil || code != 503 || body != "down" {
		t.Errorf("selected stream: %d %q %v; want the replaced 503", code, body, err)
	}
	if _, _, err := h2get(t, c, url+"/gone"); err == nil {
		t.Errorf("an aborted stream answered")
	}
	if code, body, err := h2get(t, c, url+"/other"); err != nil || code != 200 || body != "/other" {
		t.Errorf("a stream the faults do not select: %d %q %v", code, body, err)
	}
	if err := p.Network().Add("slow", proxy.Delay{Direction: proxy.To, Latency: 200 * time.Millisecond}, time.Minute); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code, _, err := h2get(t, c, url+"/other"); err != nil || code != 200 {
		t.Fatalf("through a network delay: %d %v", code, err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("a network delay of 200ms on the upstream leg took %s", d)
	}
}

// TestExactWhileFaultsChangeH2: HTTP, gRPC and network faults that select
// no call are set and cleared 50 times a second while 1,000 gRPC calls and
// 1,000 h2c requests flow, on connections kept and on connections opened
// meanwhile: no call fails, and under -race nothing races.
func TestExactWhileFaultsChangeH2(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	testpb.RegisterTestServiceServer(gs, &grpcUpstream{})
	srv := &http.Server{Protocols: &h2c, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			gs.ServeHTTP(w, r)
			return
		}
		fmt.Fprint(w, r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); gs.Stop() })
	p, err := httpfault.NewH2("127.0.0.1:0", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })

	// minToggles is how many fault changes the calls must overlap: the
	// workers go on past their share of calls until there were as many.
	const minToggles = 25
	var toggles atomic.Int64
	stop, toggled := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				toggled <- n
				return
			case <-tick.C:
			}
			if n%2 == 0 {
				_ = p.Calls().Add("never", httpfault.GRPCFault{Methods: []string{"/grpc.testing.TestService/StreamingInputCall"}, Reset: true}, time.Minute)
				_ = p.Add("never", httpfault.Fault{Target: httpfault.Request, Selector: httpfault.Selector{Path: "/never"}, Abort: true}, time.Minute)
				_ = p.Network().Add("wide-open", proxy.Bandwidth{Direction: proxy.Both, Rate: 1 << 30}, time.Minute)
			} else {
				_ = p.Calls().Remove("never")
				_ = p.Remove("never")
				_ = p.Network().Remove("wide-open")
			}
			n++
			toggles.Store(int64(n))
		}
	}()

	var failed atomic.Int64
	errs := make(chan error, 1)
	fail := func(err error) {
		failed.Add(1)
		select {
		case errs <- err:
		default:
		}
	}
	const calls, workers = 1000, 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { // gRPC: a connection per worker, a fresh one every 25 calls
			var cc *grpc.ClientConn
			defer func() {
				if cc != nil {
					cc.Close()
				}
			}()
			for i := 0; i < calls/workers || toggles.Load() < minToggles; i++ {
				if i%25 == 0 {
					if cc != nil {
						cc.Close()
					}
					var err error
					if cc, err = grpc.NewClient(p.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
						fail(err)
						return
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := testpb.NewTestServiceClient(cc).UnaryCall(ctx, &testpb.SimpleRequest{})
				cancel()
				if err != nil {
					fail(fmt.Errorf("grpc worker %d: %w", w, err))
				}
			}
		})
		wg.Go(func() { // h2c: every other worker opens a connection per request
			tr := &http.Transport{Protocols: &h2c, DisableKeepAlives: w%2 == 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for i := 0; i < calls/workers || toggles.Load() < minToggles; i++ {
				resp, err := c.Get("http://" + p.Addr().String() + "/x")
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				if err != nil {
					fail(fmt.Errorf("h2c worker %d: %w", w, err))
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	n := <-toggled
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d calls failed while faults that select none changed %d times; one: %v", f, 2*calls, n, <-errs)
	}
	if n < minToggles {
		t.Fatalf("only %d fault changes", n)
	}
	t.Logf("%d gRPC calls and %d h2c requests, %d fault changes, none failed", calls, calls, n)
}

// TestGRPCShareSurvivesOtherFaults: the exact share of one fault holds
// while other gRPC faults come and go between its calls, and it is out of
// step with a periodic pattern of calls (two methods called in turn, a
// 50 % share over both: each gets its half, not one all of it).
func TestGRPCShareSurvivesOtherFaults(t *testing.T) {
	p, c, _ := grpcSetup(t)
	ctx := context.Background()
	addGRPC(t, p, "half", httpfault.GRPCFault{Percent: 50, Abort: &httpfault.Status{Code: codes.Unavailable}})
	const n = 200 // of each method
	var unaryFailed, emptyFailed int
	for i := range n {
		// A fault of another method, set and cleared between the calls.
		if err := p.Calls().Add(fmt.Sprint("other", i), httpfault.GRPCFault{Methods: []string{"/x.Y/Z"}, Reset: true}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UnaryCall(ctx, &testpb.SimpleRequest{}); err != nil {
			unaryFailed++
		}
		if err := p.Calls().Remove(fmt.Sprint("other", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.EmptyCall(ctx, &testpb.Empty{}); err != nil {
			emptyFailed++
		}
	}
	if unaryFailed+emptyFailed != n {
		t.Errorf("%d + %d of %d calls failed, want exactly half", unaryFailed, emptyFailed, 2*n)
	}
	// Each method's calls are every other selected call: a stride would
	// give one method every abort. Shuffled, each gets about half; 60 of
	// 200 is more than 5 standard deviations below.
	if unaryFailed < 60 || emptyFailed < 60 {
		t.Errorf("UnaryCall failed %d times, EmptyCall %d: the share is in step with the calls", unaryFailed, emptyFailed)
	}
}
