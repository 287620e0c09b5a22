package snapshot

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// MemStats are the runtime.MemStats figures from the tail of heap?debug=1.
// Read right after a forced GC (Snapshot.Collected), HeapAlloc is the live
// heap, exactly.
type MemStats struct {
	HeapAlloc    uint64 `json:"heapAlloc"`
	HeapInuse    uint64 `json:"heapInuse"`
	HeapIdle     uint64 `json:"heapIdle"`
	HeapSys      uint64 `json:"heapSys"`
	HeapReleased uint64 `json:"heapReleased"`
	HeapObjects  uint64 `json:"heapObjects"`
	StackInuse   uint64 `json:"stackInuse"`
	StackSys     uint64 `json:"stackSys"`
	Sys          uint64 `json:"sys"`
	TotalAlloc   uint64 `json:"totalAlloc"`
	Mallocs      uint64 `json:"mallocs"`
	Frees        uint64 `json:"frees"`
	NumGC        uint64 `json:"numGC"`
	// NumForcedGC counts the GCs forced by the application, pprof's gc=1
	// among them: what snapshots cost the target in collections.
	NumForcedGC uint64 `json:"numForcedGC"`
	// All holds every numeric "# Name = value" figure of the tail.
	All map[string]uint64 `json:"all,omitempty"`
	// seq orders the readings of one Client (0: not read by one).
	seq uint64
}

// ParseMemStats reads the "# runtime.MemStats" tail of a heap?debug=1 page.
func ParseMemStats(page []byte) (MemStats, error) {
	i := bytes.Index(page, []byte("\n# runtime.MemStats\n"))
	if i < 0 {
		return MemStats{}, fmt.Errorf("heap?debug=1: no runtime.MemStats section (is this a Go pprof heap page?)")
	}
	m := MemStats{All: map[string]uint64{}}
	sc := bufio.NewScanner(bytes.NewReader(page[i+1:]))
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			continue // PauseNs = [...] and the like
		}
		m.All[name] = v
	}
	if err := sc.Err(); err != nil {
		return MemStats{}, fmt.Errorf("heap?debug=1: %w", err)
	}
	if _, ok := m.All["HeapAlloc"]; !ok {
		return MemStats{}, fmt.Errorf("heap?debug=1: runtime.MemStats section has no HeapAlloc")
	}
	for name, dst := range map[string]*uint64{
		"HeapAlloc": &m.HeapAlloc, "HeapInuse": &m.HeapInuse, "HeapIdle": &m.HeapIdle,
		"HeapSys": &m.HeapSys, "HeapReleased": &m.HeapReleased, "HeapObjects": &m.HeapObjects,
		"StackInuse": &m.StackInuse, "StackSys": &m.StackSys, "Sys": &m.Sys,
		"TotalAlloc": &m.TotalAlloc, "Mallocs": &m.Mallocs, "Frees": &m.Frees, "NumGC": &m.NumGC, "NumForcedGC": &m.NumForcedGC,
	} {
		*dst = m.All[name]
	}
	return m, nil
}
