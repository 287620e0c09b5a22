package httpfault_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aftershock/aftershock/injectors/httpfault"
	"github.com/aftershock/aftershock/injectors/proxy"
)

// echo is what the upstream saw of a request.
type echo struct {
	Method, Path, Query, Body string
	Header                    http.Header
}

// setup starts an upstream that echoes requests as JSON (and a few special
// paths), an HTTP fault proxy in front of it and a keep-alive client.
func setup(t *testing.T) (*httpfault.Proxy, *http.Client, string, *atomic.Int64) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last
	var hits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", "yes")
		json.NewEncoder(w).Encode(echo{r.Method, r.URL.Path, r.URL.RawQuery, string(b), r.Header})
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p, err := httpfault.New("127.0.0.1:0", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return p, &http.Client{Transport: tr, Timeout: 5 * time.Second}, "http://" + p.Addr().String(), &hits
}

// get does one request and reports whether it reused a connection.
func do(t *testing.T, c *http.Client, method, url, body string) (*http.Response, string, bool, error) {
	t.Helper()
	var reused bool
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	})
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, url, rd)
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", reused, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), reused, err
}

func mustDo(t *testing.T, c *http.Client, method, url, body string) (*http.Response, string, bool) {
	t.Helper()
	resp, b, reused, err := do(t, c, method, url, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp, b, reused
}

func decode(t *testing.T, s string) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		t.Fatalf("upstream echo %q: %v", s, err)
	}
	return e
}

func add(t *testing.T, p *httpfault.Proxy, name string, f httpfault.Fault) {
	t.Helper()
	if err := p.Add(name, f, time.Minute); err != nil {
		t.Fatal(err)
	}
}

func TestPassThroughKeepAlive(t *testing.T) {
	p, c, url, _ := setup(t)
	_ = p
	for i := range 3 {
		resp, b, reused := mustDo(t, c, "POST", fmt.Sprintf("%s/items/%d?x=1", url, i), "payload")
		e := decode(t, b)
		if resp.StatusCode != 200 || e.Path != fmt.Sprintf("/items/%d", i) || e.Body != "payload" || e.Query != "x=1" {
			t.Errorf("request %d: %d %+v", i, resp.StatusCode, e)
		}
		if i > 0 && !reused {
			t.Errorf("request %d did not reuse the keep-alive connection", i)
		}
		if ua := e.Header.Get("User-Agent"); ua != "Go-http-client/1.1" {
			t.Errorf("User-Agent %q, want the client's", ua)
		}
	}
	resp, b, _ := mustDo(t, c, "HEAD", url+"/h", "")
	if resp.StatusCode != 200 || b != "" {
		t.Errorf("HEAD: %d %q", resp.StatusCode, b)
	}
	if _, b, _ := mustDo(t, c, "GET", url+"/after-head", ""); decode(t, b).Path != "/after-head" {
		t.Errorf("request after HEAD: %s", b)
	}
}

func TestResponseReplaceOnOpenKeepAliveConnection(t *testing.T) {
	p, c, url, _ := setup(t)
	mustDo(t, c, "GET", url+"/api/warm", "") // the connection exists before the fault
	add(t, p, "503", httpfault.Fault{
		Target:   httpfault.Response,
		Selector: httpfault.Selector{Path: "/api/*", Method: "GET"},
		Replace:  &httpfault.Replace{Code: 503, Body: []byte("down"), Headers: map[string]string{"Retry-After": "1"}},
	})
	resp, b, reused := mustDo(t, c, "GET", url+"/api/v1/users", "")
	if !reused {
		t.Error("the request did not go over the connection opened before the fault")
	}
	if resp.StatusCode != 503 || b != "down" || resp.Header.Get("Retry-After") != "1" || resp.Header.Get("X-Upstream") != "yes" {
		t.Errorf("got %d %q %v, want 503 down with Retry-After and the upstream's headers", resp.StatusCode, b, resp.Header)
	}
	if resp, _, _ := mustDo(t, c, "POST", url+"/api/v1/users", "x"); resp.StatusCode != 200 {
		t.Errorf("POST is not selected, got %d", resp.StatusCode)
	}
	if resp, _, _ := mustDo(t, c, "GET", url+"/other", ""); resp.StatusCode != 200 {
		t.Errorf("/other is not selected, got %d", resp.StatusCode)
	}
	if err := p.Remove("503"); err != nil {
		t.Fatal(err)
	}
	if resp, _, _ := mustDo(t, c, "GET", url+"/api/v1/users", ""); resp.StatusCode != 200 {
		t.Errorf("after Remove: %d", resp.StatusCode)
	}
}

