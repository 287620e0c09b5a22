package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments/runner"
	"github.com/aftershock/aftershock/fixtures/fanout"
	"github.com/aftershock/aftershock/fixtures/launch"
	"github.com/aftershock/aftershock/fixtures/stack"
	"github.com/aftershock/aftershock/matchers"
	"github.com/aftershock/aftershock/snapshot"
)

// fineHeap samples the heap every 512 bytes (runtime.MemProfileRate):
// every leak of the fixtures leaves samples to read. What a service opts
// in to for sharper attribution in staging (README).
const fineHeap = "GODEBUG=memprofilerate=512"

// drillResult runs a drill file with --output json and returns its one
// result, which must have failed.
func drillResult(t *testing.T, vars map[string]string, file string) *runner.Result {
	t.Helper()
	code, out, errs := aftershock(t, vars, "drill", "--output=json", "--settle=5s", file)
	var results []*runner.Result
	if err := json.Unmarshal([]byte(out), &results); err != nil || len(results) != 1 || len(results[0].Faults) == 0 {
		t.Fatalf("exit %d; stdout not one result (%v):\n%s\nstderr:\n%s", code, err, out, errs)
	}
	if code != 1 {
		t.Fatalf("exit %d, want 1 (the leak): %s\nstderr:\n%s", code, out, errs)
	}
	return results[0]
}

// origins are the attributions of every group and class over tolerance,
// by the group's culprit function or the class.
func origins(fr runner.FaultResult) map[string]*snapshot.Attribution {
	out := map[string]*snapshot.Attribution{}
	if fr.Findings == nil {
		return out
	}
	for _, g := range fr.Findings.Goroutines.Over {
		out[g.Culprit.Function] = g.Origin
	}
	for _, c := range fr.Findings.Connections.Over {
		out[string(c.Class)] = c.Origin
	}
	return out
}

func siteNames(a *snapshot.Attribution) []string {
	var out []string
	if a == nil {
		return out
	}
	for _, s := range a.Sites {
		out = append(out, s.Site.Function+" "+filepath.Base(s.Site.File)+fmt.Sprintf(" %d B %d objects %.2f", s.Bytes, s.Objects, s.Share))
	}
	return out
}

// TestAttributionNamesTheBodyLeak: the demo shop's body leak parks in
// net/http (readLoops, connections waiting for their bodies); the verdict
// names the shop's own call that left the bodies unclosed, postPayment's
// client.Do, marked as inferred, in the JSON and the culprit lines.
func TestAttributionNamesTheBodyLeak(t *testing.T) {
	heavy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := stack.Start(ctx, stack.Config{Shop: []string{shopBin}, Leaks: []string{"body"}, Env: []string{fineHeap}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop() })
	res := drillResult(t, st.Vars(), demoDrill("503-storm"))
	fr := res.Faults[0]
	a := origins(fr)[string(snapshot.HTTPClientBodyPending)]
	if a == nil || len(a.Sites) == 0 {
		t.Fatalf("no call site for the body-pending connections: %+v\nculprits %q", a, fr.Culprits)
	}
	want := "github.com/aftershock/aftershock/fixtures/shop.(*Server).postPayment payments.go"
	if a.Basis != snapshot.InferredText {
		t.Errorf("the JSON's basis is %q, want %q", a.Basis, snapshot.InferredText)
	}
	if got := siteNames(a)[0]; !strings.HasPrefix(got, want) || a.Sites[0].Site.Line == 0 || a.Sites[0].Bytes <= 0 {
		t.Errorf("call site %s (line %d, %d bytes), want %s", got, a.Sites[0].Site.Line, a.Sites[0].Bytes, want)
	}
	text := strings.Join(fr.Culprits, "\n")
	if !strings.Contains(text, "your call site: github.com/aftershock/aftershock/fixtures/shop.(*Server).postPayment at ") ||
		!strings.Contains(text, snapshot.InferredText) {
		t.Errorf("culprit lines do not name the call site as inferred:\n%s", text)
	}
	if msg := fr.Findings.Message(matchers.Connections); !strings.Contains(msg, "your code:  "+snapshot.InferredText) {
		t.Errorf("message:\n%s", msg)
	}
}

// TestAttributionNamesTheStreamOpener: the gRPC demo's stream leak leaves
// gRPC's own goroutines of each stream behind; the verdict names the
// shop's function that opened the stream (reserve, FullDuplexCall).
func TestAttributionNamesTheStreamOpener(t *testing.T) {
	heavy(t)
	streamOpenerNamed(t, fineHeap, false)
}

