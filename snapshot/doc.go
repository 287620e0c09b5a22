// Package snapshot is aftershock's verification engine: it captures a
// bundle from a running service's net/http/pprof endpoints, parses it,
// summarises it and diffs it against a baseline.
//
//	client, err := snapshot.NewClient("http://127.0.0.1:6060/debug/pprof",
//		snapshot.WithHeader("Authorization", "Bearer "+token))
//	base, err := client.Capture(ctx)
//	// ... inject a fault, clear it ...
//	now, err := client.Capture(ctx)
//	diff, err := now.Diff(base)
//
// A full snapshot (Capture) holds every goroutine of goroutine?debug=2
// (state, wait time, frames, creator; convertible to gomega's gleak form),
// the goroutine and heap (after a forced GC) profiles, and the MemStats
// figures. Its Summary groups goroutines by culprit function, creator and the
// connection they hold, counts connections by class from the stacks (an idle
// pooled HTTP/1 client connection is told apart from one whose response
// body was never read or closed), and attributes the heap to allocation
// sites. The goroutine serving the capture's own request is left out.
//
// The debug=2 dump stops the target's world while it is written, about
// 1.6 s for 100,000 goroutines, against about 0.15 s for the goroutine
// protobuf: take full snapshots for the baseline and the verdict, and
// light ones (CaptureLight) for timelines.
//
// Save and Load keep a snapshot as files that `go tool pprof` opens.
package snapshot
