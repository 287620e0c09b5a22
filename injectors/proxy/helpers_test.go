package proxy_test

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/aftershock/aftershock/injectors/proxy"
)

// noLeaks registers, first, a cleanup that runs last: after every other
// cleanup of the test the goroutines must be back to the baseline.
func noLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// upstream is a listener the test drives by hand: each accepted socket is
// handed to the test.
type upstream struct {
	ln    net.Listener
	conns chan net.Conn
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{ln: ln, conns: make(chan net.Conn, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.conns <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(u.conns)
		for c := range u.conns {
			c.Close()
		}
	})
	return u
}

func (u *upstream) addr() string { return u.ln.Addr().String() }

// accept returns the next socket the proxy dialed.
func (u *upstream) accept(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-u.conns:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("upstream: no connection within 5s")
		return nil
	}
}

// noAccept checks that the proxy does not dial the upstream within d.
func (u *upstream) noAccept(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case c := <-u.conns:
		c.Close()
		t.Fatal("upstream: the proxy dialed, it should not have")
	case <-time.After(d):
	}
}

func newProxy(t *testing.T, forward string, opts ...proxy.Option) *proxy.Proxy {
	t.Helper()
	p, err := proxy.New("127.0.0.1:0", forward, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, p *proxy.Proxy) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// pair dials through the proxy and returns the client and upstream ends.
func pair(t *testing.T, p *proxy.Proxy, u *upstream) (client, server net.Conn) {
	t.Helper()
	c := dial(t, p)
	return c, u.accept(t)
}

func add(t *testing.T, p *proxy.Proxy, name string, f proxy.Fault) {
	t.Helper()
	if err := p.Add(name, f, time.Minute); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, p *proxy.Proxy, name string) {
	t.Helper()
	if err := p.Remove(name); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// readN reads exactly n bytes within d.
func readN(t *testing.T, c net.Conn, n int, d time.Duration) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// silent checks that nothing (no byte, no EOF, no RST) arrives on c within d.
func silent(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	var b [1]byte
	n, err := c.Read(b[:])
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("expected silence for %v, got %d bytes, err %v", d, n, err)
	}
}

// ended reads until c reports EOF or an error within d and returns it.
func ended(t *testing.T, c net.Conn, d time.Duration) error {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v", d)
	}
	if err == nil {
		return io.EOF
	}
	return err
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// roundTrip sends one byte from the client, echoes it at the upstream and
// returns how long the round trip took.
func roundTrip(t *testing.T, client, server net.Conn) time.Duration {
	t.Helper()
	start := time.Now()
	write(t, client, []byte{'x'})
	readN(t, server, 1, 5*time.Second)
	write(t, server, []byte{'y'})
	readN(t, client, 1, 5*time.Second)
	return time.Since(start)
}
