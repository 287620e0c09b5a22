package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/pprof/profile"
)

// Bundle file names, for a phase such as "baseline" or "verdict":
// <phase>.goroutine.pb.gz and <phase>.heap.pb.gz open in `go tool pprof`,
// <phase>.goroutines.txt is the raw debug=2 dump, <phase>.summary.json the
// summary with the MemStats figures.
const (
	goroutineProfileFile = ".goroutine.pb.gz"
	heapProfileFile      = ".heap.pb.gz"
	dumpFile             = ".goroutines.txt"
	summaryFile          = ".summary.json"
)

// bundleSummary is the JSON file of a bundle.
type bundleSummary struct {
	URL   string    `json:"url,omitempty"`
	Time  time.Time `json:"time"`
	Light bool      `json:"light,omitempty"`
	// Collected: MemStats and the heap profile were read after a GC the
	// capture forced.
	Collected bool     `json:"collected,omitempty"`
	MemStats  MemStats `json:"memStats"`
	Summary   *Summary `json:"summary"`
}

// Save writes the snapshot into dir (created if needed) as the files of
// phase; a light snapshot has no dump and no heap profile to write.
func (s *Snapshot) Save(dir, phase string) error {
	if phase == "" || filepath.Base(phase) != phase {
		return fmt.Errorf("save snapshot: phase %q must be a plain file name prefix", phase)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	path := func(suffix string) string { return filepath.Join(dir, phase+suffix) }
	if err := writeProfile(path(goroutineProfileFile), s.GoroutineProfile); err != nil {
		return err
	}
	if err := writeProfile(path(heapProfileFile), s.HeapProfile); err != nil {
		return err
	}
	if s.Dump != "" {
		if err := os.WriteFile(path(dumpFile), []byte(s.Dump), 0o644); err != nil {
			return fmt.Errorf("save snapshot: %w", err)
		}
	}
	js, err := json.MarshalIndent(bundleSummary{URL: s.URL, Time: s.Time, Light: s.Light, Collected: s.Collected, MemStats: s.MemStats, Summary: s.Summary()}, "", "  ")
	if err != nil {
		return fmt.Errorf("save snapshot: encode summary: %w", err)
	}
	if err := os.WriteFile(path(summaryFile), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	return nil
}

func writeProfile(path string, p *profile.Profile) error {
	if p == nil {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	if err := p.Write(f); err != nil {
		f.Close()
		return fmt.Errorf("save snapshot: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	return nil
}

// Load reads the files of phase that Save wrote into dir; the summary is
// computed again from the dump and the profiles.
func Load(dir, phase string) (*Snapshot, error) {
	path := func(suffix string) string { return filepath.Join(dir, phase+suffix) }
	js, err := os.ReadFile(path(summaryFile))
	if err != nil {
		return nil, fmt.Errorf("load snapshot %q: %w", phase, err)
	}
	var meta bundleSummary
	if err := json.Unmarshal(js, &meta); err != nil {
		return nil, fmt.Errorf("load snapshot %q: %s: %w", phase, path(summaryFile), err)
	}
	s := &Snapshot{URL: meta.URL, Time: meta.Time, Light: meta.Light, Collected: meta.Collected, MemStats: meta.MemStats}
	if s.GoroutineProfile, err = readProfile(path(goroutineProfileFile)); err != nil {
		return nil, fmt.Errorf("load snapshot %q: %w", phase, err)
	}
	if s.HeapProfile, err = readProfile(path(heapProfileFile)); err != nil {
		return nil, fmt.Errorf("load snapshot %q: %w", phase, err)
	}
	dump, err := os.ReadFile(path(dumpFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("load snapshot %q: %w", phase, err)
	default:
		s.Dump = bytesString(dump)
		all, err := ParseGoroutines(s.Dump)
		if err != nil {
			return nil, fmt.Errorf("load snapshot %q: %s: %w", phase, path(dumpFile), err)
		}
		s.Goroutines = withoutSelf(all)
	}
	return s, nil
}

// readProfile parses a profile file; a missing one is nil, not an error.
func readProfile(path string) (*profile.Profile, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return p, nil
}
