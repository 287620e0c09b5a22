package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unsafe"
)

// timedGet is get, adding the time the answer took to *cost. One request
// at a time: a Client used from several goroutines (a drill's sampler
// beside its polls) still reaches its target over its one connection, so
// no capture sees another's connection opening or closing.
func (c *Client) timedGet(ctx context.Context, path string, cost *time.Duration) ([]byte, error) {
	b, _, err := c.timedGetSeq(ctx, path, cost)
	return b, err
}

// timedGetSeq is timedGet, also returning the answer's place in the order
// of the client's requests: readings of one process taken through one
// Client are ordered by it, whichever goroutine took them (see Process).
func (c *Client) timedGetSeq(ctx context.Context, path string, cost *time.Duration) ([]byte, uint64, error) {
	select {
	case c.reqs <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, fmt.Errorf("get %s/%s: waiting for the client's previous request: %w", c.BaseURL(), path, ctx.Err())
	}
	defer func() { <-c.reqs }()
	c.seq++ // under the semaphore: one request at a time
	seq := c.seq
	t0 := time.Now()
	b, err := c.get(ctx, path)
	*cost += time.Since(t0)
	return b, seq, err
}

// get fetches one pprof path (e.g. "goroutine?debug=2") and returns its body.
// Every failure says which URL and why: unreachable, a status other than
// 200, an HTML page, a body over the cap, the timeout.
func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	u := c.base.String() + "/" + path
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", u, err)
	}
	for k, vs := range c.headers {
		req.Header[k] = vs
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.wrapErr(ctx, u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return nil, &StatusError{URL: u, Code: resp.StatusCode, Status: resp.Status, Head: strings.TrimSpace(string(head))}
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/html") {
		return nil, fmt.Errorf("get %s: got an HTML page (Content-Type %s), not a pprof profile: check the pprof base url", u, ct)
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 && resp.ContentLength <= c.maxBytes {
		buf.Grow(int(resp.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return nil, c.wrapErr(ctx, u, fmt.Errorf("read body after %d bytes: %w", n, err))
	}
	if n > c.maxBytes {
		return nil, fmt.Errorf("get %s: body exceeds the cap of %d bytes (raise it with WithMaxBytes if the target is that large)", u, c.maxBytes)
	}
	if looksHTML(buf.Bytes()) {
		return nil, fmt.Errorf("get %s: got an HTML page, not a pprof profile: check the pprof base url", u)
	}
	return buf.Bytes(), nil
}

// StatusError is a pprof request answered with a status other than 200.
type StatusError struct {
	URL    string
	Code   int
	Status string
	Head   string // the start of the body
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("get %s: status %s (is this a pprof endpoint, and the right base url?): %q", e.URL, e.Status, e.Head)
}

func (c *Client) wrapErr(ctx context.Context, u string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("get %s: no complete answer within the %s timeout: %w", u, c.timeout, err)
	}
	return fmt.Errorf("get %s: %w", u, err)
}

func looksHTML(b []byte) bool {
	// Neither a profile (gzip) nor a text page of pprof starts with '<'.
	b = bytes.TrimLeft(b[:min(len(b), 512)], " \t\r\n")
	return len(b) > 0 && b[0] == '<'
}

// bytesString views b as a string without copying. Only for buffers that
// this package owns and never writes again.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
