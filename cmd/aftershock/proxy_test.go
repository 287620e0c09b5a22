package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

// TestProxyCommand runs the aftershock binary's proxy command end to end:
// built once, started as a process, driven over its control API, stopped
// with SIGTERM.
func TestProxyCommand(t *testing.T) {
	bin, err := gexec.Build("github.com/aftershock/aftershock/cmd/aftershock")
	if err != nil {
		t.Fatalf("building aftershock: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(bin)) })

	t.Run("serves faults and clears them on SIGTERM", func(t *testing.T) {
		g := NewWithT(t)
		s, ready := startProxy(t, bin, "--listen", "127.0.0.1:0", "--forward", echoUpstream(t), "--api", "127.0.0.1:0")
		api := &http.Client{Timeout: 5 * time.Second}

		conn, err := net.Dial("tcp", ready.Listen)
		g.Expect(err).NotTo(HaveOccurred())
		defer conn.Close()
		g.Expect(echoTrip(conn)).To(BeNumerically("<", 20*time.Millisecond))

		resp, err := api.Post(ready.API+"/faults", "application/json",
			strings.NewReader(`{"name":"lat","networkChaos":{"action":"delay","delay":{"latency":"50ms"}},"duration":"30s"}`))
		g.Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusCreated))
		g.Expect(echoTrip(conn)).To(BeNumerically(">=", 50*time.Millisecond))

		resp, err = api.Post(ready.API+"/faults", "application/json", strings.NewReader(`{"name":"cut","networkChaos":{"action":"partition"},"duration":"30s","bogus":1}`))
		g.Expect(err).NotTo(HaveOccurred())
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
		g.Expect(string(body)).To(ContainSubstring(`"path": "bogus"`))

		resp, err = api.Get(ready.API + "/faults")
		g.Expect(err).NotTo(HaveOccurred())
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		var faults []struct{ Name string }
		g.Expect(json.Unmarshal(body, &faults)).To(Succeed())
		g.Expect(faults).To(HaveLen(1))
		g.Expect(faults[0].Name).To(Equal("lat"))
		api.CloseIdleConnections()

		s.Terminate()
		g.Eventually(s).WithTimeout(10 * time.Second).Should(gexec.Exit(0))
		g.Expect(s.Err).To(gbytes.Say(`stopped; 1 fault\(s\) cleared`))
		for _, addr := range []string{ready.Listen, strings.TrimPrefix(ready.API, "http://")} {
			_, err := net.DialTimeout("tcp", addr, time.Second)
			g.Expect(err).To(HaveOccurred(), "port %s still open after exit", addr)
		}
		// The connection through the proxy was closed with it.
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		g.Expect(err).To(MatchError(io.EOF))
	})

	t.Run("http protocol takes httpChaos faults", func(t *testing.T) {
		g := NewWithT(t)
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
		defer up.Close()
		s, ready := startProxy(t, bin, "--listen", "127.0.0.1:0", "--forward", up.Listener.Addr().String(), "--protocol", "http")
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
		defer hc.CloseIdleConnections()
		status := func() int {
			resp, err := hc.Get("http://" + ready.Listen + "/")
			g.Expect(err).NotTo(HaveOccurred())
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		g.Expect(status()).To(Equal(http.StatusOK))
		resp, err := hc.Post(ready.API+"/faults", "application/json",
			strings.NewReader(`{"name":"unavailable","httpChaos":{"target":"Response","replace":{"code":503}},"duration":"30s"}`))
		g.Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusCreated))
		g.Expect(status()).To(Equal(http.StatusServiceUnavailable))
		hc.CloseIdleConnections()
		s.Interrupt()
		g.Eventually(s).WithTimeout(10 * time.Second).Should(gexec.Exit(0))
	})

	t.Run("grpc protocol takes grpcChaos faults per call", func(t *testing.T) {
		g := NewWithT(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		g.Expect(err).NotTo(HaveOccurred())
		srv := grpc.NewServer()
		testpb.RegisterTestServiceServer(srv, emptyService{})
		go srv.Serve(ln)
		defer srv.Stop()
		s, ready := startProxy(t, bin, "--listen", "127.0.0.1:0", "--forward", ln.Addr().String(), "--protocol", "grpc")
		g.Expect(ready.Protocol).To(Equal("grpc"))
		cc, err := grpc.NewClient(ready.Listen, grpc.WithTransportCredentials(insecure.NewCredentials()))
		g.Expect(err).NotTo(HaveOccurred())
		defer cc.Close()
		call := func() codes.Code {
			_, err := testpb.NewTestServiceClient(cc).EmptyCall(context.Background(), &testpb.Empty{})
			return status.Code(err)
		}
		g.Expect(call()).To(Equal(codes.OK))
		api := &http.Client{Timeout: 5 * time.Second}
		resp, err := api.Post(ready.API+"/faults", "application/json",
			strings.NewReader(`{"name":"down","grpcChaos":{"abort":{"code":"ResourceExhausted"}},"duration":"30s"}`))
		g.Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusCreated))
		g.Expect(call()).To(Equal(codes.ResourceExhausted))
		s.Interrupt()
		g.Eventually(s).WithTimeout(10 * time.Second).Should(gexec.Exit(0))
	})

	t.Run("Toxiproxy's own client drives it", func(t *testing.T) {
		g := NewWithT(t)
		upstream := echoUpstream(t)
		s, ready := startProxy(t, bin, "--listen", "127.0.0.1:0", "--forward", upstream)
		tc := toxiproxy.NewClient(ready.API)
		ps, err := tc.Populate([]toxiproxy.Proxy{{Name: "echo", Listen: ready.Listen, Upstream: upstream, Enabled: true}})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ps).To(HaveLen(1))
		// As with Toxiproxy, a proxy Populate returns cannot Save (it
		// would POST it anew); a suite gets it by name.
		px, err := tc.Proxy("echo")
		g.Expect(err).NotTo(HaveOccurred())

		_, err = px.AddToxic("lat", "latency", "downstream", 1, toxiproxy.Attributes{"latency": 60})
		g.Expect(err).NotTo(HaveOccurred())
		conn, err := net.Dial("tcp", ready.Listen)
		g.Expect(err).NotTo(HaveOccurred())
		defer conn.Close()
		g.Expect(echoTrip(conn)).To(BeNumerically(">=", 60*time.Millisecond))

		g.Expect(px.Disable()).To(Succeed())
		_, err = net.DialTimeout("tcp", ready.Listen, 2*time.Second)
		g.Expect(err).To(MatchError(syscall.ECONNREFUSED))
		g.Expect(px.Enable()).To(Succeed())
		g.Expect(tc.ResetState()).To(Succeed())
		again, err := net.Dial("tcp", ready.Listen)
		g.Expect(err).NotTo(HaveOccurred())
		defer again.Close()
		g.Expect(echoTrip(again)).To(BeNumerically("<", 60*time.Millisecond))

		_, err = tc.CreateProxy("db", "127.0.0.1:1", upstream)
		var apiErr *toxiproxy.ApiError
		g.Expect(errors.As(err, &apiErr)).To(BeTrue(), "CreateProxy of another listener: %v", err)
		g.Expect(apiErr.Status).To(Equal(http.StatusConflict))

		s.Terminate()
		g.Eventually(s).WithTimeout(10 * time.Second).Should(gexec.Exit(0))
	})

	t.Run("bad flags exit 2", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			says string
		}{
			{[]string{"--listen", "10.1.2.3:0", "--forward", "127.0.0.1:1"}, `--listen 10.1.2.3:0: refusing host "10.1.2.3".*--allow-host 10.1.2.3`},
			{[]string{"--listen", "127.0.0.1:0", "--forward", "db.example:5432"}, `--forward db.example:5432: refusing host`},
			{[]string{"--listen", "127.0.0.1:0", "--forward", "127.0.0.1:1", "--api", ":0"}, `--api :0: an empty host means every interface`},
			{[]string{"--listen", "127.0.0.1:0", "--forward", "127.0.0.1:1", "--protocol", "udp"}, `--protocol must be tcp, http, h2c or grpc`},
			{[]string{"--listen", "127.0.0.1", "--forward", "127.0.0.1:1"}, `--listen "127.0.0.1": want host:port`},
			{[]string{"--listen", "127.0.0.1:0"}, `required flag\(s\) "forward" not set`},
		} {
			s := runProxyCommand(t, bin, c.args...)
			NewWithT(t).Eventually(s).WithTimeout(10*time.Second).Should(gexec.Exit(2), "%v", c.args)
			NewWithT(t).Expect(s.Err).To(gbytes.Say(c.says), "%v", c.args)
		}
	})

	t.Run("a busy port exits 3", func(t *testing.T) {
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		addr := busy.Addr().String()
		for _, args := range [][]string{
			{"--listen", addr, "--forward", "127.0.0.1:1"},
			{"--listen", "127.0.0.1:0", "--forward", "127.0.0.1:1", "--api", addr},
		} {
			s := runProxyCommand(t, bin, args...)
			NewWithT(t).Eventually(s).WithTimeout(10*time.Second).Should(gexec.Exit(3), "%v", args)
			NewWithT(t).Expect(s.Err).To(gbytes.Say(regexp.QuoteMeta(addr)+`: port is busy`), "%v", args)
		}
	})
}

