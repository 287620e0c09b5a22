package netns

import (
	"fmt"
	"time"
)

// Partition drops every packet of its direction on the veth: new
// connections hang in their handshake, established ones stall and
// retransmit, and nobody sees a FIN or RST. On clear, TCP's retransmission
// resumes the connections that outlived it (after its backoff, as on a
// real network).
type Partition struct{ Direction Direction }

// Validate checks the direction.
func (p Partition) Validate() error { return validDirection(p.Direction) }

func (p Partition) String() string { return "partition " + p.Direction.String() }

// Loss drops each packet of its direction with probability Percent/100,
// drawn by the kernel per packet (nftables' numgen random), so no netem is
// needed. The veth sends wire-sized packets (its segmentation offload is
// off), so each draw is one packet, as on a real link.
type Loss struct {
	Direction Direction
	// Percent is 0.01 to 100, to a hundredth.
	Percent float64
}

// Validate checks the direction and the percentage.
func (l Loss) Validate() error {
	if err := validDirection(l.Direction); err != nil {
		return err
	}
	if !(l.Percent >= 0.01 && l.Percent <= 100) {
		return fmt.Errorf("loss %g%%: want 0.01 to 100 (the kernel draws to a hundredth of a percent)", l.Percent)
	}
	return nil
}

func (l Loss) String() string { return fmt.Sprintf("loss %g%% %s", l.Percent, l.Direction) }

// Bandwidth limits its direction to Rate bytes per second with a token
// bucket filter (tbf) on the sending end of the veth: the namespace's end
// for to, this machine's end for from.
type Bandwidth struct {
	Direction Direction
	// Rate is in bytes per second.
	Rate int64
	// Burst is the bucket's size in bytes (tc's buffer); 0 takes
	// max(Rate/10, 16 KiB), enough for a full TSO segment.
	Burst int64
	// Queue is how many bytes may wait for tokens (tc's limit); 0 takes
	// one second of Rate, at least Burst.
	Queue int64
}

// Validate checks the direction and the sizes.
func (b Bandwidth) Validate() error {
	if err := validDirection(b.Direction); err != nil {
		return err
	}
	switch {
	case b.Rate <= 0:
		return fmt.Errorf("bandwidth rate %d B/s: want more than 0", b.Rate)
	case b.Burst < 0 || b.Burst >= 1<<31:
		return fmt.Errorf("bandwidth burst %d bytes: want 0 (default) to 2 GiB", b.Burst)
	case b.Queue < 0 || b.Queue >= 1<<31:
		return fmt.Errorf("bandwidth queue %d bytes: want 0 (default) to 2 GiB", b.Queue)
	}
	return nil
}

func (b Bandwidth) String() string { return fmt.Sprintf("bandwidth %d B/s %s", b.Rate, b.Direction) }

func (b Bandwidth) sizes() (burst, queue uint32) {
	bu, qu := b.Burst, b.Queue
	if bu == 0 {
		bu = max(b.Rate/10, 16<<10)
	}
	if qu == 0 {
		qu = max(b.Rate, bu)
	}
	return uint32(bu), uint32(qu)
}

// Delay holds every packet of its direction for Latency (± Jitter) with the
// netem qdisc. Kernels without netem (see [NetemSupport]) refuse it.
type Delay struct {
	Direction       Direction
	Latency, Jitter time.Duration
}

// Validate checks the direction and the durations.
func (d Delay) Validate() error {
	if err := validDirection(d.Direction); err != nil {
		return err
	}
	if d.Latency <= 0 || d.Jitter < 0 || d.Jitter > d.Latency {
		return fmt.Errorf("delay %s ± %s: want a positive latency and 0 ≤ jitter ≤ latency", d.Latency, d.Jitter)
	}
	return nil
}

func (d Delay) String() string {
	if d.Jitter > 0 {
		return fmt.Sprintf("delay %s±%s %s", d.Latency, d.Jitter, d.Direction)
	}
	return fmt.Sprintf("delay %s %s", d.Latency, d.Direction)
}
