package stall

import (
	"net"
	"syscall"
	"time"
)

// readSlowly is the slow-read hold: ChunkSize bytes per Interval. With the
// tiny receive window set before connecting, the server's socket buffer
// fills within a few writes and its handler blocks in Write.
func (r *run) readSlowly(conn net.Conn) error {
	buf := make([]byte, r.s.cfg.ChunkSize)
	t := time.NewTimer(0)
	defer t.Stop()
	<-t.C
	for {
		n, err := conn.Read(buf)
		r.bytesRead.Add(int64(n))
		if err != nil {
			return err
		}
		if !r.pause(t, r.s.cfg.Interval) {
			return errStopped
		}
	}
}

// recvBufferControl sets SO_RCVBUF on the socket before it connects: the
// TCP window scale is fixed by the handshake, so setting it afterwards would
// leave the server a large window to fill.
func recvBufferControl(size int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = setRecvBuffer(fd, size)
		}); err != nil {
			return err
		}
		return serr
	}
}