func TestRequestAbortClosesWithoutResponse(t *testing.T) {
	p, c, url, hits := setup(t)
	mustDo(t, c, "GET", url+"/warm", "")
	add(t, p, "abort", httpfault.Fault{Target: httpfault.Request, Abort: true,
		Selector: httpfault.Selector{RequestHeaders: map[string]string{"X-Chaos": "on"}}})
	before := hits.Load()
	req, _ := http.NewRequest("GET", url+"/x", nil)
	req.Header.Set("X-Chaos", "on")
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("aborted request got a response: %d", resp.StatusCode)
	}
	if hits.Load() != before {
		t.Error("the aborted request reached the upstream")
	}
	if resp, _, _ := mustDo(t, c, "GET", url+"/x", ""); resp.StatusCode != 200 {
		t.Errorf("request without the header: %d", resp.StatusCode)
	}
}

func TestResponseAbortAndCodeSelector(t *testing.T) {
	p, c, url, _ := setup(t)
	add(t, p, "kill404", httpfault.Fault{Target: httpfault.Response, Abort: true, Selector: httpfault.Selector{Code: 404}})
	if _, _, _, err := do(t, c, "GET", url+"/missing", ""); err == nil {
		t.Error("a 404 response was passed on, want the connection closed")
	}
	if resp, _, _ := mustDo(t, c, "GET", url+"/found", ""); resp.StatusCode != 200 {
		t.Errorf("a 200 response: %d", resp.StatusCode)
	}
}

func TestDelayRequestAndResponse(t *testing.T) {
	p, c, url, _ := setup(t)
	mustDo(t, c, "GET", url+"/warm", "")
	// Long enough that a request on a loaded machine (the race detector,
	// the rest of the tree's tests beside it) is told from the delay.
	const d = 400 * time.Millisecond
	for _, target := range []httpfault.Target{httpfault.Request, httpfault.Response} {
		add(t, p, "slow", httpfault.Fault{Target: target, Delay: d, Selector: httpfault.Selector{Path: "/slow"}})
		start := time.Now()
		mustDo(t, c, "GET", url+"/slow", "")
		if took := time.Since(start); took < d || took > 2*d {
			t.Errorf("%s delay: took %v, want %v", target, took, d)
		}
		start = time.Now()
		mustDo(t, c, "GET", url+"/fast", "")
		if took := time.Since(start); took > d/2 {
			t.Errorf("%s delay hit an unselected path: %v", target, took)
		}
		p.Remove("slow")
	}
}

func TestRequestReplaceAndPatch(t *testing.T) {
	p, c, url, _ := setup(t)
	add(t, p, "rewrite", httpfault.Fault{Target: httpfault.Request,
		Selector: httpfault.Selector{Path: "/old"},
		Replace: &httpfault.Replace{Path: "/new", Method: "PUT", Queries: map[string]string{"a": "2"},
			Headers: map[string]string{"X-Replaced": "1"}},
	})
	add(t, p, "patch", httpfault.Fault{Target: httpfault.Request,
		Selector: httpfault.Selector{Path: "/new"}, // sees the replaced path
		Patch: &httpfault.Patch{Queries: [][]string{{"b", "3"}}, Headers: [][]string{{"X-Added", "y"}},
			Body: &httpfault.PatchBody{Type: "JSON", Value: `{"role":"admin","drop":null}`}},
	})
	_, b, _ := mustDo(t, c, "POST", url+"/old?a=1", `{"name":"n","drop":1}`)
	e := decode(t, b)
	if e.Method != "PUT" || e.Path != "/new" || e.Query != "a=2&b=3" ||
		e.Header.Get("X-Replaced") != "1" || e.Header.Get("X-Added") != "y" {
		t.Errorf("upstream saw %+v", e)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(e.Body), &body); err != nil || body["role"] != "admin" || body["name"] != "n" || body["drop"] != nil {
		t.Errorf("patched body %q (%v)", e.Body, err)
	}
}

