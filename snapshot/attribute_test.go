package snapshot_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/aftershock/aftershock/snapshot"
)

// heapBuilder builds heap profiles (inuse_objects, inuse_space) from
// stacks written innermost first, "pkg.Func:line".
type heapBuilder struct {
	fns  map[string]*profile.Function
	locs map[string]*profile.Location
}

func newHeapBuilder() *heapBuilder {
	return &heapBuilder{fns: map[string]*profile.Function{}, locs: map[string]*profile.Location{}}
}

type heapSample struct {
	bytes, objects int64
	stack          []string
}

func (h *heapBuilder) profile(period int64, samples ...heapSample) *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "alloc_objects", Unit: "count"}, {Type: "alloc_space", Unit: "bytes"},
			{Type: "inuse_objects", Unit: "count"}, {Type: "inuse_space", Unit: "bytes"}},
		PeriodType: &profile.ValueType{Type: "space", Unit: "bytes"}, Period: period,
	}
	for _, s := range samples {
		var locs []*profile.Location
		for _, fr := range s.stack {
			loc := h.locs[fr]
			if loc == nil {
				name, line, _ := strings.Cut(fr, ":")
				fn := h.fns[name]
				if fn == nil {
					fn = &profile.Function{ID: uint64(len(h.fns) + 1), Name: name, Filename: "/src/" + name + ".go"}
					h.fns[name] = fn
				}
				var n int64
				fmt.Sscan(line, &n)
				loc = &profile.Location{ID: uint64(len(h.locs) + 1), Line: []profile.Line{{Function: fn, Line: n}}}
				h.locs[fr] = loc
			}
			locs = append(locs, loc)
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: locs, Value: []int64{s.objects, s.bytes, s.objects, s.bytes}})
	}
	for _, f := range h.fns {
		p.Function = append(p.Function, f)
	}
	for _, l := range h.locs {
		p.Location = append(p.Location, l)
	}
	return p
}

var svc = snapshot.Own{Modules: []string{"example.com/svc"}, Source: "test"}

// clientCall is a stack of an HTTP call from the service's fn at line.
func clientCall(fn string, line int) []string {
	return []string{"net/http.(*persistConn).roundTrip:2911", "net/http.(*Transport).roundTrip:704", "net/http.send:264",
		"net/http.(*Client).do:733", "net/http.(*Client).Do:592",
		fmt.Sprintf("example.com/svc.%s:%d", fn, line), "example.com/svc.(*S).handle:40", "net/http.(*conn).serve:2067"}
}

var clientThrough = snapshot.ThroughConn(snapshot.HTTPClientBodyPending)

func TestAttributeNamesWhatGrew(t *testing.T) {
	h := newHeapBuilder()
	base := h.profile(512, heapSample{4000, 40, clientCall("(*S).prices", 10)}, heapSample{4000, 40, clientCall("(*S).stock", 20)})
	now := h.profile(512, heapSample{4000, 40, clientCall("(*S).prices", 10)}, heapSample{90000, 900, clientCall("(*S).stock", 20)},
		// Not through a client call: not the class's.
		heapSample{50000, 5, []string{"runtime.makechan:1", "example.com/svc.(*S).cache:7"}})
	a := snapshot.Attribute(base, now, clientThrough, svc)
	if len(a.Sites) != 1 || a.Sites[0].Site.Function != "example.com/svc.(*S).stock" || a.Sites[0].Site.Line != 20 ||
		a.Sites[0].Bytes != 86000 || a.Sites[0].Objects != 860 || a.Sites[0].Share != 1 || a.NoTie != "" || a.Rate != 512 {
		t.Fatalf("%+v", a)
	}
}

func TestAttributeSharesAndMinorSites(t *testing.T) {
	h := newHeapBuilder()
	base := h.profile(512)
	now := h.profile(512, heapSample{60000, 600, clientCall("(*S).stock", 20)}, heapSample{40000, 400, clientCall("(*S).orders", 30)},
		heapSample{5000, 50, clientCall("(*S).prices", 10)})
	a := snapshot.Attribute(base, now, clientThrough, svc)
	if len(a.Sites) != 2 || a.Minor != 1 || a.Sites[0].Site.Function != "example.com/svc.(*S).stock" || a.Sites[1].Site.Function != "example.com/svc.(*S).orders" {
		t.Fatalf("%+v", a)
	}
	if s := a.Sites[0].Share + a.Sites[1].Share; s < 0.94 || s > 0.96 {
		t.Errorf("shares %g + %g of the growth, want 95 %% (prices left out)", a.Sites[0].Share, a.Sites[1].Share)
	}
}

// TestAttributeSkipsDependencies: the first frame of the service's own
// code outward of the creator, past the generated client of another
// module.
func TestAttributeSkipsDependencies(t *testing.T) {
	h := newHeapBuilder()
	stack := []string{"runtime.makechan:1", "google.golang.org/grpc.newClientStreamWithParams:400",
		"google.golang.org/grpc.(*ClientConn).NewStream:200", "google.golang.org/grpc/interop/grpc_testing.(*testServiceClient).FullDuplexCall:50",
		"example.com/svc/shop.(*Server).reserve:91", "example.com/svc/shop.(*Server).UnaryCall:70"}
	a := snapshot.Attribute(h.profile(512), h.profile(512, heapSample{8192, 10, stack}),
		snapshot.Through(snapshot.Group{Culprit: snapshot.Frame{Function: "google.golang.org/grpc.newClientStreamWithParams.func4"},
			Creator: snapshot.Frame{Function: "google.golang.org/grpc.newClientStreamWithParams"}}), svc)
	if len(a.Sites) != 1 || a.Sites[0].Site.Function != "example.com/svc/shop.(*Server).reserve" || a.Sites[0].Site.Line != 91 {
		t.Fatalf("%+v", a)
	}
}

