package stall

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
)

// helperEnv makes the test binary a plain HTTP server instead of running
// tests: the 10,000-client figures are measured against a server in a
// process of its own, so that its connections neither use this process's
// file descriptors nor count in its memory.
const helperEnv = "AFTERSHOCK_STALL_HELPER_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helperServer())
	}
	os.Exit(m.Run())
}

// helperServer serves / (a short answer) and /conns (how many connections
// it holds, by state) until it is killed, and prints the fixture READY line.
func helperServer() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex
	states := map[net.Conn]http.ConnState{}
	mux := http.NewServeMux()
	mux.Handle("/", okHandler())
	mux.HandleFunc("/conns", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		byState := map[string]int{}
		for _, s := range states {
			byState[s.String()]++
		}
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(byState)
	})
	srv := &http.Server{Handler: mux, ConnState: func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if s == http.StateClosed || s == http.StateHijacked {
			delete(states, c)
		} else {
			states[c] = s
		}
	}}
	fmt.Printf("aftershock-fixture ready {\"url\":\"http://%s\"}\n", ln.Addr())
	err = srv.Serve(ln)
	fmt.Fprintln(os.Stderr, err)
	return 1
}
