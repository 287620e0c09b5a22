package matchers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// TestCallSitesShareTheAllowance: a service run with
// GODEBUG=tracebackancestors has its groups split by the call site read
// in their ancestry, and that split is attribution: it must not multiply
// what a group may grow. Sixteen goroutines parked in one function,
// started by one go statement, eight from each of two call sites, are
// +16 against maxExtra 10 with the setting as without it.
func TestCallSitesShareTheAllowance(t *testing.T) {
	dump := func(ancestry bool, n int) *snapshot.Snapshot {
		var b strings.Builder
		b.WriteString("goroutine 1 [running]:\nmain.main()\n\t/src/shop/main.go:10 +0x1\n\n")
		for i := range n {
			// A response body left unread: the connection's read loop,
			// started by the transport, for a request of one of two
			// handlers (the ancestry: the dial goroutine, then the
			// handler that called the client).
			fmt.Fprintf(&b, "goroutine %d [select]:\nnet/http.(*persistConn).readLoop(0xc000123440)\n\t/usr/local/go/src/net/http/transport.go:2395 +0xb6c\n"+
				"created by net/http.(*Transport).dialConn in goroutine %d\n\t/usr/local/go/src/net/http/transport.go:1944 +0x174c\n", 100+i, 1000+i)
			if ancestry {
				site := []string{"checkout", "refund"}[i%2]
				fmt.Fprintf(&b, "[originating from goroutine %d]:\nnet/http.(*Transport).dialConnFor(...)\n\t/usr/local/go/src/net/http/transport.go:1611 +0xb0\n"+
					"created by net/http.(*Transport).queueForDial in goroutine %d\n\t/usr/local/go/src/net/http/transport.go:1579 +0x3c8\n"+
					"[originating from goroutine %d]:\nnet/http.(*Transport).queueForDial(...)\n\t/usr/local/go/src/net/http/transport.go:1579 +0x3c8\n"+
					"net/http.(*Client).do(...)\n\t/usr/local/go/src/net/http/client.go:727 +0x8ef\nnet/http.(*Client).Do(...)\n\t/usr/local/go/src/net/http/client.go:590\n"+
					"shop/api.%s(...)\n\t/src/shop/api/api.go:%d +0x25\ncreated by net/http.(*Server).Serve in goroutine 1\n\t/usr/local/go/src/net/http/server.go:3454 +0x485\n",
					1000+i, 2000+i, 2000+i, site, 30+i%2)
			}
			b.WriteString("\n")
		}
		gs, err := snapshot.ParseGoroutines(b.String())
		if err != nil {
			t.Fatal(err)
		}
		return &snapshot.Snapshot{Time: time.Unix(int64(n), 0), Goroutines: gs}
	}
	for _, ancestry := range []bool{false, true} {
		f, err := matchers.Judge(dump(ancestry, 0), dump(ancestry, 16), matchers.MaxExtraGoroutines(10))
		if err != nil {
			t.Fatal(err)
		}
		extra := 0
		for _, g := range f.Goroutines.Over {
			extra += g.Extra()
		}
		if extra != 16 || f.OK(matchers.Goroutines) {
			t.Errorf("ancestry %v: %d goroutines over tolerance, want the 16 of one group (maxExtra 10):\n%s", ancestry, extra, f.Message())
		}
		// With ancestry the two call sites stay two groups, each with
		// its line, and say what they are judged on together.
		if ancestry && (len(f.Goroutines.Over) != 2 || strings.Count(f.Message(), "(tolerance +10 for +16 across its call sites)") != 2) {
			t.Errorf("the split groups do not each say they share one allowance:\n%s", f.Message())
		}
		if !ancestry && strings.Contains(f.Message(), "across its call sites") {
			t.Errorf("a group not split by call site says it is:\n%s", f.Message())
		}
	}
}
