package main_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/fixtures/stack"
	"github.com/aftershock/aftershock/snapshot"
)

// ancestry is what a service sets to have its dumps carry, under each
// goroutine, the stacks of the goroutines that created it (docs/attribution.md).
const ancestry = "GODEBUG=tracebackancestors=10"

// TestDrillsWithAncestry: with GODEBUG=tracebackancestors=10 on the shop,
// every demo leak fails as it does without the setting, naming the same
// culprits (the goroutine-only leak included: the ancestors in the dump
// are not read as the goroutines' own frames); and the leaks parked in
// library code name the shop's own call site, exactly.
func TestDrillsWithAncestry(t *testing.T) {
	exact := map[string]string{
		"body": "your call site: github.com/aftershock/aftershock/fixtures/shop.(*Server).postPayment at ",
	}
	for _, tc := range leakMatrix {
		t.Run(tc.leak, func(t *testing.T) {
			heavy(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := stack.Start(ctx, stack.Config{Shop: []string{shopBin}, Leaks: []string{tc.leak}, Env: []string{ancestry}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Stop() })
			code, out, errs := aftershock(t, st.Vars(), "drill", "--settle=6s", demoDrill(tc.drill))
			if code != 1 {
				t.Fatalf("exit %d, want 1 (verdict failed)\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			for _, c := range tc.culprits {
				if !strings.Contains(out, c) {
					t.Errorf("the verdict does not name %q:\n%s", c, out)
				}
			}
			// What the verdict counts is not dropped as a passing reading.
			if _, transient, ok := strings.Cut(out, "Over in one reading only"); ok {
				line, _, _ := strings.Cut(transient, "\n")
				for _, c := range tc.culprits {
					if strings.Contains(line, c) {
						t.Errorf("the leak was dropped as transient: %s", line)
					}
				}
			}
			if want, ok := exact[tc.leak]; ok && (!strings.Contains(out, want) || !strings.Contains(out, snapshot.ExactText)) {
				t.Errorf("the verdict does not name %q %s:\n%s", want, snapshot.ExactText, out)
			}
		})
	}
}

// TestAncestryNamesTheStreamOpener: the gRPC demo's stream leak leaves
// gRPC's own goroutines of each stream behind; with ancestry on, the
// verdict names the shop's function that opened the stream (reserve),
// exactly, with the default heap sampling.
func TestAncestryNamesTheStreamOpener(t *testing.T) {
	heavy(t)
	streamOpenerNamed(t, ancestry, true)
}
