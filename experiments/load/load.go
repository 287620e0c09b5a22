// Package load keeps steady HTTP traffic on a service under test during a
// drill and records what that traffic saw: a latency and error timeline,
// statistics per phase, and the recovery time after a fault clears.
//
// The traffic itself comes from vegeta's Attacker; this package adds what
// a drill needs around it: phases that can be marked while the load runs,
// pausing (so that snapshots are taken on a quiet service), and the SLO
// arithmetic for circuit-breaker and timeout assertions.
package load

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Request is one request of the load mix; the mix is sent round-robin.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Config describes the steady load.
type Config struct {
	// Target is the base URL of the service under test.
	Target string
	// Rate is the number of requests per second (> 0).
	Rate int
	// Requests is the mix, sent round-robin. Empty means GET /.
	Requests []Request
	// Timeout bounds each request (default 5s). A fault that hangs the
	// service shows up as timeouts, never as an unbounded number of
	// requests in flight.
	Timeout time.Duration
	// MaxInFlight bounds the concurrent requests (default Rate × Timeout,
	// at least 16), so a hung service cannot make the load unbounded.
	MaxInFlight int
	// Bucket is the width of one timeline bucket (default 250ms).
	Bucket time.Duration
	// GRPC, when set, makes the load call gRPC methods, round-robin,
	// instead of sending HTTP requests (Requests is then unused); Target is
	// the gRPC server's base URL, grpc://host:port.
	GRPC []GRPCCall
}

func (c *Config) setDefaults() error {
	if c.Rate <= 0 {
		return fmt.Errorf("load rate must be positive, got %d", c.Rate)
	}
	u, err := url.Parse(c.Target)
	switch {
	case len(c.GRPC) > 0 && (err != nil || u.Scheme != "grpc" || u.Host == ""):
		return fmt.Errorf("load target %q is not a grpc://host:port URL", c.Target)
	case len(c.GRPC) == 0 && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == ""):
		return fmt.Errorf("load target %q is not an http(s) URL", c.Target)
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Bucket <= 0 {
		c.Bucket = 250 * time.Millisecond
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = max(16, int(float64(c.Rate)*c.Timeout.Seconds())+1)
	}
	if len(c.Requests) == 0 {
		c.Requests = []Request{{Method: http.MethodGet, Path: "/"}}
	}
	return nil
}

// Generator runs the load. Start, Mark and Pause may be called in any
// order from one goroutine (the drill runner); Results is safe to call
// concurrently with them.
type Generator struct {
	cfg     Config
	client  *http.Client
	targets []vegeta.Target
	grpc    *grpcCaller // the method the load calls, for a gRPC load
	conns   connSet     // the HTTP load's connections

	mu      sync.Mutex
	stop    func() // stops the running attack; nil while paused
	done    chan struct{}
	marks   []mark // phase boundaries, in time order
	results []result
}

type mark struct {
	at    time.Time
	phase string
}

type result struct {
	at      time.Time
	latency time.Duration
	code    uint16
	err     bool
}

// New checks the configuration and prepares a generator; it sends nothing
// (a gRPC load resolves its method now: from the descriptor set, or by
// asking the server's reflection).
func New(cfg Config) (*Generator, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	g := &Generator{cfg: cfg}
	if len(cfg.GRPC) > 0 {
		c, err := newGRPCCaller(cfg)
		if err != nil {
			return nil, err
		}
		g.grpc = c
		return g, nil
	}
	base := strings.TrimRight(cfg.Target, "/")
	for i, r := range cfg.Requests {
		m := r.Method
		if m == "" {
			m = http.MethodGet
		}
		if !strings.HasPrefix(r.Path, "/") {
			return nil, fmt.Errorf("load request %d: path %q must start with /", i, r.Path)
		}
		g.targets = append(g.targets, vegeta.Target{Method: m, URL: base + r.Path, Header: r.Header, Body: r.Body})
	}
	// Our own client, so that Pause can close the load's idle connections:
	// otherwise they would sit in the service as extra server connections
	// and look like a leak to the verdict.
	g.client = &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			DialContext:         g.conns.dialer(&net.Dialer{Timeout: cfg.Timeout}),
			MaxIdleConnsPerHost: cfg.MaxInFlight,
			MaxConnsPerHost:     cfg.MaxInFlight,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	return g, nil
}

// Start begins (or resumes) the load and marks the start of phase.
func (g *Generator) Start(phase string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.marks = append(g.marks, mark{time.Now(), phase})
	if g.stop != nil {
		return
	}
	done := make(chan struct{})
	g.done = done
	g.conns.resume()
	if g.grpc != nil {
		g.stop = g.grpc.attack(g.cfg, g.add, done)
		return
	}
	a := vegeta.NewAttacker(
		vegeta.Client(g.client),
		vegeta.MaxWorkers(uint64(g.cfg.MaxInFlight)),
		vegeta.MaxBody(64<<10),
	)
	rate := vegeta.Rate{Freq: g.cfg.Rate, Per: time.Second}
	ch := a.Attack(vegeta.NewStaticTargeter(g.targets...), rate, 0, "aftershock")
	g.stop = func() { a.Stop() }
	go func() {
		defer close(done)
		for r := range ch {
			g.add(result{
				at: r.Timestamp, latency: r.Latency, code: r.Code,
				err: r.Error != "" || r.Code < 200 || r.Code >= 400,
			})
		}
	}()
}

// Mark starts a new phase without touching the load.
func (g *Generator) Mark(phase string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.marks = append(g.marks, mark{time.Now(), phase})
}

// Pause stops sending, waits for the requests in flight (each bounded by
// the request timeout) and closes the load's connections, so that the
// service is quiet for a snapshot. It is a no-op when the load is paused.
func (g *Generator) Pause() {
	g.mu.Lock()
	stop, done := g.stop, g.done
	g.stop, g.done = nil, nil
	g.mu.Unlock()
	if stop == nil {
		return
	}
	stop()
	<-done
	if g.grpc != nil {
		g.grpc.closeConn()
		return
	}
	g.client.CloseIdleConnections()
	g.conns.pause()
}

// Close releases what the generator holds: it pauses the load.
func (g *Generator) Close() { g.Pause() }

func (g *Generator) add(r result) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.results = append(g.results, r)
}

// ErrNoRequests is returned by statistics over a span that saw no request.
var ErrNoRequests = errors.New("no requests in that span")
