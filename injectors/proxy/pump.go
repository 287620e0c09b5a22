package proxy

import (
	"errors"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// pump moves the bytes of one direction of one connection. While its plan
// is a pass-through it splices; otherwise it reads chunks into a pooled
// buffer and passes them through the faults of the plan.
type pump struct {
	c   *Conn
	d   Direction
	src net.Conn
	dst *net.TCPConn

	buf      *[]byte     // pooled, only while on the fault path
	q        *delayQueue // while a delay is set, or draining
	limitSeq uint64      // the DataLimit fault sent counts against
	sent     int64
	next     time.Time // Bandwidth: earliest time of the next write
	held     [][]byte  // Partition: bytes read and held
	heldN    int
	heldErr  error // Partition: EOF or error read and held
}

var (
	errReplan     = errors.New("plan changed")
	errSwallowed  = errors.New("close swallowed by a partition")
	errFaultEnded = errors.New("connection ended by a fault")
)

const bufSize = 32 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

func (pm *pump) run() {
	defer pm.c.pumpDone()
	err := pm.loop()
	pm.putBuf()
	switch {
	case errors.Is(err, io.EOF):
		pm.endStream()
	case errors.Is(err, errSwallowed):
		if pm.q != nil && pm.q.finish(false, pm.c.done) != nil {
			pm.c.close()
		}
	case errors.Is(err, errFaultEnded):
	case errors.Is(err, syscall.ECONNRESET):
		pm.c.reset()
	default:
		pm.c.close()
	}
}

// endStream passes the sender's FIN on, after the delayed bytes and after a
// slow close.
func (pm *pump) endStream() {
	if pm.q != nil {
		if err := pm.q.finish(false, pm.c.done); err != nil {
			pm.c.close()
			return
		}
		pm.q = nil
	}
	if d := pm.c.plan(pm.d).slowClose; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-pm.c.done:
			return
		}
	}
	pm.dst.CloseWrite()
}

func (pm *pump) loop() error {
	for {
		pl := pm.c.load(pm.d)
		if pl.reset {
			pm.c.reset()
			return errFaultEnded
		}
		if pl.down {
			pm.c.close()
			return errFaultEnded
		}
		if !pl.partitioned && (pm.held != nil || pm.heldErr != nil) {
			if err := pm.release(pl); err != nil {
				return err
			}
		}
		if pm.q != nil && pl.latency == 0 {
			// The delay was cleared: what it holds goes out now, in order.
			if err := pm.q.finish(true, pm.c.done); err != nil {
				return err
			}
			pm.q = nil
		}
		if tcp, ok := pm.src.(*net.TCPConn); ok && pl.passthrough() && !pm.c.peerGone[pm.d.other()].Load() {
			pm.putBuf()
			if _, err := io.Copy(pm.dst, tcp); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					continue // woken: the plan changed
				}
				return err
			}
			return io.EOF
		}
		if err := pm.shaped(pl); err != errReplan {
			return err
		}
	}
}

