package proxyapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments/proxyapi"
	"github.com/aftershock/aftershock/injectors/httpfault"
)

const delay50 = `{"name":"lat","networkChaos":{"action":"delay","delay":{"latency":"50ms"}},"duration":"30s"}`

// within50 checks a round trip under a 50 ms delay: never faster, and not
// much slower (the fastest of a few trips, so that a busy machine does not
// fail the test).
func within50(t *testing.T, what string, rt time.Duration) {
	t.Helper()
	if rt < 50*time.Millisecond || rt > 70*time.Millisecond {
		t.Errorf("%s: round trip %v under a 50ms delay, want 50ms..70ms", what, rt)
	}
}

func TestNetworkDelayActsAndClears(t *testing.T) {
	noLeaks(t)
	api, addr := tcpAPI(t)
	old := dial(t, addr) // opened before the fault: it must feel it too
	if rt := minRoundTrip(t, old, 5); rt > 20*time.Millisecond {
		t.Fatalf("round trip without a fault takes %v", rt)
	}

	f := api.post(delay50)
	if f.Name != "lat" || f.Kind != "network" || !strings.Contains(f.Description, "50ms") {
		t.Errorf("POST answered %+v", f)
	}
	if compact(t, f.Block) != delay50 {
		t.Errorf("block %s, want it as submitted: %s", f.Block, delay50)
	}
	if lease := f.Expires.Sub(f.Added); lease != 30*time.Second {
		t.Errorf("lease %v, want the duration 30s", lease)
	}
	within50(t, "connection opened before the fault", minRoundTrip(t, old, 3))
	within50(t, "new connection", minRoundTrip(t, dial(t, addr), 3))

	if fs := api.faults(); len(fs) != 1 || fs[0].Name != "lat" || compact(t, fs[0].Block) != delay50 {
		t.Errorf("GET /faults = %+v, want lat as submitted", fs)
	}
	if code, b := api.do("GET", "/faults/lat", ""); code != http.StatusOK {
		t.Errorf("GET /faults/lat: %d %s", code, b)
	}
	if code, b := api.do("DELETE", "/faults/lat", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE /faults/lat: %d %s", code, b)
	}
	if fs := api.faults(); len(fs) != 0 {
		t.Errorf("GET /faults after DELETE = %+v", fs)
	}
	if rt := minRoundTrip(t, old, 3); rt > 20*time.Millisecond {
		t.Errorf("round trip after DELETE takes %v", rt)
	}
	code, b := api.do("DELETE", "/faults/lat", "")
	var e proxyapi.Error
	if code != http.StatusNotFound || json.Unmarshal(b, &e) != nil || !strings.Contains(e.Error, `"lat"`) {
		t.Errorf("second DELETE /faults/lat: %d %s, want 404 naming lat", code, b)
	}
	if code, _ := api.do("GET", "/faults/lat", ""); code != http.StatusNotFound {
		t.Errorf("GET /faults/lat after DELETE: %d, want 404", code)
	}
}

func TestDeleteAllClearsEveryFault(t *testing.T) {
	noLeaks(t)
	api, addr := tcpAPI(t)
	c := dial(t, addr)
	api.post(delay50)
	api.post(`{"name":"narrow","networkChaos":{"action":"bandwidth","direction":"from","bandwidth":{"rate":"1mbps","limit":1000000,"buffer":10000}},"duration":"1m"}`)
	if fs := api.faults(); len(fs) != 2 || fs[0].Name != "lat" || fs[1].Name != "narrow" {
		t.Fatalf("GET /faults = %+v, want lat then narrow", fs)
	}
	if code, b := api.do("DELETE", "/faults", ""); code != http.StatusNoContent {
		t.Fatalf("DELETE /faults: %d %s", code, b)
	}
	if fs := api.faults(); len(fs) != 0 {
		t.Errorf("GET /faults after DELETE /faults = %+v", fs)
	}
	if rt := minRoundTrip(t, c, 3); rt > 20*time.Millisecond {
		t.Errorf("round trip after DELETE /faults takes %v", rt)
	}
}

