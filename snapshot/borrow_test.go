package snapshot_test

import (
	"testing"

	"github.com/aftershock/aftershock/snapshot"
)

// A goroutine the baseline caught running on another thread has no stack;
// when a later dump shows it parked, it is the same goroutine, not growth.
func TestRunningGoroutineInBaselineIsNotGrowth(t *testing.T) {
	const base = `goroutine 1 [running]:
main.main()
	/src/main.go:10 +0x1

goroutine 7 [running]:
	goroutine running on other thread; stack unavailable
created by net/http.(*Server).ListenAndServe in goroutine 1
	/usr/local/go/src/net/http/server.go:3000 +0x1
`
	const now = `goroutine 1 [running]:
main.main()
	/src/main.go:10 +0x1

goroutine 7 [IO wait]:
internal/poll.(*FD).Accept(0x0)
	/usr/local/go/src/internal/poll/fd_unix.go:613 +0x1
net.(*TCPListener).Accept(0x0)
	/usr/local/go/src/net/tcpsock.go:387 +0x1
net/http.(*Server).Serve(0x0, {0x0, 0x0})
	/usr/local/go/src/net/http/server.go:3434 +0x1
created by net/http.(*Server).ListenAndServe in goroutine 1
	/usr/local/go/src/net/http/server.go:3000 +0x1
`
	parse := func(dump string) *snapshot.Snapshot {
		gs, err := snapshot.ParseGoroutines(dump)
		if err != nil {
			t.Fatal(err)
		}
		return &snapshot.Snapshot{Dump: dump, Goroutines: gs}
	}
	d, err := snapshot.Compare(parse(base), parse(now), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Groups) != 0 || len(d.Connections) != 0 {
		t.Errorf("a goroutine running in the baseline counts as growth: groups %+v, connections %+v", d.Groups, d.Connections)
	}
	// A goroutine that is really new still is.
	d, err = snapshot.Compare(parse(now), parse(now+`
goroutine 9 [IO wait]:
net.(*TCPListener).Accept(0x0)
	/usr/local/go/src/net/tcpsock.go:387 +0x1
created by main.main in goroutine 1
	/src/main.go:11 +0x1
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Connections) != 1 || d.Connections[0].Class != snapshot.Listener || d.Connections[0].Extra() != 1 {
		t.Errorf("a new listener is not reported: %+v", d.Connections)
	}
}
