package snapshot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega/gleak/goroutine"

	"github.com/aftershock/aftershock/snapshot"
)

// dumpText is runtime.Stack's format, with the rarer forms: a wait time,
// locked to thread, inlined frames without offsets, a stack that the
// runtime elided, a goroutine running on another thread.
const dumpText = `goroutine 7 [chan receive, 12 minutes, locked to thread]:
example.com/svc/worker.(*Pool).run(0xc000010000)
	/src/svc/worker/pool.go:42 +0x85
example.com/svc/worker.New.gowrap1()
	/src/svc/worker/pool.go:20
created by example.com/svc/worker.New in goroutine 1
	/src/svc/worker/pool.go:20 +0x1d

goroutine 1 [select]:
net/http.(*persistConn).readLoop(0xc0001)
	/usr/local/go/src/net/http/transport.go:2450 +0xc05
...additional frames elided...
created by net/http.(*Transport).dialConn in goroutine 33
	/usr/local/go/src/net/http/transport.go:1994 +0x16ac

goroutine 9 [running]:
	goroutine running on other thread; stack unavailable
`

func TestParseGoroutines(t *testing.T) {
	gs, err := snapshot.ParseGoroutines(dumpText)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 3 {
		t.Fatalf("parsed %d goroutines, want 3", len(gs))
	}
	g := gs[0]
	if g.ID != 7 || g.State != "chan receive, 12 minutes, locked to thread" || g.WaitReason() != "chan receive" || g.Wait != 12*time.Minute {
		t.Errorf("header: %+v", g)
	}
	if len(g.Frames) != 2 || g.Frames[0] != (snapshot.Frame{Function: "example.com/svc/worker.(*Pool).run", File: "/src/svc/worker/pool.go", Line: 42}) ||
		g.Frames[1].Line != 20 {
		t.Errorf("frames: %+v", g.Frames)
	}
	if g.Creator.Function != "example.com/svc/worker.New" || g.Creator.Location() != "/src/svc/worker/pool.go:20" || g.CreatorID != 1 {
		t.Errorf("creator: %+v in %d", g.Creator, g.CreatorID)
	}
	if c := g.Culprit(nil); c.Function != "example.com/svc/worker.(*Pool).run" {
		t.Errorf("culprit %v", c)
	}
	if !gs[1].Elided || gs[1].Culprit(nil).Function != "net/http.(*persistConn).readLoop" {
		t.Errorf("elided stdlib goroutine: %+v culprit %v", gs[1], gs[1].Culprit(nil))
	}
	if class, _ := snapshot.Classify(gs[1].Frames); class != snapshot.HTTPClientBodyPending {
		t.Errorf("readLoop parked in select classified %q", class)
	}
	if gs[2].ID != 9 || len(gs[2].Frames) != 0 {
		t.Errorf("running goroutine: %+v", gs[2])
	}
}

// The conversion gives what gleak's own parser gives for the same text.
func TestGleakFormMatchesGleakParser(t *testing.T) {
	gs, err := snapshot.ParseGoroutines(dumpText)
	if err != nil {
		t.Fatal(err)
	}
	// gleak parses its own process; compare field by field with what it
	// documents: Backtrace is the text below the header, one trailing newline.
	got := gs[0].Gleak()
	want := goroutine.Goroutine{
		ID: 7, State: "chan receive, 12 minutes, locked to thread",
		TopFunction:     "example.com/svc/worker.(*Pool).run",
		CreatorFunction: "example.com/svc/worker.New", BornAt: "/src/svc/worker/pool.go:20",
		Backtrace: dumpText[strings.Index(dumpText, "example.com/svc/worker.(*Pool).run("):strings.Index(dumpText, "\ngoroutine 1 ")],
	}
	if got != want {
		t.Errorf("gleak form\n got %#v\nwant %#v", got, want)
	}
}

func TestParseGoroutinesRejectsGarbage(t *testing.T) {
	for _, text := range []string{"hello\n", "goroutine x [running]:\n", "goroutine 5 running\n"} {
		if _, err := snapshot.ParseGoroutines(text); err == nil {
			t.Errorf("ParseGoroutines(%q) accepted it", text)
		}
	}
}

func TestCulpritSkipsMachinery(t *testing.T) {
	frames := []snapshot.Frame{
		{Function: "internal/poll.(*FD).Read"}, {Function: "net.(*conn).Read"},
		{Function: "net/http.(*connReader).Read"}, {Function: "bufio.(*Reader).fill"},
		{Function: "net/http.(*conn).serve"},
	}
	g := snapshot.Goroutine{Frames: frames}
	if c := g.Culprit(nil); c.Function != "net/http.(*conn).serve" {
		t.Errorf("stdlib-only culprit %q", c.Function)
	}
	g.Frames = append([]snapshot.Frame{{Function: "main.handler"}}, frames...)
	if c := g.Culprit(nil); c.Function != "main.handler" {
		t.Errorf("app culprit %q", c.Function)
	}
}

