package snapshottest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"sync"
)

// ServeIfTarget turns the process into a target and never returns when the
// test binary was re-executed by Start; otherwise it returns at once.
func ServeIfTarget() {
	if os.Getenv(envTarget) != "1" {
		return
	}
	if err := serve(os.Getenv(envUpstream)); err != nil {
		fmt.Fprintln(os.Stderr, "snapshottest target:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// state is what the target holds on to between control calls.
type state struct {
	mu       sync.Mutex
	release  chan struct{}
	bodies   []io.ReadCloser
	retained [][]byte
	// idleClient and leakClient have pools of their own, so that a leak
	// never reuses a connection that a test wants idle.
	idleClient *http.Client
	leakClient *http.Client
	upstream   string
}

func serve(upstream string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s := &state{
		release:    make(chan struct{}),
		upstream:   upstream,
		idleClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000}},
		leakClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("POST /park", s.park)
	mux.HandleFunc("POST /release", s.releaseAll)
	mux.HandleFunc("POST /client/idle", s.idle)
	mux.HandleFunc("POST /client/leak", s.leak)
	mux.HandleFunc("POST /client/close", s.closeConns)
	mux.HandleFunc("POST /heap/retain", s.retain)
	mux.HandleFunc("POST /heap/free", s.free)

	url := "http://" + ln.Addr().String()
	line, _ := json.Marshal(map[string]string{"url": url, "pprof": url + "/debug/pprof"})
	fmt.Printf("%s%s\n", readyPrefix, line)
	return http.Serve(ln, mux)
}

// serveUpstream answers every request with a 64 KiB body: large enough that
// the target's client cannot have consumed it before the application reads.
func serveUpstream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(make([]byte, 64<<10))
}

func intParam(r *http.Request, name string) (int, error) {
	n, err := strconv.Atoi(r.FormValue(name))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("parameter %s=%q: want a non-negative integer", name, r.FormValue(name))
	}
	return n, nil
}