// TestAttributeSaysWhenNothingTies: a leak whose allocations left no
// sample that grew names no frame, and says why, with the sampling rate.
func TestAttributeSaysWhenNothingTies(t *testing.T) {
	h := newHeapBuilder()
	same := heapSample{4000, 40, clientCall("(*S).stock", 20)}
	for _, c := range []struct {
		name      string
		base, now *profile.Profile
		own       snapshot.Own
		want      string
	}{
		{"nothing grew", h.profile(512*1024, same), h.profile(512*1024, same), svc, "no allocation sample ties this to your code; sampled at 512 KiB"},
		{"shrank", h.profile(512*1024, same), h.profile(512 * 1024), svc, "no allocation sample ties this to your code; sampled at 512 KiB"},
		{"no own code", h.profile(512), h.profile(512, same), snapshot.Own{}, "the service's own code could not be told apart"},
		{"no profile", nil, h.profile(512, same), svc, "no heap profile"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := snapshot.Attribute(c.base, c.now, clientThrough, c.own)
			if len(a.Sites) != 0 || !strings.Contains(a.NoTie, c.want) {
				t.Fatalf("%+v, want no site and %q", a, c.want)
			}
		})
	}
}

// TestOwnCodeFromTheMainGoroutine: without a binary to read, the
// service's module is inferred from the main goroutine's stack.
func TestOwnCodeFromTheMainGoroutine(t *testing.T) {
	for pkg, want := range map[string]string{
		"github.com/acme/shop/internal/server": "github.com/acme/shop",
		"example.com/svc/cmd/api":              "example.com/svc",
		"example.com/svc":                      "example.com/svc",
	} {
		s := &snapshot.Snapshot{Goroutines: []snapshot.Goroutine{{ID: 1, Frames: []snapshot.Frame{
			{Function: "internal/poll.runtime_pollWait"}, {Function: pkg + ".Run"}, {Function: "main.main"}}}}}
		own, ok := snapshot.OwnCode(s)
		if !ok || len(own.Modules) != 1 || own.Modules[0] != want || !strings.Contains(own.Source, "main goroutine") {
			t.Errorf("%s: %+v, %v; want %s", pkg, own, ok, want)
		}
	}
	if _, ok := snapshot.OwnCode(&snapshot.Snapshot{}); ok {
		t.Error("own code found in an empty snapshot")
	}
}

// BenchmarkAttribute is what attribution adds to a verdict: the service's
// own code found in a 30 MB debug=2 dump (100,000 goroutines), and five
// culprits attributed over heap profiles of 50,000 samples each, stacks
// 32 frames deep (a heap sampled every 512 bytes). Target: under 200 ms.
func BenchmarkAttribute(b *testing.B) {
	dump := benchDump(b, benchGoroutines)
	gs, err := snapshot.ParseGoroutines(dump)
	if err != nil {
		b.Fatal(err)
	}
	s := &snapshot.Snapshot{Dump: dump, Goroutines: gs}
	h := newHeapBuilder()
	sample := func(i int) heapSample {
		stack := make([]string, 0, 32)
		for d := range 24 {
			stack = append(stack, fmt.Sprintf("example.com/lib%d.f%d:%d", d, (i+d)%400, d))
		}
		stack = append(stack, clientCall(fmt.Sprintf("(*S).call%d", i%50), i%50)...)
		return heapSample{int64(512 + i%4096), 1, stack}
	}
	var base, now []heapSample
	for i := range 50_000 {
		base = append(base, sample(i))
		now = append(now, sample(i+i%3))
	}
	bp, np := h.profile(512, base...), h.profile(512, now...)
	groups := []snapshot.Group{
		{Conn: snapshot.HTTPClientBodyPending}, {Culprit: snapshot.Frame{Function: "net/http.(*persistConn).writeLoop"}},
		{Creator: snapshot.Frame{Function: "example.com/svc.(*S).call7"}, Culprit: snapshot.Frame{Function: "example.com/svc.(*S).call7.func1"}},
		{Creator: snapshot.Frame{Function: "example.com/lib3.f9"}}, {Creator: snapshot.Frame{Function: "example.com/lib20.f100"}},
	}
	var throughs [][]string
	for _, g := range groups {
		throughs = append(throughs, snapshot.Through(g))
	}
	runtime.GC() // the setup's garbage is not the attribution's
	var own, attr time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, ok := snapshot.OwnCode(s); !ok {
			b.Fatal("no main goroutine in the dump")
		}
		t1 := time.Now()
		as := snapshot.AttributeAll(bp, np, throughs, svc)
		if len(as[0].Sites) == 0 {
			b.Fatalf("nothing attributed: %+v", as[0])
		}
		own, attr = own+t1.Sub(t0), attr+time.Since(t1)
	}
	b.ReportMetric(float64(own.Milliseconds())/float64(b.N), "owncode-ms/op")
	b.ReportMetric(float64(attr.Milliseconds())/float64(b.N), "attribute-ms/op")
	b.ReportMetric(float64(len(dump))/1e6, "dump-MB")
}
