package proxy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"
)

// Delay holds every chunk of bytes for Latency ± Jitter (uniform) before it
// is passed on. Chunks keep their order: a chunk is never sent before the one
// read ahead of it. Delays of several faults on one direction add up.
type Delay struct {
	Direction Direction
	Latency   time.Duration
	Jitter    time.Duration
}

// Validate checks that the durations are not negative and that the jitter
// does not exceed the latency.
func (f Delay) Validate() error {
	switch {
	case f.Latency < 0:
		return fmt.Errorf("delay: latency %v is negative", f.Latency)
	case f.Jitter < 0:
		return fmt.Errorf("delay: jitter %v is negative", f.Jitter)
	case f.Jitter > f.Latency:
		return fmt.Errorf("delay: jitter %v exceeds latency %v", f.Jitter, f.Latency)
	case f.Latency == 0:
		return errors.New("delay: latency is zero")
	}
	return f.Direction.validate()
}

func (f Delay) String() string {
	return fmt.Sprintf("delay %v±%v %v", f.Latency, f.Jitter, f.Direction)
}

func (f Delay) shape(pl *plan, d Direction, _ time.Time, _ uint64) {
	if f.Direction.covers(d) {
		pl.latency += f.Latency
		pl.jitter += f.Jitter
	}
}

// hold returns how long a chunk read now is held under pl.
func (pl *plan) hold() time.Duration {
	if pl.jitter == 0 {
		return pl.latency
	}
	return pl.latency + time.Duration(rand.Int64N(int64(2*pl.jitter)+1)) - pl.jitter
}

// delayQueue is the per-direction timer queue of a delayed pump: the pump
// keeps reading and stamps each chunk with its due time; one writer sends
// the chunks in order when they fall due. One timer serves the whole queue,
// so a delay costs one wake-up per chunk and reading is never held back by
// the delay itself (only by the queue's bound).
type delayQueue struct {
	ch    chan chunk
	flush chan struct{} // closed: send what is queued without waiting
	done  chan struct{} // closed when the writer has returned
	err   error         // the write error that stopped the writer; read after done
	last  time.Time     // due time of the last chunk queued, to keep order
}

type chunk struct {
	b   []byte
	due time.Time
}

// delayQueueLen bounds the chunks in flight per direction; a full queue
// holds the reader back, so memory stays bounded under any load.
const delayQueueLen = 64

// startDelayQueue starts the writer of a queue that writes to dst; it stops
// early when stop closes.
func startDelayQueue(c *Conn, dst net.Conn) *delayQueue {
	q := &delayQueue{ch: make(chan chunk, delayQueueLen), flush: make(chan struct{}), done: make(chan struct{})}
	c.goTracked(func() { q.run(dst, c.done) })
	return q
}

func (q *delayQueue) run(dst net.Conn, stop <-chan struct{}) {
	defer close(q.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	flushing := false
	for {
		var ck chunk
		select {
		case c, ok := <-q.ch:
			if !ok {
				return
			}
			ck = c
		case <-stop:
			return
		}
		if wait := time.Until(ck.due); wait > 0 && !flushing {
			t.Reset(wait)
			select {
			case <-t.C:
			case <-q.flush:
				flushing = true
			case <-stop:
				return
			}
		}
		if _, err := dst.Write(ck.b); err != nil {
			q.err = err
			return
		}
	}
}

// push queues b (copied) to be written at due, or later if an earlier chunk
// is due later. It blocks while the queue is full.
func (q *delayQueue) push(b []byte, due time.Time, stop <-chan struct{}) error {
	if due.Before(q.last) {
		due = q.last
	}
	q.last = due
	select {
	case q.ch <- chunk{b: append([]byte(nil), b...), due: due}:
		return nil
	case <-q.done:
		return fmt.Errorf("delayed write: %w", q.err)
	case <-stop:
		return net.ErrClosed
	}
}

// finish stops taking chunks and waits for the writer; with now set the
// queued chunks are written at once (the fault was cleared), otherwise at
// their due times (the source ended).
func (q *delayQueue) finish(now bool, stop <-chan struct{}) error {
	if now {
		close(q.flush)
	}
	close(q.ch)
	select {
	case <-q.done:
	case <-stop:
		return net.ErrClosed
	}
	if q.err != nil {
		return fmt.Errorf("delayed write: %w", q.err)
	}
	return nil
}