func TestLeaseClearsTheFault(t *testing.T) {
	noLeaks(t)
	api, addr := tcpAPI(t)
	c := dial(t, addr)
	f := api.post(`{"name":"blip","networkChaos":{"action":"delay","delay":{"latency":"50ms"}},"duration":"400ms"}`)
	if lease := f.Expires.Sub(f.Added); lease != 400*time.Millisecond {
		t.Errorf("lease %v, want 400ms", lease)
	}
	within50(t, "during the lease", minRoundTrip(t, c, 1))
	deadline := time.Now().Add(5 * time.Second)
	for len(api.faults()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("fault still listed 5s after its 400ms lease: %+v", api.faults())
		}
		time.Sleep(20 * time.Millisecond) // polling the API under test
	}
	if since := time.Since(f.Expires); since < 0 {
		t.Errorf("fault gone %v before its lease ran out", -since)
	}
	if rt := minRoundTrip(t, c, 3); rt > 20*time.Millisecond {
		t.Errorf("round trip after the lease takes %v", rt)
	}
	api.post(`{"name":"blip","networkChaos":{"action":"partition"},"duration":"1s"}`) // the name is free again
}

func TestHTTPFaults(t *testing.T) {
	noLeaks(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	p, err := httpfault.New("127.0.0.1:0", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	api := serve(t, proxyapi.NewHTTP(p))

	// One keep-alive connection through the proxy, opened before the
	// faults, carries every request.
	var dials atomic.Int32
	tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	get := func() (int, time.Duration) {
		t.Helper()
		start := time.Now()
		resp, err := hc.Get("http://" + p.Addr().String() + "/")
		if err != nil {
			t.Fatalf("GET through the proxy: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	if code, _ := get(); code != http.StatusOK {
		t.Fatalf("GET without a fault: %d", code)
	}

	f := api.post(`{"name":"unavailable","httpChaos":{"target":"Response","replace":{"code":503}},"duration":"30s"}`)
	if f.Kind != "http" || !strings.Contains(f.Description, "503") {
		t.Errorf("POST answered %+v", f)
	}
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Errorf("GET under a replace-503 fault: %d", code)
	}
	// Network faults act on an HTTP proxy too. The delay is long enough
	// that a GET on a loaded machine is not mistaken for it once it is
	// gone (below).
	api.post(`{"name":"lat","networkChaos":{"action":"delay","delay":{"latency":"500ms"}},"duration":"30s"}`)
	code, took := get()
	if code != http.StatusServiceUnavailable || took < 500*time.Millisecond {
		t.Errorf("GET under replace-503 and a 500ms delay: %d in %v", code, took)
	}
	if fs := api.faults(); len(fs) != 2 || fs[0].Kind != "http" || fs[1].Kind != "network" {
		t.Errorf("GET /faults = %+v, want the http fault, then the network one", fs)
	}
	// A name is unique across HTTP and network faults.
	if code, b := api.do("POST", "/faults", `{"name":"unavailable","networkChaos":{"action":"partition"},"duration":"30s"}`); code != http.StatusBadRequest {
		t.Errorf("POST of a network fault named like an HTTP one: %d %s", code, b)
	}
	if code, b := api.do("DELETE", "/faults/unavailable", ""); code != http.StatusNoContent {
		t.Errorf("DELETE /faults/unavailable: %d %s", code, b)
	}
	if code, _ := get(); code != http.StatusOK {
		t.Errorf("GET after DELETE of the HTTP fault: %d", code)
	}
	if code, b := api.do("DELETE", "/faults", ""); code != http.StatusNoContent {
		t.Errorf("DELETE /faults: %d %s", code, b)
	}
	if code, took := get(); code != http.StatusOK || took > 250*time.Millisecond {
		t.Errorf("GET after DELETE /faults: %d in %v, as if the 500ms delay held", code, took)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d connections dialed, want the one keep-alive connection", n)
	}

	var info proxyapi.Info
	code, b := api.do("GET", "/", "")
	if code != http.StatusOK || json.Unmarshal(b, &info) != nil || info.Protocol != "http" || info.Listen != p.Addr().String() {
		t.Errorf("GET /: %d %s", code, b)
	}
}

func TestConcurrentPostsOfOneName(t *testing.T) {
	noLeaks(t)
	api, _ := tcpAPI(t)
	var created, refused atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			switch code, _ := api.do("POST", "/faults", delay50); code {
			case http.StatusCreated:
				created.Add(1)
			case http.StatusBadRequest:
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if created.Load() != 1 || refused.Load() != 7 {
		t.Errorf("8 POSTs of one name: %d created, %d refused; want 1 and 7", created.Load(), refused.Load())
	}
}

func TestUnknownEndpoint(t *testing.T) {
	noLeaks(t)
	api, _ := tcpAPI(t)
	code, b := api.do("GET", "/nothing/here", "")
	var e proxyapi.Error
	if code != http.StatusNotFound || json.Unmarshal(b, &e) != nil || e.Error == "" {
		t.Errorf("GET /nothing/here: %d %s, want 404 with a JSON error", code, b)
	}
}
