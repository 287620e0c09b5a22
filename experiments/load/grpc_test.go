package load_test

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/aftershock/aftershock/experiments/load"
)

// failingService answers UnaryCall, failing every third call with
// Unavailable, streams StreamingOutputCall, and counts what it saw.
type failingService struct {
	testpb.UnimplementedTestServiceServer
	calls   atomic.Int64
	size    atomic.Int32
	streams atomic.Int64
}

// StreamingOutputCall sends one message per response parameter, each
// after its interval.
func (s *failingService) StreamingOutputCall(in *testpb.StreamingOutputCallRequest, stream testpb.TestService_StreamingOutputCallServer) error {
	s.streams.Add(1)
	for _, p := range in.GetResponseParameters() {
		time.Sleep(time.Duration(p.GetIntervalUs()) * time.Microsecond)
		if err := stream.Send(&testpb.StreamingOutputCallResponse{}); err != nil {
			return err
		}
	}
	return nil
}

func (s *failingService) UnaryCall(_ context.Context, in *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	n := s.calls.Add(1)
	s.size.Store(in.GetResponseSize())
	if n%3 == 0 {
		return nil, status.Error(codes.Unavailable, "every third")
	}
	return &testpb.SimpleResponse{}, nil
}

// TestGRPCLoad: a gRPC load resolves its method by the server's
// reflection, sends the JSON message at the rate, and records status codes
// in the same timeline and phases as an HTTP load.
func TestGRPCLoad(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := &failingService{}
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, svc)
	reflection.Register(srv)
	go srv.Serve(ln)
	defer srv.Stop()

	g, err := load.New(load.Config{Target: "grpc://" + ln.Addr().String(), Rate: 50,
		GRPC: []load.GRPCCall{{Method: "/grpc.testing.TestService/UnaryCall", Message: `{"responseSize": 7}`}}})
	if err != nil {
		t.Fatal(err)
	}
	g.Start("run")
	time.Sleep(time.Second)
	g.Pause()
	rep := g.Report()
	st, ok := rep.Phase("run")
	if !ok || st.Requests < 30 || st.Requests > 60 {
		t.Fatalf("phase run: %+v; want about 50 calls", st)
	}
	if st.Codes[uint16(codes.Unavailable)] == 0 || st.Codes[0] == 0 || st.Errors != st.Codes[uint16(codes.Unavailable)] {
		t.Errorf("codes %v, errors %d: want OK and Unavailable, the failures counted as errors", st.Codes, st.Errors)
	}
	if svc.size.Load() != 7 || int(svc.calls.Load()) != st.Requests {
		t.Errorf("the server saw %d calls of size %d; the load recorded %d", svc.calls.Load(), svc.size.Load(), st.Requests)
	}
	if len(rep.Timeline) < 3 {
		t.Errorf("timeline of %d buckets", len(rep.Timeline))
	}

	// A method the server does not have, a client stream, or a bad
	// message, is refused before any call.
	for _, c := range []load.GRPCCall{
		{Method: "/grpc.testing.TestService/NoSuch"},
		{Method: "/grpc.testing.TestService/UnaryCall", Message: `{"noSuchField": 1}`},
		{Method: "/grpc.testing.TestService/FullDuplexCall"},
		{Method: "UnaryCall"},
	} {
		if _, err := load.New(load.Config{Target: "grpc://" + ln.Addr().String(), Rate: 1, GRPC: []load.GRPCCall{c}}); err == nil || !strings.Contains(err.Error(), "load:") {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// TestGRPCLoadMix: a load of a unary and a server-streaming method calls
// them in turn, and a streamed call lasts until its stream ends.
func TestGRPCLoadMix(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := &failingService{}
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, svc)
	reflection.Register(srv)
	go srv.Serve(ln)
	defer srv.Stop()

	g, err := load.New(load.Config{Target: "grpc://" + ln.Addr().String(), Rate: 40, GRPC: []load.GRPCCall{
		{Method: "/grpc.testing.TestService/UnaryCall"},
		{Method: "/grpc.testing.TestService/StreamingOutputCall", Message: `{"responseParameters": [{"intervalUs": 20000}, {"intervalUs": 20000}, {"intervalUs": 20000}]}`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	g.Start("run")
	time.Sleep(time.Second)
	g.Pause()
	st, _ := g.Report().Phase("run")
	unary, streams := svc.calls.Load(), svc.streams.Load()
	if unary < 10 || streams < 10 || unary-streams > 1 || streams-unary > 1 {
		t.Fatalf("%d unary calls and %d streams; want them in turn", unary, streams)
	}
	if int64(st.Requests) != unary+streams {
		t.Errorf("the load recorded %d calls; the server saw %d", st.Requests, unary+streams)
	}
	// Three messages 20 ms apart: a streamed call takes 60 ms or more, so
	// the slowest of the calls take at least that.
	if st.P99 < 60*time.Millisecond {
		t.Errorf("p99 %v: a streamed call was timed before its stream ended", st.P99)
	}
}