// acme is a service whose build info names its dependencies.
var acme = snapshot.NewCode("go1.26.8", "", "github.com/acme/shop", []string{"google.golang.org/grpc", "golang.org/x/net"}, "test")

// TestCulpritLooksPastTransports: a goroutine parked in gRPC's transport
// is explained by the service's function that called it; one of gRPC's
// own by the function it runs, not by an internal reader it is parked in.
func TestCulpritLooksPastTransports(t *testing.T) {
	reader := []snapshot.Frame{
		{Function: "runtime.gopark"},
		{Function: "google.golang.org/grpc/internal/transport.(*recvBufferReader).readMessageHeaderClient"},
		{Function: "google.golang.org/grpc.(*clientStream).RecvMsg"},
		{Function: "google.golang.org/grpc.(*GenericClientStream[...]).Recv"},
		{Function: "github.com/acme/shop.(*Server).readReservations"},
	}
	transport := []snapshot.Frame{
		{Function: "internal/poll.runtime_pollWait"}, {Function: "net.(*conn).Read"},
		{Function: "google.golang.org/grpc/internal/transport/readyreader.(*nonBlockingReader).ReadOnReady"},
		{Function: "bufio.(*Reader).Read"}, {Function: "io.ReadAtLeast"},
		{Function: "golang.org/x/net/http2.(*Framer).ReadFrame"},
		{Function: "google.golang.org/grpc/internal/transport.(*http2Client).reader"},
	}
	for _, c := range []struct {
		frames []snapshot.Frame
		want   string
	}{
		{reader, "github.com/acme/shop.(*Server).readReservations"},
		{transport, "google.golang.org/grpc/internal/transport.(*http2Client).reader"},
		// An application frame under a library: the application's still.
		{append(reader[:1:1], snapshot.Frame{Function: "github.com/acme/shop.wait"}, reader[1]), "github.com/acme/shop.wait"},
	} {
		g := snapshot.Goroutine{Frames: c.frames}
		if got := g.Culprit(acme).Function; got != c.want {
			t.Errorf("culprit %q, want %q", got, c.want)
		}
	}
}

// ancestryText is what a target run with GODEBUG=tracebackancestors=N
// writes: ancestors below the creator, their frames with "(...)", an
// ancestor's own creator without a goroutine ID; and the runtime's
// "(leaked)" mark on a goroutine a leak detection proved.
const ancestryText = `goroutine 35 [chan send (leaked)]:
shop/compactor.(*Compactor).run.func1()
	/src/shop/compactor/c.go:10 +0x1d
created by shop/compactor.(*Compactor).run in goroutine 34
	/src/shop/compactor/c.go:9 +0x4f
[originating from goroutine 34]:
shop/compactor.(*Compactor).run(...)
	/src/shop/compactor/c.go:11 +0x4f
shop/api.(*API).compact(...)
	/src/shop/api/api.go:20 +0x25
created by shop/api.(*API).Start
	/src/shop/api/api.go:18 +0x8b
[originating from goroutine 1]:
main.main(...)
	/src/shop/main.go:21 +0x8b
...additional frames elided...

goroutine 36 [select, 3 minutes]:
shop/compactor.wait()
	/src/shop/compactor/c.go:30 +0x1d
`

func TestParseAncestryAndLeakedMark(t *testing.T) {
	gs, err := snapshot.ParseGoroutines(ancestryText)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 2 {
		t.Fatalf("%d goroutines", len(gs))
	}
	g := gs[0]
	if !g.Leaked || g.State != "chan send" || g.WaitReason() != "chan send" {
		t.Errorf("state %q leaked %v", g.State, g.Leaked)
	}
	if len(g.Frames) != 1 || g.Frames[0].Function != "shop/compactor.(*Compactor).run.func1" || g.Creator.Function != "shop/compactor.(*Compactor).run" ||
		g.Creator.Line != 9 || g.CreatorID != 34 || g.Elided {
		t.Errorf("own stack %+v, creator %+v in %d, elided %v", g.Frames, g.Creator, g.CreatorID, g.Elided)
	}
	if len(g.Ancestors) != 2 {
		t.Fatalf("ancestors %+v", g.Ancestors)
	}
	a0, a1 := g.Ancestors[0], g.Ancestors[1]
	if a0.ID != 34 || len(a0.Frames) != 2 || a0.Frames[1] != (snapshot.Frame{Function: "shop/api.(*API).compact", File: "/src/shop/api/api.go", Line: 20}) ||
		a0.Creator != (snapshot.Frame{Function: "shop/api.(*API).Start", File: "/src/shop/api/api.go", Line: 18}) || a0.Elided {
		t.Errorf("ancestor 0: %+v", a0)
	}
	if a1.ID != 1 || len(a1.Frames) != 1 || a1.Frames[0].Function != "main.main" || !a1.Elided {
		t.Errorf("ancestor 1: %+v", a1)
	}
	if strings.Contains(g.Backtrace, "originating") || !strings.HasSuffix(g.Backtrace, "c.go:9 +0x4f\n") {
		t.Errorf("backtrace %q", g.Backtrace)
	}
	if site, ok := g.CallSite(nil); !ok || site.Function != "shop/compactor.(*Compactor).run" || site.Line != 11 {
		t.Errorf("call site %v %v", site, ok)
	}
	if h := gs[1]; h.Leaked || h.Wait != 3*time.Minute || len(h.Ancestors) != 0 || len(h.Frames) != 1 {
		t.Errorf("second goroutine %+v", h)
	}
}