// shaped pumps on the fault path until the plan changes (errReplan), the
// stream ends (io.EOF) or fails.
func (pm *pump) shaped(pl *plan) error {
	if pm.buf == nil {
		pm.buf = bufPool.Get().(*[]byte)
	}
	if pl.limitSeq != pm.limitSeq {
		pm.limitSeq, pm.sent = pl.limitSeq, 0
	}
	closeAt := pl.closeAt(pm.c.start)
	buf := (*pm.buf)[:pl.chunkSize(bufSize)]
	for {
		if pl.partitioned && (pm.heldN >= partitionHold || pm.heldErr != nil) {
			select {
			case <-pl.changed:
				return errReplan
			case <-pm.c.done:
				return net.ErrClosed
			}
		}
		n, err := pm.src.Read(buf)
		now := time.Now()
		if n > 0 {
			if err := pm.process(pl, buf[:n], now); err != nil {
				return err
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			if !closeAt.IsZero() && !now.Before(closeAt) {
				pm.c.close() // Timeout: the connection's time is up
				return errFaultEnded
			}
			return errReplan
		case pl.partitioned:
			pm.heldErr = err // swallowed for now; see release
		default:
			return err
		}
	}
}

// process passes one chunk read at readAt through the plan's faults.
func (pm *pump) process(pl *plan, b []byte, readAt time.Time) error {
	if pm.c.peerGone[pm.d.other()].Load() {
		// The receiver closed during a partition and its FIN was swallowed:
		// to the sender, the connection is half-open; its data gets a RST.
		resetTCP(pm.c.sender(pm.d))
		pm.c.close()
		return errFaultEnded
	}
	if pl.rejected {
		// A byte of the rejected direction: the connection is reset, as a
		// firewall's reject does to a connection that carries traffic.
		pm.c.reset()
		return errFaultEnded
	}
	if pl.partitioned {
		pm.held = append(pm.held, append([]byte(nil), b...))
		pm.heldN += len(b)
		return nil
	}
	if pl.drop {
		return nil
	}
	if pl.resetPeer {
		// Swallowed, as Toxiproxy's reset_peer does, until the reset.
		if pm.c.resetAfter(pl.resetAfter) {
			return errFaultEnded
		}
		return nil
	}
	last := false
	if pl.limit > 0 {
		if left := pl.limit - pm.sent; int64(len(b)) >= left {
			b, last = b[:left], true
		}
		pm.sent += int64(len(b))
	}
	if pl.rate > 0 {
		if err := pm.pace(pl, len(b)); err != nil {
			return err
		}
	}
	if err := pm.sliced(pl, b, readAt); err != nil {
		return err
	}
	if last {
		if pm.q != nil {
			pm.q.finish(false, pm.c.done)
			pm.q = nil
		}
		pm.c.close()
		return errFaultEnded
	}
	return nil
}

// paceSlack is how far a paced pump may fall behind its schedule and catch up.
const paceSlack = 100 * time.Millisecond

// pace waits until n more bytes fit the plan's rate.
func (pm *pump) pace(pl *plan, n int) error {
	now := time.Now()
	if wait := pm.next.Sub(now); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-pl.changed: // cleared or changed: this chunk goes now
		case <-pm.c.done:
			t.Stop()
			return net.ErrClosed
		}
		t.Stop()
		now = time.Now()
	}
	// Keep to the schedule rather than restarting it at each chunk, so a
	// late timer (a busy machine) is made up for by the next chunks (up to
	// paceSlack behind); an idle spell earns the bucket's worth of bytes at
	// once (tbf's buffer), or nothing without one.
	if pl.burst > 0 {
		if credit := pl.paceFor(int(min(pl.burst, int64(math.MaxInt32)))); now.Sub(pm.next) > credit {
			pm.next = now.Add(-credit)
		}
	} else if now.Sub(pm.next) > paceSlack {
		pm.next = now
	}
	pm.next = pm.next.Add(pl.paceFor(n))
	return nil
}

// sliced writes b as the plan's slicer cuts it, pausing between slices;
// without a slicer it writes b whole. A plan change ends the pauses: the
// rest goes at once, so no byte is held back by a slicer cleared meanwhile.
func (pm *pump) sliced(pl *plan, b []byte, readAt time.Time) error {
	if pl.slice.AverageSize == 0 {
		return pm.write(pl, b, readAt)
	}
	pause := time.NewTimer(time.Hour)
	defer pause.Stop()
	for len(b) > 0 {
		n := pl.slice.next(len(b))
		if n == len(b) {
			break
		}
		if err := pm.write(pl, b[:n], readAt); err != nil {
			return err
		}
		b = b[n:]
		if pl.slice.Delay > 0 {
			pause.Reset(pl.slice.Delay)
			select {
			case <-pause.C:
			case <-pl.changed:
				return pm.write(pl, b, readAt)
			case <-pm.c.done:
				return net.ErrClosed
			}
			readAt = time.Now() // a delay, if any, counts from the slice's own time
		}
	}
	return pm.write(pl, b, readAt)
}

// write sends b now, or through the delay queue while a delay is set.
func (pm *pump) write(pl *plan, b []byte, readAt time.Time) error {
	if pl.latency > 0 || pm.q != nil {
		if pm.q == nil {
			pm.q = startDelayQueue(pm.c, pm.dst)
		}
		return pm.q.push(b, readAt.Add(pl.hold()), pm.c.done)
	}
	_, err := pm.dst.Write(b)
	return err
}

// release delivers what a cleared partition held, under the new plan.
//
// When the sender closed during the partition, it gave up on the
// connection: like a peer whose kernel stopped retransmitting, neither its
// unacknowledged bytes nor its FIN ever arrive. The receiver is left open
// and waiting (see Partition) — a client parked reading a response that
// will never come is exactly what a partition leaves behind.
func (pm *pump) release(pl *plan) error {
	held, heldErr := pm.held, pm.heldErr
	pm.held, pm.heldN, pm.heldErr = nil, 0, nil
	if heldErr != nil {
		pm.c.peerGone[pm.d].Store(true)
		pm.c.wake(pm.d.other()) // off the splice path, to see peerGone
		return errSwallowed
	}
	now := time.Now()
	for _, b := range held {
		if err := pm.process(pl, b, now); err != nil {
			return err
		}
	}
	return nil
}

func (pm *pump) putBuf() {
	if pm.buf != nil {
		bufPool.Put(pm.buf)
		pm.buf = nil
	}
}
