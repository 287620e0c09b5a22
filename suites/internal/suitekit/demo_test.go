package suitekit

import (
	"slices"
	"strings"
	"testing"
)

func TestDemoSwitches(t *testing.T) {
	for _, tc := range []struct {
		leaks, fixes       string
		wantLeaks, wantFix string
		wantErr            string
	}{
		{"", "", "", "body,ticker,context,cache,goroutine,stream,timeouts,breaker", ""},
		{"goroutine", "", "goroutine", "body,ticker,context,cache,stream,timeouts,breaker", ""},
		// Fixes that would hide a leak go with it.
		{"context", "", "context", "body,ticker,cache,goroutine,stream,breaker", ""},
		{"body", "", "body", "ticker,context,cache,goroutine,stream,breaker", ""},
		{" cache ,stream", "", "cache,stream", "body,ticker,context,goroutine,timeouts", ""},
		{"all", "", "body,ticker,context,cache,goroutine,stream", "", ""},
		{"body", "timeouts,breaker", "body", "timeouts,breaker", ""},
		{"body", "all", "body", "body,ticker,context,cache,goroutine,stream,timeouts,breaker", ""},
		{"bodies", "", "", "", `unknown demo shop leak "bodies"`},
		{"", "breakers", "", "", `unknown demo shop fix "breakers"`},
	} {
		t.Run(tc.leaks+"/"+tc.fixes, func(t *testing.T) {
			t.Setenv(EnvDemoLeaks, tc.leaks)
			t.Setenv(EnvDemoFixes, tc.fixes)
			leaks, fixes, err := DemoSwitches()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(leaks, ","); got != tc.wantLeaks {
				t.Errorf("leaks = %q, want %q", got, tc.wantLeaks)
			}
			if got := strings.Join(fixes, ","); got != tc.wantFix {
				t.Errorf("fixes = %q, want %q", got, tc.wantFix)
			}
		})
	}
}

// TestGRPCDemoSwitches: the gRPC demo reads the same settings with its
// own names, and no fix of it hides another's leak.
func TestGRPCDemoSwitches(t *testing.T) {
	t.Setenv(EnvDemoLeaks, "body") // the HTTP shop's: not read here
	t.Setenv(EnvGRPCDemoLeaks, "conn")
	t.Setenv(EnvGRPCDemoFixes, "")
	leaks, fixes, err := GRPCDemoSwitches()
	if err != nil || strings.Join(leaks, ",") != "conn" || strings.Join(fixes, ",") != "stream,retry,producer" {
		t.Errorf("leaks %q, fixes %q, err %v", leaks, fixes, err)
	}
	t.Setenv(EnvGRPCDemoLeaks, "body")
	if _, _, err := GRPCDemoSwitches(); err == nil || !strings.Contains(err.Error(), `unknown gRPC demo shop leak "body" (AFTERSHOCK_GRPC_DEMO_LEAKS / --grpc-demo-leaks)`) || !strings.Contains(err.Error(), "allowed: stream, conn, retry, producer, all") {
		t.Errorf("err = %v", err)
	}
}

func TestSplitList(t *testing.T) {
	if got := splitList(" a, ,b ,"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("splitList = %q", got)
	}
}