func TestResponsePatchBodyAndHeaders(t *testing.T) {
	p, c, url, _ := setup(t)
	add(t, p, "patch", httpfault.Fault{Target: httpfault.Response,
		Selector: httpfault.Selector{ResponseHeaders: map[string]string{"X-Upstream": "yes"}},
		Patch: &httpfault.Patch{Headers: [][]string{{"X-Chaos", "1"}},
			Body: &httpfault.PatchBody{Type: "JSON", Value: `{"Method":"PATCHED"}`}},
	})
	resp, b, _ := mustDo(t, c, "GET", url+"/p", "")
	if e := decode(t, b); e.Method != "PATCHED" || e.Path != "/p" || resp.Header.Get("X-Chaos") != "1" {
		t.Errorf("got %v %+v", resp.Header, e)
	}
}

func TestStreamsChunkedResponses(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "second\n")
	}))
	t.Cleanup(srv.Close)
	p, err := httpfault.New("127.0.0.1:0", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	add(t, p, "hdr", httpfault.Fault{Target: httpfault.Response, Replace: &httpfault.Replace{Headers: map[string]string{"X-Seen": "1"}}})
	conn, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "first\n" || resp.Header.Get("X-Seen") != "1" {
		t.Fatalf("first chunk before the end: %q %v %v", line, err, resp.Header)
	}
	close(release)
}

func TestNetworkFaultsStillApply(t *testing.T) {
	p, c, url, _ := setup(t)
	mustDo(t, c, "GET", url+"/warm", "")
	if err := p.Network().Add("lat", proxy.Delay{Direction: proxy.To, Latency: 80 * time.Millisecond}, time.Minute); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	mustDo(t, c, "GET", url+"/x", "")
	if took := time.Since(start); took < 80*time.Millisecond {
		t.Errorf("request took %v under an 80ms network delay", took)
	}
}

