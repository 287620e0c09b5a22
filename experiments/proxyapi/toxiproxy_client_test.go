package proxyapi_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/aftershock/aftershock/experiments/proxyapi"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// toxiproxyUnderTest is a TCP proxy in front of an echo server, with the
// control API that aftershock proxy serves, driven by Toxiproxy's own
// client as a Toxiproxy user's suite drives Toxiproxy.
func toxiproxyUnderTest(t *testing.T) (c *toxiproxy.Client, listen, upstream string) {
	t.Helper()
	upstream = echoServer(t)
	p, err := proxy.New("127.0.0.1:0", upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	srv := httptest.NewServer(proxyapi.New(p))
	t.Cleanup(srv.Close)
	t.Cleanup(srv.CloseClientConnections) // the client's keep-alive connections
	return toxiproxy.NewClient(srv.URL), p.Addr().String(), upstream
}

// apiStatus is the status of a Toxiproxy client error, or 0 when err does
// not carry one.
func apiStatus(err error) int {
	var ae *toxiproxy.ApiError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

func TestToxiproxyClient(t *testing.T) {
	noLeaks(t)
	c, listen, upstream := toxiproxyUnderTest(t)

	if v, err := c.Version(); err != nil || !bytes.Contains(v, []byte("version")) {
		t.Fatalf("Version: %s, %v", v, err)
	}
	// Most suites start with Populate.
	ps, err := c.Populate([]toxiproxy.Proxy{{Name: "echo", Listen: listen, Upstream: upstream, Enabled: true}})
	if err != nil || len(ps) != 1 || ps[0].Name != "echo" || !ps[0].Enabled || ps[0].Listen != listen {
		t.Fatalf("Populate: %+v, %v", ps, err)
	}
	all, err := c.Proxies()
	if err != nil || len(all) != 1 || all["echo"] == nil || all["echo"].Upstream != upstream {
		t.Fatalf("Proxies: %+v, %v", all, err)
	}
	px, err := c.Proxy("echo")
	if err != nil {
		t.Fatalf("Proxy: %v", err)
	}

	t.Run("latency set, updated and removed", func(t *testing.T) {
		conn := dial(t, listen)
		if rt := minRoundTrip(t, conn, 3); rt >= 40*time.Millisecond {
			t.Fatalf("round trip before any toxic: %v", rt)
		}
		if _, err := px.AddToxic("lat", "latency", "downstream", 1, toxiproxy.Attributes{"latency": 60}); err != nil {
			t.Fatalf("AddToxic: %v", err)
		}
		if rt := minRoundTrip(t, conn, 3); rt < 60*time.Millisecond {
			t.Errorf("round trip under latency 60: %v", rt)
		}
		// The client's UpdateToxic: toxicity -1 keeps it, attributes merge.
		tx, err := c.UpdateToxic(&toxiproxy.ToxicOptions{ProxyName: "echo", ToxicName: "lat", Toxicity: -1, Attributes: toxiproxy.Attributes{"latency": 150}})
		if err != nil || tx.Attributes["latency"] != float64(150) || tx.Toxicity != 1 {
			t.Fatalf("UpdateToxic: %+v, %v", tx, err)
		}
		if rt := minRoundTrip(t, conn, 3); rt < 150*time.Millisecond {
			t.Errorf("round trip under latency updated to 150: %v", rt)
		}
		toxics, err := px.Toxics()
		if err != nil || len(toxics) != 1 || toxics[0].Name != "lat" || toxics[0].Attributes["latency"] != float64(150) || toxics[0].Stream != "downstream" {
			t.Errorf("Toxics: %+v, %v", toxics, err)
		}
		if err := px.RemoveToxic("lat"); err != nil {
			t.Fatalf("RemoveToxic: %v", err)
		}
		if rt := minRoundTrip(t, conn, 5); rt >= 60*time.Millisecond {
			t.Errorf("round trip after RemoveToxic: %v", rt)
		}

		// Jitter: latency 50 ± 40 ms, uniform; ten round trips spread.
		if _, err := px.AddToxic("jit", "latency", "upstream", 1, toxiproxy.Attributes{"latency": 50, "jitter": 40}); err != nil {
			t.Fatalf("AddToxic jitter: %v", err)
		}
		lo, hi := time.Hour, time.Duration(0)
		for range 10 {
			rt := roundTrip(t, conn)
			lo, hi = min(lo, rt), max(hi, rt)
		}
		// Ten draws of U(10, 90) ms span less than 20 ms with
		// probability 10·(1/4)^9·(3/4) + (1/4)^10 ≈ 3e-5.
		if lo < 10*time.Millisecond || hi-lo < 20*time.Millisecond {
			t.Errorf("latency 50 jitter 40: round trips from %v to %v", lo, hi)
		}
		if err := c.RemoveToxic(&toxiproxy.ToxicOptions{ProxyName: "echo", ToxicName: "jit"}); err != nil {
			t.Fatalf("RemoveToxic: %v", err)
		}
	})

	t.Run("toxicity 0.5 slows about half the connections", func(t *testing.T) {
		if _, err := px.AddToxic("half", "latency", "downstream", 0.5, toxiproxy.Attributes{"latency": 100}); err != nil {
			t.Fatalf("AddToxic: %v", err)
		}
		// Each connection draws once: Binomial(40, 1/2) falls outside
		// [8, 32] with probability 4e-5, while a toxic on every connection
		// (40), on none (0) or on another share (0.1: 4, 0.9: 36) does not.
		n := slowConns(t, listen, 40, 100*time.Millisecond)
		t.Logf("toxicity 0.5: %d of 40 connections slowed", n)
		if n < 8 || n > 32 {
			t.Errorf("toxicity 0.5: %d of 40 connections slowed", n)
		}
		// Updating the toxicity draws again.
		if _, err := px.UpdateToxic("half", 0, nil); err != nil {
			t.Fatalf("UpdateToxic toxicity 0: %v", err)
		}
		if n := slowConns(t, listen, 10, 100*time.Millisecond); n != 0 {
			t.Errorf("toxicity 0: %d of 10 connections slowed", n)
		}
		if _, err := px.UpdateToxic("half", 1, nil); err != nil {
			t.Fatalf("UpdateToxic toxicity 1: %v", err)
		}
		if n := slowConns(t, listen, 10, 100*time.Millisecond); n != 10 {
			t.Errorf("toxicity 1: %d of 10 connections slowed", n)
		}
		if err := px.RemoveToxic("half"); err != nil {
			t.Fatalf("RemoveToxic: %v", err)
		}
	})

	t.Run("disabled refuses, enabled accepts", func(t *testing.T) {
		open := dial(t, listen)
		roundTrip(t, open)
		if err := px.Disable(); err != nil {
			t.Fatalf("Disable: %v", err)
		}
		if got, err := c.Proxy("echo"); err != nil || got.Enabled {
			t.Errorf("Proxy after Disable: %+v, %v", got, err)
		}
		if conn, err := net.DialTimeout("tcp", listen, 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
			if conn != nil {
				conn.Close()
			}
			t.Errorf("dial a disabled proxy: %v, want connection refused", err)
		}
		open.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := open.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("an open connection after Disable: read %v, want it closed", err)
		}
		if err := px.Enable(); err != nil {
			t.Fatalf("Enable: %v", err)
		}
		roundTrip(t, dial(t, listen))
		// ResetState enables it too.
		if err := px.Disable(); err != nil {
			t.Fatalf("Disable: %v", err)
		}
		if err := c.ResetState(); err != nil {
			t.Fatalf("ResetState: %v", err)
		}
		roundTrip(t, dial(t, listen))
	})

	for _, stream := range []string{"downstream", "upstream"} {
		for _, tc := range toxicChecks {
			t.Run(tc.typ+" "+stream, func(t *testing.T) {
				if _, err := px.AddToxic("", tc.typ, stream, 1, tc.attrs); err != nil {
					t.Fatalf("AddToxic: %v", err)
				}
				defer func() {
					if err := px.RemoveToxic(tc.typ + "_" + stream); err != nil {
						t.Errorf("RemoveToxic: %v", err)
					}
				}()
				tc.check(t, dial(t, listen), stream)
			})
		}
	}

	t.Run("errors in Toxiproxy's shape", func(t *testing.T) {
		if _, err := px.AddToxic("dup", "latency", "", 1, toxiproxy.Attributes{"latency": 10}); err != nil {
			t.Fatalf("AddToxic: %v", err)
		}
		for _, e := range []struct {
			what   string
			err    error
			status int
			says   string
		}{
			{"Proxy of another name", func() error { _, err := c.Proxy("nope"); return err }(), http.StatusNotFound, "proxy not found"},
			{"RemoveToxic unknown", px.RemoveToxic("nope"), http.StatusNotFound, "toxic not found"},
			{"UpdateToxic unknown", func() error { _, err := px.UpdateToxic("nope", 1, nil); return err }(), http.StatusNotFound, "toxic not found"},
			{"AddToxic of a name in use", func() error { _, err := px.AddToxic("dup", "latency", "", 1, nil); return err }(), http.StatusConflict, "toxic already exists"},
			{"CreateProxy of this proxy again", func() error { _, err := c.CreateProxy("echo", listen, upstream); return err }(), http.StatusConflict, "proxy already exists"},
			{"CreateProxy of another listener", func() error { _, err := c.CreateProxy("other", "127.0.0.1:1", upstream); return err }(), http.StatusConflict, "one listener"},
			{"Populate of two proxies", func() error {
				_, err := c.Populate([]toxiproxy.Proxy{{Name: "echo", Listen: listen, Upstream: upstream, Enabled: true}, {Name: "db", Listen: "127.0.0.1:1", Upstream: upstream}})
				return err
			}(), http.StatusConflict, "one listener"},
			{"AddToxic of an unknown type", func() error { _, err := px.AddToxic("", "noop", "", 1, nil); return err }(), http.StatusBadRequest, "invalid toxic type"},
			{"AddToxic of an unknown stream", func() error { _, err := px.AddToxic("", "latency", "sideways", 1, nil); return err }(), http.StatusBadRequest, "stream was invalid"},
			{"AddToxic of a bad attribute", func() error {
				_, err := px.AddToxic("", "latency", "", 1, toxiproxy.Attributes{"latency": -5})
				return err
			}(), http.StatusBadRequest, "attributes.latency"},
			{"UpdateToxic to a toxicity above 1", func() error { _, err := px.UpdateToxic("dup", 2, nil); return err }(), http.StatusBadRequest, "toxicity"},
		} {
			if apiStatus(e.err) != e.status || !strings.Contains(e.err.Error(), e.says) {
				t.Errorf("%s: %v (status %d), want HTTP %d saying %q", e.what, e.err, apiStatus(e.err), e.status, e.says)
			}
		}
		// The bad calls changed nothing.
		if toxics, err := px.Toxics(); err != nil || len(toxics) != 1 || toxics[0].Name != "dup" {
			t.Errorf("Toxics after the bad calls: %+v, %v", toxics, err)
		}
		if err := c.ResetState(); err != nil {
			t.Fatalf("ResetState: %v", err)
		}
		if toxics, err := px.Toxics(); err != nil || len(toxics) != 0 {
			t.Errorf("Toxics after ResetState: %+v, %v", toxics, err)
		}
	})

	if err := px.Delete(); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := c.Proxy("echo"); apiStatus(err) != http.StatusNotFound {
		t.Errorf("Proxy after Delete: %v, want 404", err)
	}
	// Created again, as the next test of a suite would.
	if _, err := c.CreateProxy("echo", listen, upstream); err != nil {
		t.Errorf("CreateProxy after Delete: %v", err)
	}
}

// slowConns opens n connections at once, each making two round trips, and
// counts those whose faster round trip took at least slow.
func slowConns(t *testing.T, addr string, n int, slow time.Duration) int {
	t.Helper()
	var mu sync.Mutex
	count := 0
	var wg sync.WaitGroup
	for range n {
		conn := dial(t, addr)
		wg.Go(func() {
			rt := min(roundTripErr(conn), roundTripErr(conn))
			if rt >= slow {
				mu.Lock()
				count++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return count
}

// roundTripErr is roundTrip for a goroutine: a failed round trip counts as
// an hour.
func roundTripErr(c net.Conn) time.Duration {
	msg := bytes.Repeat([]byte("x"), 64)
	start := time.Now()
	c.SetDeadline(start.Add(5 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return time.Hour
	}
	if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
		return time.Hour
	}
	return time.Since(start)
}

// toxicChecks show each toxic in effect on a new connection through the
// proxy to the echo server; every check holds for either stream, since
// the echo server sends back what it gets.
var toxicChecks = []struct {
	typ   string
	attrs toxiproxy.Attributes
	check func(t *testing.T, conn net.Conn, stream string)
}{
	{"latency", toxiproxy.Attributes{"latency": 80}, func(t *testing.T, conn net.Conn, _ string) {
		if rt := minRoundTrip(t, conn, 2); rt < 80*time.Millisecond {
			t.Errorf("round trip %v under latency 80 ms", rt)
		}
	}},
	{"bandwidth", toxiproxy.Attributes{"rate": 200}, func(t *testing.T, conn net.Conn, _ string) {
		// 100 KB at 200 KB/s: half a second, less what the pace lets
		// through at once (a 50th of a second, and up to 100 ms made up).
		elapsed := echoBytes(t, conn, 100_000)
		if elapsed < 350*time.Millisecond || elapsed > 5*time.Second {
			t.Errorf("100 KB at 200 KB/s took %v", elapsed)
		}
	}},
	{"slow_close", toxiproxy.Attributes{"delay": 200}, func(t *testing.T, conn net.Conn, _ string) {
		roundTrip(t, conn)
		start := time.Now()
		conn.(*net.TCPConn).CloseWrite() // the echo server closes in turn
		conn.SetReadDeadline(start.Add(5 * time.Second))
		if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("read after close: %v, want EOF", err)
		}
		if waited := time.Since(start); waited < 200*time.Millisecond {
			t.Errorf("the close arrived after %v, want at least slow_close's 200 ms", waited)
		}
	}},
	{"timeout", toxiproxy.Attributes{"timeout": 150}, func(t *testing.T, conn net.Conn, _ string) {
		start := time.Now()
		conn.Write([]byte("hello"))
		conn.SetReadDeadline(start.Add(5 * time.Second))
		n, err := conn.Read(make([]byte, 16))
		if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read under timeout: %d bytes, %v; want nothing, then the connection closed", n, err)
		}
		if waited := time.Since(start); waited < 150*time.Millisecond {
			t.Errorf("closed after %v, want at least timeout's 150 ms", waited)
		}
	}},
	{"reset_peer", toxiproxy.Attributes{"timeout": 100}, func(t *testing.T, conn net.Conn, _ string) {
		start := time.Now()
		conn.Write([]byte("hello"))
		conn.SetReadDeadline(start.Add(5 * time.Second))
		n, err := conn.Read(make([]byte, 16))
		if n != 0 || !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read under reset_peer: %d bytes, %v; want nothing, then a reset", n, err)
		}
		if waited := time.Since(start); waited < 100*time.Millisecond {
			t.Errorf("reset after %v, want at least reset_peer's 100 ms", waited)
		}
	}},
	{"limit_data", toxiproxy.Attributes{"bytes": 100}, func(t *testing.T, conn net.Conn, stream string) {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		conn.Write(bytes.Repeat([]byte("x"), 300))
		got, err := io.ReadAll(conn)
		if stream == "downstream" && (len(got) != 100 || err != nil) {
			t.Errorf("limit_data 100 downstream: read %d bytes, %v; want 100, then EOF", len(got), err)
		}
		// Upstream, the proxy closes both sides once the 100 bytes are
		// sent, so the echo of some of them may be cut off (as with
		// Toxiproxy), and the 200 bytes it did not read make the close a
		// reset.
		if stream == "upstream" && (len(got) > 100 || errors.Is(err, os.ErrDeadlineExceeded)) {
			t.Errorf("limit_data 100 upstream: read %d bytes, %v; want at most 100, then the connection closed", len(got), err)
		}
	}},
	{"slicer", toxiproxy.Attributes{"average_size": 20, "size_variation": 5, "delay": 5000}, func(t *testing.T, conn net.Conn, _ string) {
		// 200 bytes in slices of 15 to 25 bytes: at least 8 slices, 7
		// pauses of 5 ms between them.
		start := time.Now()
		conn.SetDeadline(start.Add(5 * time.Second))
		conn.Write(bytes.Repeat([]byte("x"), 200))
		reads, got := 0, 0
		buf := make([]byte, 1024)
		for got < 200 {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("read under slicer after %d bytes: %v", got, err)
			}
			reads, got = reads+1, got+n
		}
		if elapsed := time.Since(start); reads < 3 || elapsed < 35*time.Millisecond {
			t.Errorf("200 bytes under slicer came in %d reads over %v, want slices 5 ms apart", reads, elapsed)
		}
	}},
}

// echoBytes sends n bytes through conn and reads them back, and returns how
// long that took.
func echoBytes(t *testing.T, conn net.Conn, n int) time.Duration {
	t.Helper()
	start := time.Now()
	conn.SetDeadline(start.Add(10 * time.Second))
	go conn.Write(bytes.Repeat([]byte("x"), n))
	if _, err := io.ReadFull(conn, make([]byte, n)); err != nil {
		t.Fatalf("echo %d bytes: %v", n, err)
	}
	return time.Since(start)
}
