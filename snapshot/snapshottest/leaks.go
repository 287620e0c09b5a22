package snapshottest

import (
	"fmt"
	"io"
	"net/http"
	"sync"
)

// ParkedWorker is where Park parks its goroutines: blocked receiving on a
// channel that only Release closes. Tests expect this name as the culprit.
func ParkedWorker(release <-chan struct{}) {
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

func (s *state) park(w http.ResponseWriter, r *http.Request) {
	n, err := intParam(r, "n")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	release := s.release
	s.mu.Unlock()
	for range n {
		go ParkedWorker(release)
	}
}

func (s *state) releaseAll(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	close(s.release)
	s.release = make(chan struct{})
	s.mu.Unlock()
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

func (s *state) idle(w http.ResponseWriter, r *http.Request) {
	n, err := intParam(r, "n")
	if err == nil {
		err = s.get(s.idleClient, n, func(resp *http.Response) error {
			defer resp.Body.Close()
			_, err := io.Copy(io.Discard, resp.Body)
			return err
		})
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
	}
}

func (s *state) leak(w http.ResponseWriter, r *http.Request) {
	n, err := intParam(r, "n")
	if err == nil {
		err = s.get(s.leakClient, n, func(resp *http.Response) error {
			s.mu.Lock()
			s.bodies = append(s.bodies, resp.Body) // never read: the leak
			s.mu.Unlock()
			return nil
		})
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
	}
}

func (s *state) closeConns(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	for _, b := range s.bodies {
		_ = b.Close()
	}
	s.bodies = nil
	s.mu.Unlock()
	s.idleClient.CloseIdleConnections()
	s.leakClient.CloseIdleConnections()
}

func (s *state) retain(w http.ResponseWriter, r *http.Request) {
	n, err := intParam(r, "bytes")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	kept := RetainHeap(n)
	s.mu.Lock()
	s.retained = append(s.retained, kept...)
	s.mu.Unlock()
}

func (s *state) free(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.retained = nil
	s.mu.Unlock()
}
