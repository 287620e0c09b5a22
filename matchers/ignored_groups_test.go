package matchers_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// TestIgnoredGroupsAreTheVerdictsGroups: what an ignore rule leaves out is
// reported as the groups the verdict would have judged without the rule,
// one identity for both (snapshot.GroupKey), in the cases where a private
// key of culprit and creator told them otherwise:
//   - with GODEBUG=tracebackancestors, one culprit and creator reached from
//     two call sites is two groups, each with its line;
//   - a baseline goroutine caught running (no stack in the dump) borrows
//     the stack it has now, and is no growth of its group.
func TestIgnoredGroupsAreTheVerdictsGroups(t *testing.T) {
	const readLoop = "net/http.(*persistConn).readLoop"
	// n readLoops of response bodies left unread, for requests of two
	// handlers, and polls goroutines of shop/api.poll; the first of them,
	// goroutine 500, was running when the baseline's dump was written.
	dump := func(ancestry bool, n, polls int, running bool) *snapshot.Snapshot {
		var b strings.Builder
		b.WriteString("goroutine 1 [running]:\nmain.main()\n\t/src/shop/main.go:10 +0x1\n\n")
		for i := range polls {
			if i == 0 && running {
				b.WriteString("goroutine 500 [running]:\n\tgoroutine running on other thread; stack unavailable\n" +
					"created by shop/api.warm in goroutine 1\n\t/src/shop/api/warm.go:12 +0x1\n\n")
				continue
			}
			fmt.Fprintf(&b, "goroutine %d [chan receive]:\nshop/api.poll()\n\t/src/shop/api/warm.go:20 +0x1\n"+
				"created by shop/api.warm in goroutine 1\n\t/src/shop/api/warm.go:12 +0x1\n\n", 500+i)
		}
		for i := range n {
			fmt.Fprintf(&b, "goroutine %d [select]:\n%s(0xc000123440)\n\t/usr/local/go/src/net/http/transport.go:2395 +0xb6c\n"+
				"created by net/http.(*Transport).dialConn in goroutine %d\n\t/usr/local/go/src/net/http/transport.go:1944 +0x174c\n", 100+i, readLoop, 1000+i)
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
	// A group as both sides name it: its key and counts.
	type group struct {
		key           snapshot.GroupKey
		before, after int
	}
	for _, tc := range []struct {
		name     string
		ancestry bool
		rule     matchers.Option
	}{
		{"two call sites", true, matchers.IgnoringTopFunction(readLoop)},
		{"a running baseline goroutine", false, matchers.IgnoringInBacktrace("shop/api.warm")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, now := dump(tc.ancestry, 0, 1, true), dump(tc.ancestry, 16, 4, false)
			// The verdict's groups, counted (no rule, nothing allowed),
			// of the goroutines the rule leaves out.
			judged, err := matchers.Judge(base, now)
			if err != nil {
				t.Fatal(err)
			}
			f, err := matchers.Judge(base, now, tc.rule)
			if err != nil {
				t.Fatal(err)
			}
			var want, got []group
			for _, g := range judged.Goroutines.Over {
				if !slices.ContainsFunc(f.Goroutines.Over, func(h matchers.GroupFinding) bool { return h.Key() == g.Key() }) {
					want = append(want, group{g.Key(), g.Before, g.Count})
				}
			}
			for _, ig := range f.Ignored {
				got = append(got, group{ig.Key(), ig.Before, ig.After})
			}
			order := func(a, b group) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) }
			slices.SortFunc(want, order)
			slices.SortFunc(got, order)
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("ignored groups %v, want the verdict's groups the rule leaves out %v:\n%s", got, want, f.Message())
			}
			// Each part names its call site, as the verdict's would.
			if tc.ancestry {
				for _, site := range []string{"shop/api.checkout at /src/shop/api/api.go:30", "shop/api.refund at /src/shop/api/api.go:31"} {
					if !strings.Contains(f.Message(), "+8 goroutines in "+readLoop+" from "+site+" (0 → 8): ignored by") {
						t.Errorf("the ignored goroutines from %s are not named with their call site:\n%s", site, f.Message())
					}
				}
			}
		})
	}
}
