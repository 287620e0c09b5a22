package stall

import (
	"net"
	"time"
)

// abandonLoop is one abandon client: per tick of the shared ticker (Rate
// ticks a second over all clients, dropped while every client is busy) it
// connects, sends a complete request and hangs up AbandonAfter later. The
// server's handler then sees its request context cancelled.
func (r *run) abandonLoop() {
	buf := make([]byte, 512)
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.tick.C:
		}
		conn, err := r.dial()
		if err != nil {
			if r.stopped.Load() {
				return
			}
			r.recordError(err)
			continue
		}
		r.abandonOne(conn, buf)
	}
}

// abandonOne sends the request on conn and hangs up on it.
func (r *run) abandonOne(conn net.Conn, buf []byte) {
	err := r.write(conn, r.s.request)
	if err == nil {
		r.requests.Add(1)
		err = r.awaitHangUp(conn, buf)
	}
	if err != nil {
		r.ended(conn, err)
		return
	}
	r.abandoned.Add(1)
	r.release(conn) // a FIN with the request in flight: the hang-up itself
}

// awaitHangUp discards whatever the server sends until AbandonAfter has
// passed (nil), or returns why the connection ended first.
func (r *run) awaitHangUp(conn net.Conn, buf []byte) error {
	if err := conn.SetReadDeadline(time.Now().Add(r.s.cfg.AbandonAfter)); err != nil {
		return err
	}
	answered := false
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			r.bytesRead.Add(int64(n))
			answered = true
		}
		if isTimeout(err) {
			if answered {
				r.answered.Add(1)
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}
