package stall

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// maxKeepAliveBody bounds the response an idle client reads before it
// holds its keep-alive connection.
const maxKeepAliveBody = 1 << 20

// exchangeTimeout bounds the keep-alive exchange of an idle client.
const exchangeTimeout = 10 * time.Second

// holdIdle is the idle hold: a read that returns only when the server
// closes the connection (its ReadHeaderTimeout or IdleTimeout) or we do.
func (r *run) holdIdle(conn net.Conn) error {
	var buf [1]byte
	for {
		n, err := conn.Read(buf[:])
		r.bytesRead.Add(int64(n))
		if err != nil {
			return err
		}
	}
}

// keepAliveExchange sends one complete request and reads its response, so
// that the server then holds the connection as idle keep-alive. The reader
// is dropped afterwards: a held client keeps no buffer.
func (r *run) keepAliveExchange(conn net.Conn) error {
	if err := conn.SetDeadline(time.Now().Add(exchangeTimeout)); err != nil {
		return err
	}
	r.requests.Add(1)
	if err := r.write(conn, r.s.request); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(countingReader{conn, &r.bytesRead}), nil)
	if err != nil {
		return fmt.Errorf("reading the response to the keep-alive request: %w", err)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxKeepAliveBody+1))
	_ = resp.Body.Close()
	switch {
	case err != nil:
		return fmt.Errorf("reading the response body of the keep-alive request: %w", err)
	case n > maxKeepAliveBody:
		return fmt.Errorf("the response to the keep-alive request is longer than %d bytes; idle wants a short response", maxKeepAliveBody)
	}
	return conn.SetDeadline(time.Time{})
}

// countingReader adds what it reads to a counter.
type countingReader struct {
	r io.Reader
	n interface{ Add(int64) int64 }
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
