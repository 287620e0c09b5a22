package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlagsBelongToTheirCommands: a command has only the flags it
// honours; a file is -o/--out, a directory --artifacts; old spellings
// still work, with a warning.
func TestFlagsBelongToTheirCommands(t *testing.T) {
	exec := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	// Flags of the drill-running commands are refused elsewhere, where
	// they would be ignored.
	for _, args := range [][]string{
		{"search", "x.yaml", "--fault", "f", "--vary", "latency=1ms..2ms", "--artifacts", "d"},
		{"explore", "x.yaml", "--report", "r.html"},
		{"render", "x.yaml", "--artifacts", "d"},
		{"validate", "x.yaml", "--report", "r.html"},
	} {
		if code, _, errs := exec(args...); code != exitBadInput || !strings.Contains(errs, "unknown flag") {
			t.Errorf("%v: exit %d, want 2 with unknown flag:\n%s", args, code, errs)
		}
	}
	// Before the command name, as a global flag used to be written, a
	// flag is still the command's.
	for _, cmd := range []string{"drill", "demo"} {
		code, _, errs := exec("--artifacts", "d", cmd, "--help")
		if code != exitPass {
			t.Errorf("--artifacts before %s: exit %d:\n%s", cmd, code, errs)
		}
	}

	// snapshot: the bundle's directory is --artifacts; -o still works.
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	dir := filepath.Join(t.TempDir(), "bundle")
	if code, out, errs := exec("snapshot", srv.URL+"/debug/pprof", "--artifacts", dir, "--light"); code != exitPass || !strings.Contains(out, "saved "+dir) {
		t.Fatalf("snapshot --artifacts: exit %d:\n%s%s", code, out, errs)
	}
	old := filepath.Join(t.TempDir(), "old")
	code, _, errs := exec("snapshot", srv.URL+"/debug/pprof", "-o", old, "--light")
	if code != exitPass || !strings.Contains(errs, "deprecated") || !strings.Contains(errs, "--artifacts") {
		t.Errorf("snapshot -o: exit %d, want 0 with a deprecation naming --artifacts:\n%s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(old, "snapshot.goroutine.pb.gz")); err != nil {
		t.Errorf("snapshot -o wrote no bundle: %v", err)
	}
	if code, _, errs := exec("snapshot", srv.URL+"/debug/pprof"); code != exitBadInput || !strings.Contains(errs, "--artifacts DIR is required") {
		t.Errorf("snapshot without a directory: exit %d:\n%s", code, errs)
	}

	// --output json on render: one List that kubectl applies.
	code, out, errs := exec("render", "--output", "json", "../../experiments/drills/cluster/partition.yaml")
	var list struct {
		Kind  string           `json:"kind"`
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); code != exitPass || err != nil || list.Kind != "List" || len(list.Items) == 0 || list.Items[0]["kind"] != "NetworkChaos" {
		t.Errorf("render --output json: exit %d, %v, %+v\n%s", code, err, list, errs)
	}
	if code, _, errs := exec("render", "--output", "yaml", "x.yaml"); code != exitBadInput || !strings.Contains(errs, "--output must be text or json") {
		t.Errorf("--output yaml: exit %d:\n%s", code, errs)
	}
}
