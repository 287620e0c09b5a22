package snapshot

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults of a Client.
const (
	// DefaultTimeout bounds each request. A debug=2 dump of 100,000
	// goroutines takes about 1.6 s to produce, so it is generous.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxBytes caps what one response may hold: a debug=2 dump of
	// 100,000 goroutines is about 30 MB.
	DefaultMaxBytes int64 = 256 << 20
)

// Client captures snapshots from one pprof base URL.
//
// It sends every request over one keep-alive connection that it keeps
// between captures (until Close). The target then serves each capture on
// that same connection, whose goroutines every snapshot leaves out as the
// capture's own: no snapshot sees a connection of ours opening or closing.
// So take the baseline and the later snapshots with the same Client; a
// connection another Client left behind counts as the target's.
type Client struct {
	base     *url.URL
	headers  http.Header
	timeout  time.Duration
	maxBytes int64
	http     *http.Client
	ownHTTP  bool
	tally    tally
	reqs     chan struct{} // one request at a time (a semaphore that a context can give up on): see timedGet
	seq      uint64        // requests sent so far (under reqs)
	observe  func(*Snapshot, string)
}

// Option configures a Client.
type Option interface{ apply(*Client) }

type optionFunc func(*Client)

func (f optionFunc) apply(c *Client) { f(c) }

// WithHeader adds a header to every pprof request, e.g. an Authorization
// header for a pprof endpoint behind auth.
func WithHeader(key, value string) Option {
	return optionFunc(func(c *Client) { c.headers.Add(key, value) })
}

// WithHeaders adds every header of h to every pprof request.
func WithHeaders(h http.Header) Option {
	return optionFunc(func(c *Client) {
		for k, vs := range h {
			for _, v := range vs {
				c.headers.Add(k, v)
			}
		}
	})
}

// WithTimeout bounds each request (connect, answer and body); zero or less
// keeps DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	})
}

// WithMaxBytes caps the bytes read from any one response, so that an endless
// or oversized body fails the capture instead of filling memory.
func WithMaxBytes(n int64) Option {
	return optionFunc(func(c *Client) {
		if n > 0 {
			c.maxBytes = n
		}
	})
}

// WithObserver calls f with every snapshot the Client takes (and again
// with s after CollectHeap completes it), and the kind of capture, as
// Tally names them: a drill keeps its resource timeline from the captures
// it takes anyway. f runs on the capturing goroutine; it must not modify
// s or keep its dump.
func WithObserver(f func(s *Snapshot, kind string)) Option {
	return optionFunc(func(c *Client) { c.observe = f })
}

// WithHTTPClient sends the requests through hc (TLS, proxies, tracing).
// By default the Client uses a transport of its own with one keep-alive
// connection; see Client.
func WithHTTPClient(hc *http.Client) Option {
	return optionFunc(func(c *Client) {
		if hc != nil {
			c.http, c.ownHTTP = hc, false
		}
	})
}

// NewClient returns a Client for a pprof base URL such as
// http://127.0.0.1:6060/debug/pprof.
func NewClient(pprofBaseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(pprofBaseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("pprof base url %q: %w", pprofBaseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("pprof base url %q: scheme must be http or https", pprofBaseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("pprof base url %q: no host", pprofBaseURL)
	}
	c := &Client{
		base:     u,
		headers:  http.Header{},
		timeout:  DefaultTimeout,
		maxBytes: DefaultMaxBytes,
		http: &http.Client{Transport: &http.Transport{
			Proxy:               nil, // loopback and in-cluster targets: never via a proxy
			MaxIdleConnsPerHost: 1,
			DisableCompression:  true,
		}},
		ownHTTP: true,
		reqs:    make(chan struct{}, 1),
	}
	for _, o := range opts {
		o.apply(c)
	}
	return c, nil
}

// BaseURL is the pprof base URL the client reads.
func (c *Client) BaseURL() string { return c.base.String() }

// Tally is what a Client has asked of its target so far: captures by
// kind ("count", "light", "goroutines", "full", and "heap" for
// CollectHeap), the GCs they forced, and their wall time, an upper bound
// of the target's time spent on them.
type Tally struct {
	Captures  map[string]int `json:"captures"`
	ForcedGCs int            `json:"forcedGCs"`
	Time      time.Duration  `json:"time"`
}

type tally struct {
	mu sync.Mutex
	t  Tally
}

// done tallies a capture and shows it to the observer.
func (c *Client) done(s *Snapshot, kind string, cost time.Duration, forcedGC bool) {
	c.tally.add(kind, cost, forcedGC)
	if c.observe != nil {
		c.observe(s, kind)
	}
}

func (t *tally) add(kind string, cost time.Duration, forcedGC bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.t.Captures == nil {
		t.t.Captures = map[string]int{}
	}
	t.t.Captures[kind]++
	t.t.Time += cost
	if forcedGC {
		t.t.ForcedGCs++
	}
}

// Tally returns what the client has asked of its target so far.
func (c *Client) Tally() Tally {
	c.tally.mu.Lock()
	defer c.tally.mu.Unlock()
	t := c.tally.t
	t.Captures = maps.Clone(t.Captures)
	if t.Captures == nil {
		t.Captures = map[string]int{}
	}
	return t
}
