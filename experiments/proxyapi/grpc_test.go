package proxyapi_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/proxyapi"
	"github.com/aftershock/aftershock/injectors/httpfault"
)

type testService struct {
	testpb.UnimplementedTestServiceServer
}

func (testService) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	return &testpb.Empty{}, nil
}

func (testService) UnaryCall(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{}, nil
}

// TestGRPCFaults: a grpcChaos block set through the API of a grpc proxy
// fails the calls of its method with its status, the other method's calls
// on the same connection go on, and the fault lists and clears like any
// other; an h2c proxy refuses it.
func TestGRPCFaults(t *testing.T) {
	noLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, testService{})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	p, err := httpfault.NewH2("127.0.0.1:0", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	a := proxyapi.NewH2(p, experiments.ProtocolGRPC)
	if a.Info().Listen != p.Addr().String() || a.Info().Forward != ln.Addr().String() {
		t.Errorf("info %+v: want listen %s, forward %s", a.Info(), p.Addr(), ln.Addr())
	}
	api := serve(t, a)
	cc, err := grpc.NewClient(p.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	c := testpb.NewTestServiceClient(cc)
	ctx := context.Background()

	const block = `{"name":"down","grpcChaos":{"methods":["/grpc.testing.TestService/UnaryCall"],"abort":{"code":"Unavailable","message":"drill"}},"duration":"30s"}`
	f := api.post(block)
	if f.Kind != experiments.KindGRPC || !strings.Contains(f.Description, "Unavailable") {
		t.Errorf("POST answered %+v", f)
	}
	_, err = c.UnaryCall(ctx, &testpb.SimpleRequest{})
	if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != "drill" {
		t.Errorf("UnaryCall under the fault: %v, want Unavailable: drill", err)
	}
	if _, err := c.EmptyCall(ctx, &testpb.Empty{}); err != nil {
		t.Errorf("EmptyCall, not selected, failed: %v", err)
	}
	if fs := api.faults(); len(fs) != 1 || fs[0].Name != "down" || fs[0].Kind != experiments.KindGRPC {
		t.Errorf("GET /faults = %+v", fs)
	}
	if code, b := api.do("POST", "/faults", block); code != http.StatusBadRequest || !strings.Contains(string(b), "already in use") {
		t.Errorf("a second fault of the name: %d %s", code, b)
	}
	if code, b := api.do("DELETE", "/faults/down", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE /faults/down: %d %s", code, b)
	}
	if _, err := c.UnaryCall(ctx, &testpb.SimpleRequest{}); err != nil {
		t.Errorf("UnaryCall after DELETE: %v", err)
	}

	h2c := serve(t, proxyapi.NewH2(p, experiments.ProtocolH2C))
	if code, b := h2c.do("POST", "/faults", block); code != http.StatusBadRequest || !strings.Contains(string(b), "needs a grpc upstream") {
		t.Errorf("grpcChaos on an h2c proxy: %d %s", code, b)
	}
}