func TestH2CPassesThroughUntouched(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	p, err := httpfault.New("127.0.0.1:0", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	add(t, p, "503", httpfault.Fault{Target: httpfault.Response, Replace: &httpfault.Replace{Code: 503}})
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, b, _ := mustDo(t, c, "GET", "http://"+p.Addr().String()+"/", "")
	if resp.StatusCode != 200 || b != "HTTP/2.0" {
		t.Errorf("h2c through the proxy: %d %q, want 200 HTTP/2.0 untouched", resp.StatusCode, b)
	}
}

func TestLeaseAndInjector(t *testing.T) {
	p, c, url, _ := setup(t)
	if err := p.Add("brief", httpfault.Fault{Target: httpfault.Response, Replace: &httpfault.Replace{Code: 500}}, 150*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if resp, _, _ := mustDo(t, c, "GET", url+"/", ""); resp.StatusCode != 500 {
		t.Errorf("under the fault: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(p.Faults()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if resp, _, _ := mustDo(t, c, "GET", url+"/", ""); resp.StatusCode != 200 {
		t.Errorf("after the lease: %d", resp.StatusCode)
	}
	inj := p.Injector("i", httpfault.Fault{Target: httpfault.Request, Abort: true})
	ctx := t.Context()
	if err := inj.Clear(ctx); err != nil {
		t.Error(err)
	}
	if err := inj.Inject(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := do(t, c, "GET", url+"/", ""); err == nil {
		t.Error("injected abort did not abort")
	}
	for range 2 {
		if err := inj.Clear(ctx); err != nil {
			t.Error(err)
		}
	}
	if err := p.Add("i", httpfault.Fault{Target: httpfault.Request, Abort: true}, 0); err != nil {
		t.Errorf("name free again after Clear: %v", err)
	}
}

func TestValidate(t *testing.T) {
	bad := map[string]httpfault.Fault{
		"target":        {Target: "Both", Abort: true},
		"no action":     {Target: httpfault.Request},
		"code on req":   {Target: httpfault.Request, Abort: true, Selector: httpfault.Selector{Code: 500}},
		"bad glob":      {Target: httpfault.Request, Abort: true, Selector: httpfault.Selector{Path: "/[a"}},
		"replace path":  {Target: httpfault.Response, Replace: &httpfault.Replace{Path: "/x"}},
		"replace code":  {Target: httpfault.Request, Replace: &httpfault.Replace{Code: 503}},
		"patch type":    {Target: httpfault.Request, Patch: &httpfault.Patch{Body: &httpfault.PatchBody{Type: "XML", Value: "{}"}}},
		"patch json":    {Target: httpfault.Request, Patch: &httpfault.Patch{Body: &httpfault.PatchBody{Type: "JSON", Value: "{"}}},
		"patch queries": {Target: httpfault.Response, Patch: &httpfault.Patch{Queries: [][]string{{"a", "b"}}}},
		"negative":      {Target: httpfault.Request, Delay: -time.Second},
		"method":        {Target: httpfault.Request, Abort: true, Selector: httpfault.Selector{Method: "GE T"}},
	}
	for name, f := range bad {
		if err := f.Validate(); err == nil {
			t.Errorf("%s: %+v validated", name, f)
		}
	}
	if err := (httpfault.Fault{Target: httpfault.Response, Delay: time.Second, Selector: httpfault.Selector{Code: 200, Path: "/a/*"}}).Validate(); err != nil {
		t.Errorf("valid fault: %v", err)
	}
	var dup error
	p, err := httpfault.New("127.0.0.1:0", "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f := httpfault.Fault{Target: httpfault.Request, Abort: true}
	p.Add("x", f, 0)
	if dup = p.Add("x", f, 0); !errors.Is(dup, proxy.ErrDuplicate) {
		t.Errorf("duplicate: %v", dup)
	}
}

// TestShortHTTP10Request: a request shorter than the HTTP/2 preface must
// not wait for more bytes before it is forwarded.
func TestShortHTTP10Request(t *testing.T) {
	p, _, _, _ := setup(t)
	conn, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.0\r\n\r\n") // 18 bytes
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("short HTTP/1.0 request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

// TestExactWhileFaultsChange: faults that select no call are set and
// cleared 50 times a second while 2,000 requests flow, most of them on new
// connections (so that connections open while faults change): no request
// fails, and under -race nothing races. A fault change wakes every pump by
// a read deadline in the past, which once landed on a socket the HTTP
// layer was reading while its connection was being set up.
func TestExactWhileFaultsChange(t *testing.T) {
	p, _, url, hits := setup(t)
	never := httpfault.Fault{Target: httpfault.Response, Selector: httpfault.Selector{Path: "/never"}, Abort: true}
	stop := make(chan struct{})
	toggled := make(chan int)
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
				_ = p.Add("never", never, time.Minute)
				_ = p.Network().Add("wide-open", proxy.Bandwidth{Direction: proxy.Both, Rate: 1 << 30}, time.Minute)
			} else {
				_ = p.Remove("never")
				_ = p.Network().Remove("wide-open")
			}
			n++
		}
	}()
	keep := &http.Transport{MaxIdleConnsPerHost: 8}
	fresh := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(keep.CloseIdleConnections)
	var failed atomic.Int64
	var errs = make(chan error, 1)
	var wg sync.WaitGroup
	const calls, workers = 2000, 16
	for w := range workers {
		tr := fresh // most open a connection per request, while faults change
		if w%4 == 0 {
			tr = keep
		}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		wg.Go(func() {
			for range calls / workers {
				resp, err := c.Get(url + "/x")
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				if err != nil {
					failed.Add(1)
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	n := <-toggled
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d requests failed while faults that select none changed %d times; one: %v", f, calls, n, <-errs)
	}
	if hits.Load() != calls || n < 10 {
		t.Fatalf("upstream hits %d of %d, %d fault changes", hits.Load(), calls, n)
	}
	t.Logf("%d requests, %d fault changes, none failed", calls, n)
}