// runProxyCommand starts `aftershock proxy ARGS...`; the process is
// killed when the test ends, if it is still running.
func runProxyCommand(t *testing.T, bin string, args ...string) *gexec.Session {
	t.Helper()
	s, err := gexec.Start(exec.Command(bin, append([]string{"proxy"}, args...)...), gexec.NewPrefixedWriter("[proxy] ", io.Discard), gexec.NewPrefixedWriter("[proxy] ", os.Stderr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Kill()
		NewWithT(t).Eventually(s).WithTimeout(5 * time.Second).Should(gexec.Exit())
	})
	return s
}

// startProxy starts the proxy and waits for its ready line.
func startProxy(t *testing.T, bin string, args ...string) (*gexec.Session, proxyReady) {
	t.Helper()
	s := runProxyCommand(t, bin, args...)
	line := regexp.MustCompile(`aftershock proxy ready (\{.*\})\n`)
	NewWithT(t).Eventually(s.Out).WithTimeout(10 * time.Second).Should(gbytes.Say(line.String()))
	var ready proxyReady
	m := line.FindSubmatch(s.Out.Contents())
	if err := json.Unmarshal(m[1], &ready); err != nil {
		t.Fatalf("ready line %s: %v", m[0], err)
	}
	return s, ready
}

// echoUpstream is a TCP server that echoes every byte back.
func echoUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				io.Copy(c, c)
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// echoTrip times 64 bytes to the echo upstream and back.
func echoTrip(c net.Conn) (time.Duration, error) {
	msg := make([]byte, 64)
	start := time.Now()
	c.SetDeadline(start.Add(5 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return 0, err
	}
	_, err := io.ReadFull(c, msg)
	return time.Since(start), err
}

// emptyService answers EmptyCall.
type emptyService struct {
	testpb.UnimplementedTestServiceServer
}

func (emptyService) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	return &testpb.Empty{}, nil
}