// TestCulpritPastDependencies: the rule of whose code a frame is decides
// the culprit, never a dot: a service of module "shop" is named at the
// frame where it waits; one parked in its dependency's code, at the
// service's own frame that called it; a dependency's goroutine with no
// frame of the service's own, at the dependency's outermost frame.
func TestCulpritPastDependencies(t *testing.T) {
	shop := snapshot.NewCode("go1.26.8", "/usr/local/go", "shop", []string{"example.com/queue"}, "test")
	for _, c := range []struct {
		frames []string
		want   string
	}{
		{[]string{"runtime.gopark", "runtime.chansend1", "shop/compactor.(*Compactor).run", "shop/compactor.(*Compactor).Start.func1"}, "shop/compactor.(*Compactor).run"},
		{[]string{"runtime.gopark", "runtime.selectgo", "example.com/queue.Consume", "shop/worker.Start.func1"}, "shop/worker.Start.func1"},
		{[]string{"runtime.gopark", "runtime.selectgo", "example.com/queue.(*Q).wait", "example.com/queue.(*Q).loop"}, "example.com/queue.(*Q).loop"},
		{[]string{"runtime.gopark", "net/http.(*persistConn).readLoop"}, "net/http.(*persistConn).readLoop"},
	} {
		g := snapshot.Goroutine{}
		for _, fn := range c.frames {
			g.Frames = append(g.Frames, snapshot.Frame{Function: fn})
		}
		if got := g.Culprit(shop).Function; got != c.want {
			t.Errorf("%v: culprit %s, want %s", c.frames, got, c.want)
		}
	}
}

// TestCulpritWithoutBuildInfo: a target whose binary cannot be read here
// (a container, another machine) is told apart by the standard library's
// package list and module-cache paths alone, and a module path without a
// dot is still the service's own: named at the frame where it waits, and
// at its own frame above a dependency's.
func TestCulpritWithoutBuildInfo(t *testing.T) {
	const mod = "/home/u/go/pkg/mod/example.com/queue@v1.2.0/queue.go"
	for _, code := range []*snapshot.Code{nil, snapshot.NewCode("", "/usr/local/go", "", nil, "goroot only")} {
		for _, c := range []struct {
			frames [][2]string // function, file
			want   string
		}{
			{[][2]string{{"runtime.gopark", "/usr/local/go/src/runtime/proc.go"}, {"runtime.chansend1", "/usr/local/go/src/runtime/chan.go"},
				{"shop/compactor.(*Compactor).run", "/src/shop/compactor/c.go"}, {"shop/compactor.(*Compactor).Start.func1", "/src/shop/compactor/c.go"}}, "shop/compactor.(*Compactor).run"},
			{[][2]string{{"runtime.gopark", "/usr/local/go/src/runtime/proc.go"}, {"runtime.selectgo", "/usr/local/go/src/runtime/select.go"},
				{"example.com/queue.Consume", mod}, {"shop/worker.Start.func1", "/src/shop/worker/w.go"}}, "shop/worker.Start.func1"},
			{[][2]string{{"runtime.gopark", "/usr/local/go/src/runtime/proc.go"}, {"sync.(*Cond).Wait", "/usr/local/go/src/sync/cond.go"},
				{"log/slog.wait", "/src/log/slog/w.go"}, {"example.com/queue.Consume", mod}}, "example.com/queue.Consume"},
		} {
			g := snapshot.Goroutine{}
			for _, f := range c.frames {
				g.Frames = append(g.Frames, snapshot.Frame{Function: f[0], File: f[1]})
			}
			if got := g.Culprit(code).Function; got != c.want {
				t.Errorf("%s: %v: culprit %s, want %s", code, c.frames, got, c.want)
			}
		}
	}
}
