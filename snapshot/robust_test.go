package snapshot_test

import (
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aftershock/aftershock/snapshot"
)

// badEndpoint serves handler as a pprof base URL and captures from it with a
// short timeout and a small cap; the capture must fail with want in its error,
// well within the timeout.
func badEndpoint(t *testing.T, handler http.HandlerFunc, want string) {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	expectCaptureError(t, srv.URL+"/debug/pprof", want)
}

func expectCaptureError(t *testing.T, url, want string) {
	t.Helper()
	const timeout = 500 * time.Millisecond
	c := newClient(t, url, snapshot.WithTimeout(timeout), snapshot.WithMaxBytes(1<<20))
	start := time.Now()
	_, err := c.Capture(context.Background())
	took := time.Since(start)
	if err == nil {
		t.Fatalf("capture from %s succeeded", url)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if took > timeout+time.Second {
		t.Errorf("capture took %s, timeout is %s", took, timeout)
	}
	t.Logf("error: %v", err)
}

func TestCaptureUnreachable(t *testing.T) {
	t.Parallel()
	// A port bound and not listening refuses connections, and no test
	// running beside this one can take it meanwhile (a closed listener's
	// port could be taken, and answer).
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	expectCaptureError(t, "http://"+addr+"/debug/pprof", "connection refused")
}

func TestCaptureNotFound(t *testing.T) {
	t.Parallel()
	badEndpoint(t, http.NotFound, "status 404 Not Found")
}

func TestCaptureHTMLPage(t *testing.T) {
	t.Parallel()
	badEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!DOCTYPE html><html><body>login</body></html>"))
	}, "got an HTML page")
}

func TestCaptureHTMLWithoutContentType(t *testing.T) {
	t.Parallel()
	badEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte("\n<html><body>proxy error</body></html>"))
	}, "got an HTML page")
}

func TestCaptureTruncatedProtobuf(t *testing.T) {
	t.Parallel()
	// A real process's profiles, cut in half on the way.
	real := httptest.NewServer(http.DefaultServeMux)
	t.Cleanup(real.Close)
	badEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("debug") != "" {
			http.Redirect(w, r, real.URL+r.URL.RequestURI(), http.StatusFound)
			return
		}
		resp, err := http.Get(real.URL + r.URL.RequestURI())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var body strings.Builder
		zr, err := gzip.NewReader(resp.Body)
		if err == nil {
			_, _ = io.Copy(&body, zr)
		}
		raw := body.String()
		zw := gzip.NewWriter(w)
		_, _ = zw.Write([]byte(raw[:len(raw)/2]))
		_ = zw.Close()
	}, "truncated or not a profile")
}

func TestCaptureEndlessBody(t *testing.T) {
	t.Parallel()
	badEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("goroutine 1 [running]:\n", 1000))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}, "exceeds the cap of 1048576 bytes")
}

func TestCaptureSlowAnswer(t *testing.T) {
	t.Parallel()
	badEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}, "within the 500ms timeout")
}

func TestCaptureSlowBody(t *testing.T) {
	t.Parallel()
	badEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("goroutine 1 [running]:\n"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}, "within the 500ms timeout")
}

func TestNewClientRejectsBadURL(t *testing.T) {
	for _, url := range []string{"", "127.0.0.1:6060", "ftp://h/debug/pprof", "http:///debug/pprof"} {
		if _, err := snapshot.NewClient(url); err == nil {
			t.Errorf("NewClient(%q) accepted it", url)
		}
	}
}
