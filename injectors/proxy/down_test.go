package proxy_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/aftershock/aftershock/injectors/proxy"
)

func TestDownRefusesAndClosesThenListensAgain(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u)
	roundTrip(t, client, server)

	add(t, p, "down", proxy.Down{})
	if err := ended(t, client, 2*time.Second); err == nil {
		t.Error("an open connection stayed open under down")
	}
	if c, err := net.DialTimeout("tcp", p.Addr().String(), 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial under down: %v, want connection refused", err)
	}

	remove(t, p, "down")
	client, server = pair(t, p, u)
	roundTrip(t, client, server)
}

func TestDownNeedsAProxyThatCanListenAgain(t *testing.T) {
	noLeaks(t)
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := proxy.Serve(ln, newUpstream(t).addr())
	t.Cleanup(func() { p.Close() })
	if err := p.Add("down", proxy.Down{}, 0); err == nil {
		t.Error("a proxy on a listener opened elsewhere took down")
	}
	if err := p.Add("some", proxy.Sometimes{Fault: proxy.Down{}, Toxicity: 0.5}, 0); err == nil {
		t.Error("down on a share of the connections was accepted")
	}
}

func TestReplaceSwapsInOneChange(t *testing.T) {
	noLeaks(t)
	u := newUpstream(t)
	p := newProxy(t, u.addr())
	client, server := pair(t, p, u)
	add(t, p, "lat", proxy.Delay{Direction: proxy.Both, Latency: 30 * time.Millisecond})
	if rt := roundTrip(t, client, server); rt < 60*time.Millisecond {
		t.Errorf("round trip under 2×30 ms: %v", rt)
	}
	if err := p.Replace("lat", proxy.Delay{Direction: proxy.Both, Latency: 80 * time.Millisecond}, 0); err != nil {
		t.Fatal(err)
	}
	if rt := roundTrip(t, client, server); rt < 160*time.Millisecond {
		t.Errorf("round trip after Replace with 2×80 ms: %v", rt)
	}
	if fs := p.Faults(); len(fs) != 1 || fs[0].Name != "lat" {
		t.Errorf("faults after Replace: %+v", fs)
	}
	if err := p.Replace("nope", proxy.Down{}, 0); !errors.Is(err, proxy.ErrNotFound) {
		t.Errorf("Replace of a name not set: %v", err)
	}
}
