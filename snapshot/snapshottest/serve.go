package snapshottest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"strings"
	"sync"
)

// ServeIfTarget turns the process into a target and never returns when the
// test binary was re-executed by Start; otherwise it returns at once.
func ServeIfTarget() {
	if os.Getenv(envTarget) != "1" {
		return
	}
	if err := serve(os.Getenv(envUpstream), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "snapshottest target:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// state is what the target holds on to between commands.
type state struct {
	mu       sync.Mutex
	release  chan struct{}
	bodies   []io.ReadCloser
	retained [][]byte
	// idleClient and leakClient have pools of their own, so that a leak
	// never reuses a connection that a test wants idle.
	idleClient *http.Client
	leakClient *http.Client
	// awaitClient carries the calls that wait on the upstream's /hang
	// until release cancels them.
	awaitClient *http.Client
	awaitCtx    context.Context
	awaitCancel context.CancelFunc
	upstream    string
}

// serve serves pprof on a port of its own and takes commands on in, one a
// line, answering each on out once it is done. Commands come over stdin, not
// HTTP, so that controlling the target leaves no connection and no
// goroutine behind in it: what a snapshot sees is what the test made.
func serve(upstream string, in io.Reader, out io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	go func() { _ = http.Serve(ln, mux) }()

	s := &state{
		release:     make(chan struct{}),
		upstream:    upstream,
		idleClient:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000}},
		leakClient:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000}},
		awaitClient: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000}},
	}
	s.awaitCtx, s.awaitCancel = context.WithCancel(context.Background())
	url := "http://" + ln.Addr().String()
	line, _ := json.Marshal(map[string]string{"url": url, "pprof": url + "/debug/pprof"})
	fmt.Fprintf(out, "%s%s\n", readyPrefix, line)

	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if err := s.run(sc.Text()); err != nil {
			fmt.Fprintf(out, "%s%s\n", errPrefix, strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		fmt.Fprintln(out, okLine)
	}
	return sc.Err() // stdin closed: the test is done
}

// run carries out one command: "park N", "release", "idle N", "leak N",
// "await N", "close", "retain BYTES", "free".
func (s *state) run(cmd string) error {
	name, arg, _ := strings.Cut(cmd, " ")
	n := 0
	if arg != "" {
		var err error
		if n, err = strconv.Atoi(arg); err != nil || n < 0 {
			return fmt.Errorf("command %q: want a non-negative integer argument", cmd)
		}
	}
	switch name {
	case "park":
		s.park(n)
	case "release":
		s.releaseAll()
	case "idle":
		return s.idle(n)
	case "leak":
		return s.leak(n)
	case "await":
		s.await(n)
	case "close":
		s.closeConns()
	case "retain":
		s.retain(n)
	case "free":
		s.free()
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
	return nil
}

// serveUpstream answers every request with a 64 KiB body: large enough that
// the target's client cannot have consumed it before the application reads.
func serveUpstream(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/hang" {
		<-r.Context().Done() // an answer that never comes, until the caller goes
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(make([]byte, 64<<10))
}
