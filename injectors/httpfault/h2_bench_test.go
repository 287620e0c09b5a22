package httpfault_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/aftershock/aftershock/injectors/httpfault"
)

// plainH2Proxy is the reference: a bare httputil.ReverseProxy serving h2c
// and forwarding over h2c, as the standard library makes it, with no
// fault layer and no TCP hop.
func plainH2Proxy(b *testing.B, forward string) string {
	b.Helper()
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &h2c}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", forward
			pr.Out.Host = pr.In.Host
		},
		Transport:     tr,
		FlushInterval: -1,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: rp, Protocols: &h2c}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close(); tr.CloseIdleConnections() })
	return ln.Addr().String()
}

func grpcClient(b *testing.B, addr string) testpb.TestServiceClient {
	b.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	return testpb.NewTestServiceClient(cc)
}

// BenchmarkH2UnaryVsReverseProxy times a gRPC unary call (an h2c stream
// each way) through the HTTP/2 fault proxy with no fault set, and through
// a plain httputil.ReverseProxy, alternately, call by call, so that both
// see the same machine. It reports each path's p50 and p99 and the ratio
// of the p50s (target ≤ 1.3):
//
//	go test -run '^$' -bench H2UnaryVsReverseProxy -benchtime 20000x ./injectors/httpfault
func BenchmarkH2UnaryVsReverseProxy(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, &grpcUpstream{})
	go srv.Serve(ln)
	b.Cleanup(srv.Stop)
	p, err := httpfault.NewH2("127.0.0.1:0", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })

	paths := []struct {
		name   string
		client testpb.TestServiceClient
		lat    []time.Duration
	}{
		{name: "reverseproxy", client: grpcClient(b, plainH2Proxy(b, ln.Addr().String()))},
		{name: "aftershock", client: grpcClient(b, p.Addr().String())},
	}
	ctx := context.Background()
	req := &testpb.SimpleRequest{Payload: &testpb.Payload{Body: make([]byte, 64)}}
	for i := range paths { // connect and warm up both
		for range 200 {
			if _, err := paths[i].client.UnaryCall(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for i := range b.N {
		path := &paths[i%2]
		start := time.Now()
		if _, err := path.client.UnaryCall(ctx, req); err != nil {
			b.Fatal(err)
		}
		path.lat = append(path.lat, time.Since(start))
	}
	b.StopTimer()
	var p50 [2]time.Duration
	for i := range paths {
		l := paths[i].lat
		if len(l) == 0 {
			return
		}
		slices.Sort(l)
		p50[i] = l[len(l)/2]
		b.ReportMetric(float64(p50[i].Microseconds()), paths[i].name+"-p50-µs")
		b.ReportMetric(float64(l[len(l)*99/100].Microseconds()), paths[i].name+"-p99-µs")
	}
	b.ReportMetric(float64(p50[1])/float64(p50[0]), "p50-ratio")
}
