package proxyapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aftershock/aftershock/experiments/proxyapi"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// noLeaks registers, first, a cleanup that runs last: after every other
// cleanup of the test the goroutines must be back to the baseline.
func noLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// echoServer is a TCP upstream that echoes every byte back.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// tcpAPI starts a TCP fault proxy in front of an echo server and its API.
func tcpAPI(t *testing.T) (api *client, proxyAddr string) {
	t.Helper()
	p, err := proxy.New("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return serve(t, proxyapi.New(p)), p.Addr().String()
}

// client drives the API of a test.
type client struct {
	t   *testing.T
	url string
	hc  *http.Client
}

func serve(t *testing.T, h http.Handler) *client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, url: srv.URL, hc: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

// do sends a request and returns the status and body.
func (c *client) do(method, path, body string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusNoContent && resp.Header.Get("Content-Type") != "application/json" {
		c.t.Errorf("%s %s: Content-Type %q, want application/json", method, path, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, b
}

// faults returns GET /faults.
func (c *client) faults() []proxyapi.Fault {
	c.t.Helper()
	code, b := c.do("GET", "/faults", "")
	if code != http.StatusOK {
		c.t.Fatalf("GET /faults: %d %s", code, b)
	}
	var fs []proxyapi.Fault
	if err := json.Unmarshal(b, &fs); err != nil {
		c.t.Fatalf("GET /faults: %v in %s", err, b)
	}
	return fs
}

// post sets a fault and expects 201.
func (c *client) post(block string) proxyapi.Fault {
	c.t.Helper()
	code, b := c.do("POST", "/faults", block)
	if code != http.StatusCreated {
		c.t.Fatalf("POST /faults %s: %d %s", block, code, b)
	}
	var f proxyapi.Fault
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("POST /faults: %v in %s", err, b)
	}
	return f
}

// roundTrip sends 64 bytes through an open connection to the echo server
// and times their return; it fails the test if they do not come back
// within 2 s.
func roundTrip(t *testing.T, c net.Conn) time.Duration {
	t.Helper()
	msg := bytes.Repeat([]byte("x"), 64)
	start := time.Now()
	c.SetDeadline(start.Add(2 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("round trip: write: %v", err)
	}
	if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
		t.Fatalf("round trip: read: %v", err)
	}
	return time.Since(start)
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// minRoundTrip is the fastest of n round trips: a delay fault sets a floor
// that scheduling noise on a shared machine can only raise.
func minRoundTrip(t *testing.T, c net.Conn, n int) time.Duration {
	t.Helper()
	best := time.Hour
	for range n {
		best = min(best, roundTrip(t, c))
	}
	return best
}

// compact returns JSON without the API's indentation.
func compact(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return out.String()
}

// info returns GET /.
func (c *client) info() proxyapi.Info {
	c.t.Helper()
	var i proxyapi.Info
	if code, b := c.do("GET", "/", ""); code != http.StatusOK || json.Unmarshal(b, &i) != nil {
		c.t.Fatalf("GET /: %d %s", code, b)
	}
	return i
}