// streamOpenerNamed drills the gRPC demo's stream leak with env set on the
// shop and wants every group of gRPC's stream goroutines over tolerance to
// name the shop's reserve first; exact wants it read from the goroutines'
// ancestry, not inferred.
func streamOpenerNamed(t *testing.T, env string, exact bool) {
	t.Helper()
	bin, err := launch.Build(launch.GRPCShopPackage)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := stack.StartGRPC(ctx, stack.Config{Shop: []string{bin}, Leaks: []string{"stream"}, Env: []string{env}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop() })
	res := drillResult(t, st.Vars(), filepath.Join("..", "..", "experiments", "drills", "grpc", "slow-inventory.yaml"))
	fr := res.Faults[0]
	found := false
	for fn, a := range origins(fr) {
		if !strings.HasPrefix(fn, "google.golang.org/grpc.") {
			continue
		}
		names := siteNames(a)
		t.Logf("%s: %q", fn, names)
		if len(names) == 0 || !strings.HasPrefix(names[0], "github.com/aftershock/aftershock/fixtures/grpcshop.(*Server).reserve server.go") || exact && !a.Exact() {
			t.Errorf("group in %s: call sites %q (%s), want grpcshop.(*Server).reserve first (exact: %v)", fn, names, a.Basis, exact)
		}
		found = true
	}
	if !found {
		t.Fatalf("no group of gRPC's stream goroutines over tolerance; culprits:\n%s", strings.Join(fr.Culprits, "\n"))
	}
}

// startFanoutWith starts the fanout fixture with args and env.
func startFanoutWith(t *testing.T, args, env []string) (*fanout.Stack, string) {
	t.Helper()
	bin, err := launch.Build(launch.FanoutPackage)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := fanout.Start(ctx, bin, args, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Stop() })
	return st, ""
}

// bothFailDrill is the fanout drill with prices and stock answering 503
// at once: both call sites of the client get failed answers, only
// fetchStock leaves their bodies open.
func bothFailDrill(t *testing.T) string {
	t.Helper()
	doc := strings.Replace(string(fanout.Drill), `    - name: stock-503
      upstream: stock
      duration: 3s
`, `    - name: stock-503
      upstream: stock
      duration: 3s
      overlap: {with: prices-503}
`, 1)
	// Only the two 503 faults.
	i := strings.Index(doc, "    - name: slow-prices")
	j := strings.Index(doc, "    - name: prices-503")
	if i < 0 || j < 0 || !strings.Contains(doc, "overlap: {with: prices-503}") {
		t.Fatal("the fanout drill changed: adapt bothFailDrill")
	}
	doc = doc[:i] + doc[j:]
	file := filepath.Join(t.TempDir(), "both-503.yaml")
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestAttributionTellsCallSitesApart: two call sites of one client both
// get failed answers; only the one that leaves its bodies open is named.
// And with the heap sampled every GiB, no sample ties the same leak to
// the code: it says so, naming no frame.
func TestAttributionTellsCallSitesApart(t *testing.T) {
	for _, c := range []struct {
		name, env string
	}{{"fine", fineHeap}, {"coarse", "GODEBUG=memprofilerate=1073741824"}} {
		t.Run(c.name, func(t *testing.T) {
			heavy(t)
			st, _ := startFanoutWith(t, []string{"--leak-body"}, []string{c.env})
			res := drillResult(t, st.Vars(), bothFailDrill(t))
			fr := res.Faults[0]
			if len(fr.With) != 1 {
				t.Fatalf("the two faults were not held together: %+v", fr.With)
			}
			a := origins(fr)[string(snapshot.HTTPClientBodyPending)]
			if a == nil {
				t.Fatalf("no attribution of the body-pending connections; culprits:\n%s", strings.Join(fr.Culprits, "\n"))
			}
			names := siteNames(a)
			t.Logf("call sites %q; %s", names, a.NoTie)
			if c.name == "coarse" {
				if len(names) != 0 || !strings.HasPrefix(a.NoTie, "no allocation sample ties this to your code") || !strings.HasSuffix(a.NoTie, "sampled at 1 GiB") {
					t.Errorf("sampled every GiB: sites %q, noTie %q; want none, saying why", names, a.NoTie)
				}
				if !strings.Contains(strings.Join(fr.Culprits, "\n"), "(no allocation sample ties this to your code") {
					t.Errorf("culprits:\n%s", strings.Join(fr.Culprits, "\n"))
				}
				return
			}
			if len(names) == 0 || !strings.HasSuffix(strings.Fields(names[0])[0], "fanout.(*server).fetchStock") {
				t.Fatalf("call sites %q, want fanout.(*server).fetchStock first", names)
			}
			for _, n := range names {
				if strings.Contains(n, "fetchPrices") {
					t.Errorf("fetchPrices named (%q): its answers' bodies were closed", names)
				}
			}
		})
	}
}
