package demoleaks_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// answers counts the answers of a burst by status code; a request that got
// no answer counts under 0.
type answers map[int]int

// burst is a vegeta pacer that sends n requests as fast as its workers
// allow, then stops: traffic bounded in count (and, by the request timeout,
// in time).
type burst uint64

func (b burst) Pace(_ time.Duration, hits uint64) (time.Duration, bool) {
	return 0, hits >= uint64(b)
}

func (b burst) Rate(time.Duration) float64 { return 0 }

// checkouts sends n GET /checkout to the shop at url, conc at a time, and
// returns how they were answered. Connections are not kept alive: a client
// connection the suite left open would be an HTTP server connection of the
// shop's, and a difference from its baseline.
func checkouts(ctx context.Context, url string, n, conc int) answers {
	GinkgoHelper()
	atk := vegeta.NewAttacker(
		vegeta.KeepAlive(false),
		vegeta.Workers(uint64(conc)),
		vegeta.MaxWorkers(uint64(conc)),
		vegeta.Timeout(requestTimeout),
	)
	defer context.AfterFunc(ctx, func() { atk.Stop() })()
	target := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url + "/checkout"})
	got := answers{}
	var firstErr string
	for res := range atk.Attack(target, burst(n), 0, "checkout") {
		got[int(res.Code)]++
		if res.Error != "" && firstErr == "" {
			firstErr = res.Error
		}
	}
	Expect(ctx.Err()).NotTo(HaveOccurred(), "checkouts cut short")
	Expect(got[0]).To(BeZero(), "checkouts without an answer, first error: %s", firstErr)
	return got
}

// expectCheckouts sends n checkouts, conc at a time, and wants every one
// answered with one of codes: the proof that the fault (or its absence)
// reached the shop as intended.
func expectCheckouts(ctx context.Context, url string, n, conc int, codes ...int) {
	GinkgoHelper()
	got := checkouts(ctx, url, n, conc)
	total := 0
	for _, c := range codes {
		total += got[c]
	}
	Expect(total).To(Equal(n), "want all %d checkouts answered %v, got %v", n, codes, got)
}

// noKeepAlive is the client of the stream traffic: one connection per
// request, closed after it.
var noKeepAlive = &http.Client{Timeout: requestTimeout, Transport: &http.Transport{DisableKeepAlives: true}}

// fullStream reads one short /stream to its end.
func fullStream(ctx context.Context, url string) {
	GinkgoHelper()
	const chunks, size = 3, 64
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/stream?chunks=%d&size=%d", url, chunks, size), nil)
	Expect(err).NotTo(HaveOccurred())
	resp, err := noKeepAlive.Do(req)
	Expect(err).NotTo(HaveOccurred(), "GET /stream")
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred(), "read /stream")
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	Expect(body).To(HaveLen(chunks * size))
}

// abandonStreams opens n long streams at once (500 chunks, 5 s at the
// shop's pace), reads the first chunk of each and hangs up: closing a body
// mid-stream closes the HTTP/1 connection, which is what the shop sees of a
// shopper who walked away.
func abandonStreams(ctx context.Context, url string, n int) {
	GinkgoHelper()
	const size = 1024
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/stream?chunks=500&size=%d", url, size), nil)
			if err != nil {
				errs <- err
				return
			}
			resp, err := noKeepAlive.Do(req)
			if err != nil {
				errs <- fmt.Errorf("start stream: %w", err)
				return
			}
			defer resp.Body.Close()
			if _, err := io.ReadFull(resp.Body, make([]byte, size)); err != nil {
				errs <- fmt.Errorf("read the first chunk: %w", err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		Expect(err).NotTo(HaveOccurred())
	}
}

// warmUp is the traffic every scenario starts with: a few checkouts, all
// paid, and one short stream.
func warmUp(ctx context.Context, url string) {
	GinkgoHelper()
	expectCheckouts(ctx, url, 10, 2, http.StatusOK)
	fullStream(ctx, url)
}
