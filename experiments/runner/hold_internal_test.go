package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/injectors"
	"github.com/aftershock/aftershock/matchers"
)

// fakeInj is an injector that records what is held.
type fakeInj struct {
	name      string
	held      *sync.Map
	injectErr error
	clearErr  error
	slow      time.Duration // an injection that takes this long
}

func (f *fakeInj) Inject(context.Context, time.Duration) error {
	time.Sleep(f.slow)
	if f.injectErr != nil {
		return f.injectErr
	}
	f.held.Store(f.name, true)
	return nil
}

func (f *fakeInj) Clear(context.Context) error {
	if f.clearErr != nil {
		return f.clearErr
	}
	f.held.Delete(f.name)
	return nil
}

func (f *fakeInj) String() string { return f.name }

// holdEpisode runs hold over one: 1s; two: 1s from 600ms; three: 300ms
// from 200ms, with fake injectors changed by mod.
func holdEpisode(t *testing.T, mod func(map[string]*fakeInj)) (*FaultResult, *sync.Map, error) {
	t.Helper()
	doc := `apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: episode}
spec:
  target: {url: "http://127.0.0.1:8080"}
  upstreams:
    - {name: a, listen: "127.0.0.1:9001", forward: "127.0.0.1:9101"}
    - {name: b, listen: "127.0.0.1:9002", forward: "127.0.0.1:9102"}
  faults:
    - {name: one, upstream: a, duration: 1s, networkChaos: {action: delay, delay: {latency: 100ms}}}
    - {name: two, upstream: b, duration: 1s, networkChaos: {action: delay, delay: {latency: 100ms}}, overlap: {with: one, after: 600ms}}
    - {name: three, upstream: b, duration: 300ms, networkChaos: {action: delay, delay: {latency: 100ms}}, overlap: {with: one, after: 200ms}}
`
	d, err := experiments.Parse("episode.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	r := New(d, WithProgress(io.Discard))
	held := &sync.Map{}
	fakes := map[string]*fakeInj{}
	r.injectors = map[string]injectors.Injector{}
	for _, n := range []string{"one", "two", "three"} {
		fakes[n] = &fakeInj{name: n, held: held}
		r.injectors[n] = fakes[n]
	}
	mod(fakes)
	ep := d.Episodes()[0]
	fr := &FaultResult{Name: "one", With: make([]HeldWith, len(ep.Faults)-1)}
	_, _, err = r.hold(context.Background(), ep, fr)
	return fr, held, err
}

func heldNames(held *sync.Map) []string {
	var out []string
	held.Range(func(k, _ any) bool { out = append(out, k.(string)); return true })
	return out
}

func near(got, want time.Duration) bool {
	return got > want-60*time.Millisecond && got < want+60*time.Millisecond
}

// TestHold: each fault is injected its After past the one it overlaps and
// held its own duration, even when an injection is slow; the episode's
// window runs to the last clear.
func TestHold(t *testing.T) {
	t.Parallel()
	t.Run("on time", func(t *testing.T) {
		t.Parallel()
		fr, held, err := holdEpisode(t, func(map[string]*fakeInj) {})
		if err != nil || len(heldNames(held)) != 0 {
			t.Fatalf("err %v, still held %v", err, heldNames(held))
		}
		two, three := fr.With[0], fr.With[1]
		if !near(three.InEffect.Sub(fr.InEffect), 200*time.Millisecond) || !near(three.Cleared.Sub(three.InEffect), 300*time.Millisecond) ||
			!near(two.InEffect.Sub(fr.InEffect), 600*time.Millisecond) || !near(fr.Cleared.Sub(fr.InEffect), 1600*time.Millisecond) {
			t.Errorf("windows: three %s+%s, two %s, episode %s", three.InEffect.Sub(fr.InEffect), three.Cleared.Sub(three.InEffect),
				two.InEffect.Sub(fr.InEffect), fr.Cleared.Sub(fr.InEffect))
		}
	})
	t.Run("a slow injection shifts the window, not its length", func(t *testing.T) {
		t.Parallel()
		fr, _, err := holdEpisode(t, func(f map[string]*fakeInj) { f["three"].slow = 500 * time.Millisecond })
		if err != nil {
			t.Fatal(err)
		}
		three := fr.With[1]
		if !near(three.Cleared.Sub(three.InEffect), 300*time.Millisecond) {
			t.Errorf("three held %s, want 300ms", three.Cleared.Sub(three.InEffect))
		}
	})
	// On an error everything else injected is cleared; a fault whose own
	// clear failed stays for the runner's Close to clear again.
	for name, c := range map[string]struct {
		mod  func(map[string]*fakeInj)
		left string
	}{
		"a failed injection clears what is held": {func(f map[string]*fakeInj) { f["two"].injectErr = errors.New("boom") }, ""},
		"a failed clear clears the others":       {func(f map[string]*fakeInj) { f["three"].clearErr = errors.New("boom") }, "three"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, held, err := holdEpisode(t, c.mod)
			if err == nil {
				t.Fatal("no error")
			}
			names := heldNames(held)
			if (c.left == "" && len(names) != 0) || (c.left != "" && (len(names) != 1 || names[0] != c.left)) {
				t.Errorf("still held after the error: %v, want only %q", names, c.left)
			}
		})
	}
}

// TestJoinShort: a FAILED line beside a restart names as many culprits as
// fit in maxProgress, then how many more, however many there are.
func TestJoinShort(t *testing.T) {
	var eighty []string
	for i := range 80 {
		eighty = append(eighty, fmt.Sprintf("+%d goroutines [chan send] in shop/worker%02d.(*Pool).run (/src/shop/worker%02d/pool.go:42)", 300+i, i, i))
	}
	for _, tc := range []struct {
		items []string
		max   int
		want  string
	}{
		{nil, 50, ""},
		{[]string{"a", "b"}, 50, "a; b"},
		{[]string{"aaaa", "bbbb", "cccc"}, 20, "aaaa; … and 2 more"},
		{[]string{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "b"}, 20, "aaaaa…; … and 1 more"},
		{[]string{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, 20, "aaaaaaaaaaaaaaaaaaa…"},
	} {
		if got := joinShort(tc.items, tc.max); got != tc.want || len([]rune(got)) > tc.max {
			t.Errorf("joinShort(%q, %d) = %q, want %q", tc.items, tc.max, got, tc.want)
		}
	}
	var out strings.Builder
	r := New(&experiments.Drill{Metadata: experiments.Metadata{Name: "payments-drill"}}, WithProgress(&out))
	r.settledText("payments-slow", &FaultResult{Culprits: append([]string{"replica shop-1 restarted: OOMKilled"}, eighty...),
		Findings: &matchers.Findings{Restart: &matchers.Restart{Replica: "shop-1", Why: "OOMKilled"}}})
	line := strings.TrimSuffix(out.String(), "\n")
	if n := len([]rune(line)); n > maxProgress || !strings.Contains(line, "FAILED: replica shop-1 restarted") || !strings.Contains(line, "more") {
		t.Errorf("a line of %d characters (at most %d): %s", n, maxProgress, line)
	}
}
