package snapshottest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// ParkedWorker is where Park parks its goroutines: blocked receiving on a
// channel that only Release closes. Tests expect this name as the culprit.
func ParkedWorker(started *sync.WaitGroup, release <-chan struct{}) {
	started.Done()
	<-release
}

// RetainHeap allocates n bytes in chunks and returns them; tests expect this
// function as the allocation site of the retained heap.
func RetainHeap(n int) [][]byte {
	const chunk = 64 << 10
	var out [][]byte
	for n > 0 {
		size := min(chunk, n)
		out = append(out, make([]byte, size))
		n -= size
	}
	return out
}

// park returns once all n goroutines run, so a snapshot sees them parked.
func (s *state) park(n int) {
	s.mu.Lock()
	release := s.release
	s.mu.Unlock()
	var started sync.WaitGroup
	started.Add(n)
	for range n {
		go ParkedWorker(&started, release)
	}
	started.Wait()
}

func (s *state) releaseAll() {
	s.mu.Lock()
	close(s.release)
	s.release = make(chan struct{})
	s.awaitCancel()
	s.awaitCtx, s.awaitCancel = context.WithCancel(context.Background())
	s.mu.Unlock()
}

// await starts n calls to the upstream's /hang, which never answers: each
// caller waits in the transport's round trip until release, on a
// connection whose read loop looks idle.
func (s *state) await(n int) {
	s.mu.Lock()
	ctx := s.awaitCtx
	s.mu.Unlock()
	for range n {
		go AwaitingCaller(ctx, s.awaitClient, s.upstream+"/hang")
	}
}

// AwaitingCaller is where await's callers wait; tests expect this name as
// the culprit of their group.
func AwaitingCaller(ctx context.Context, client *http.Client, url string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	if resp, err := client.Do(req); err == nil {
		_ = resp.Body.Close()
	}
}

// get makes n concurrent upstream requests and hands each response to keep.
func (s *state) get(client *http.Client, n int, keep func(*http.Response) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			resp, err := client.Get(s.upstream)
			if err != nil {
				errs <- fmt.Errorf("upstream: %w", err)
				return
			}
			if err := keep(resp); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// idle leaves n healthy connections idle in the pool: bodies read and closed.
//
// A connection goes back to the pool only once its body is read, so each
// request holds its body until every one has its answer: otherwise, on a
// busy machine, a fast request hands its connection to a later one and the
// pool ends with fewer than n.
func (s *state) idle(n int) error {
	var mu sync.Mutex
	arrived, all := 0, make(chan struct{})
	return s.get(s.idleClient, n, func(resp *http.Response) error {
		defer resp.Body.Close()
		mu.Lock()
		if arrived++; arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(10 * time.Second): // a request failed: do not hang
		}
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	})
}

// leak leaves n connections waiting on bodies that are never read nor closed.
func (s *state) leak(n int) error {
	return s.get(s.leakClient, n, func(resp *http.Response) error {
		s.mu.Lock()
		s.bodies = append(s.bodies, resp.Body) // never read: the leak
		s.mu.Unlock()
		return nil
	})
}

func (s *state) closeConns() {
	s.mu.Lock()
	for _, b := range s.bodies {
		_ = b.Close()
	}
	s.bodies = nil
	s.mu.Unlock()
	s.idleClient.CloseIdleConnections()
	s.leakClient.CloseIdleConnections()
}

func (s *state) retain(n int) {
	kept := RetainHeap(n)
	s.mu.Lock()
	s.retained = append(s.retained, kept...)
	s.mu.Unlock()
}

func (s *state) free() {
	s.mu.Lock()
	s.retained = nil
	s.mu.Unlock()
}
