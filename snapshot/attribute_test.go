package snapshot_test

import (
	"cmp"
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
				// "fn:line", or "fn:line:file".
				name, rest, _ := strings.Cut(fr, ":")
				line, file, _ := strings.Cut(rest, ":")
				fn := h.fns[name]
				if fn == nil {
					fn = &profile.Function{ID: uint64(len(h.fns) + 1), Name: name, Filename: cmp.Or(file, "/src/"+name+".go")}
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

var svc = snapshot.NewCode("", "", "example.com/svc", []string{"example.com/svc/contrib", "example.com/lib"}, "test")

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
		"google.golang.org/grpc.(*ClientConn).NewStream:200", "example.com/svc/shop/pb.(*shopClient).Reserve:50:/src/shop/pb/shop_grpc.pb.go",
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
		own       *snapshot.Code
		want      string
	}{
		{"nothing grew", h.profile(512*1024, same), h.profile(512*1024, same), svc, "no allocation sample ties this to your code: none of the call sites grew; sampled at 512 KiB"},
		{"shrank", h.profile(512*1024, same), h.profile(512 * 1024), svc, "no allocation sample ties this to your code: no live sample passes through"},
		{"not through", h.profile(512), h.profile(512, heapSample{4000, 40, []string{"runtime.makechan:1", "example.com/svc.(*S).cache:7"}}), svc,
			"no live sample passes through net/http.(*Client).do or net/http.(*Transport).roundTrip; sampled at 512 B"},
		{"through, from no code of yours", h.profile(512), h.profile(512, heapSample{4000, 40, clientCall("(*S).stock", 20)[:5]}), svc,
			"the 1 live samples through net/http.(*Client).do or net/http.(*Transport).roundTrip reach no frame of your code (module example.com/svc (test))"},
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

// TestCode: with build info, the longest module a package falls under
// decides (a dependency nested under the main module's path is not the
// service's); without, a frame whose file lies in GOROOT is the standard
// library's, one in a module cache or a vendor directory a dependency's,
// and the rest, dot or no dot in its path, the service's own.
func TestCode(t *testing.T) {
	byFile := snapshot.NewCode("", "/usr/local/go", "", nil, "test")
	trimmed := snapshot.NewCode("go1.26.8", "", "", nil, "test")
	shop := snapshot.NewCode("go1.26.8", "/usr/local/go", "shop", []string{"github.com/spf13/cobra", "shop/tools"}, "test")
	var none *snapshot.Code
	for _, c := range []struct {
		code *snapshot.Code
		f    snapshot.Frame
		want snapshot.Owner
	}{
		{svc, snapshot.Frame{Function: "example.com/svc/shop.(*S).pay", File: "/src/shop/pay.go"}, snapshot.Own},
		{svc, snapshot.Frame{Function: "example.com/svc/contrib/retry.Do", File: "/src/contrib/retry.go"}, snapshot.Dependency},
		{svc, snapshot.Frame{Function: "main.main", File: "/src/main.go"}, snapshot.Own},
		{svc, snapshot.Frame{Function: "net/http.(*Client).Do", File: "/go/src/net/http/client.go"}, snapshot.Std},
		{shop, snapshot.Frame{Function: "shop/compactor.(*Compactor).run", File: "/src/shop/compactor/c.go"}, snapshot.Own},
		{shop, snapshot.Frame{Function: "shop/tools/gen.Run", File: "/src/shop/tools/gen/run.go"}, snapshot.Dependency},
		{shop, snapshot.Frame{Function: "github.com/spf13/cobra.(*Command).Execute", File: "/root/go/pkg/mod/github.com/spf13/cobra@v1.8.0/command.go"}, snapshot.Dependency},
		{shop, snapshot.Frame{Function: "net/http.(*conn).serve", File: "/usr/local/go/src/net/http/server.go"}, snapshot.Std},
		{shop, snapshot.Frame{Function: "iter.Pull.func1", File: "/usr/local/go/src/iter/iter.go"}, snapshot.Std},
		{byFile, snapshot.Frame{Function: "shop/compactor.(*Compactor).run", File: "/home/ci/shop/compactor/c.go"}, snapshot.Own},
		{byFile, snapshot.Frame{Function: "github.com/acme/shop/server.(*S).pay", File: "/home/ci/shop/server/pay.go"}, snapshot.Own},
		{byFile, snapshot.Frame{Function: "github.com/spf13/cobra.(*Command).Execute", File: "/root/go/pkg/mod/github.com/spf13/cobra@v1.8.0/command.go"}, snapshot.Dependency},
		{byFile, snapshot.Frame{Function: "github.com/lib/pq.(*conn).query", File: "/home/ci/shop/vendor/github.com/lib/pq/conn.go"}, snapshot.Dependency},
		{byFile, snapshot.Frame{Function: "net/http.(*Client).Do", File: "/usr/local/go/src/net/http/client.go"}, snapshot.Std},
		{byFile, snapshot.Frame{Function: "gopkg.in/yaml%2ev3.(*decoder).unmarshal", File: "/root/go/pkg/mod/gopkg.in/yaml.v3@v3.0.1/decode.go"}, snapshot.Dependency},
		// -trimpath: std by the release's package list, dependencies by
		// module@version, the rest own.
		{trimmed, snapshot.Frame{Function: "net/http.(*conn).serve", File: "net/http/server.go"}, snapshot.Std},
		{trimmed, snapshot.Frame{Function: "shop/compactor.(*Compactor).run", File: "shop/compactor/c.go"}, snapshot.Own},
		{trimmed, snapshot.Frame{Function: "github.com/spf13/cobra.(*Command).Execute", File: "github.com/spf13/cobra@v1.8.0/command.go"}, snapshot.Dependency},
		// No facts at all.
		{none, snapshot.Frame{Function: "sync.(*WaitGroup).Wait"}, snapshot.Std},
		{none, snapshot.Frame{Function: "shop/compactor.(*Compactor).run"}, snapshot.Own},
	} {
		if got := c.code.Owner(c.f); got != c.want {
			t.Errorf("%s (%s) with %s: %s, want %s", c.f.Function, c.f.File, c.code, got, c.want)
		}
	}
}

// TestSnapshotCode: a snapshot's rule reads the target's GOROOT and Go
// release from its runtime frames; without the binary here, no build info.
func TestSnapshotCode(t *testing.T) {
	gs, err := snapshot.ParseGoroutines(`goroutine 5 [chan send]:
shop/compactor.(*Compactor).run(0xc000010000)
	/src/shop/compactor/c.go:42 +0x85
created by shop/compactor.(*Compactor).Start in goroutine 1
	/src/shop/compactor/c.go:20 +0x1d

goroutine 6 [select]:
runtime.gopark(0x1)
	/root/go/pkg/mod/golang.org/toolchain@v0.0.1-go1.25.3.linux-amd64/src/runtime/proc.go:460 +0xce
net/http.(*persistConn).readLoop(0xc0001)
	/root/go/pkg/mod/golang.org/toolchain@v0.0.1-go1.25.3.linux-amd64/src/net/http/transport.go:2450 +0xc05
`)
	if err != nil {
		t.Fatal(err)
	}
	code := (&snapshot.Snapshot{Goroutines: gs}).Code()
	if code.GOROOT != "/root/go/pkg/mod/golang.org/toolchain@v0.0.1-go1.25.3.linux-amd64" || code.GoVersion != "go1.25.3" || code.Main != "" {
		t.Errorf("code %+v", code)
	}
	if c := gs[0].Culprit(code); c.Function != "shop/compactor.(*Compactor).run" {
		t.Errorf("culprit %v", c)
	}
	if o := code.Owner(gs[1].Frames[1]); o != snapshot.Std {
		t.Errorf("readLoop under GOROOT: %s", o)
	}
}

// TestAttributePastWrappers: the service's own transport wrapper sits
// between the client's frames; the call site is outward of the outermost.
func TestAttributePastWrappers(t *testing.T) {
	h := newHeapBuilder()
	stack := []string{"net/http.(*persistConn).roundTrip:2911", "net/http.(*Transport).roundTrip:704", "net/http.(*Transport).RoundTrip:33",
		"example.com/svc/auth.(*RT).RoundTrip:12", "net/http.send:264", "net/http.(*Client).do:733", "net/http.(*Client).Do:592",
		"example.com/svc.(*S).stock:20", "example.com/svc.(*S).handle:40"}
	a := snapshot.Attribute(h.profile(512), h.profile(512, heapSample{8192, 10, stack}), clientThrough, svc)
	if len(a.Sites) != 1 || a.Sites[0].Site.Function != "example.com/svc.(*S).stock" || a.Sites[0].Samples != 1 {
		t.Fatalf("%+v", a)
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
	s := &snapshot.Snapshot{Dump: dump, Goroutines: gs, HeapProfile: np}
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
		if code := s.Code(); code == nil {
			b.Fatal("no code")
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

// TestGroupLabels: the label sets of the goroutines parked in a function
// that grew, the unlabelled ones counted beside them; none when nothing
// labelled grew.
func TestGroupLabels(t *testing.T) {
	h := newHeapBuilder()
	gp := func(samples ...*profile.Sample) *profile.Profile {
		p := h.profile(1)
		p.SampleType = []*profile.ValueType{{Type: "goroutine", Unit: "count"}}
		p.Sample = samples
		return p
	}
	loc := h.profile(1, heapSample{1, 1, []string{"runtime.gopark:1", "example.com/svc.(*S).ask:9", "example.com/svc.(*S).quote:5"}}).Sample[0].Location
	smp := func(n int64, labels map[string][]string) *profile.Sample {
		return &profile.Sample{Location: loc, Value: []int64{n}, Label: labels}
	}
	quote := map[string][]string{"handler": {"/quote"}}
	base := gp(smp(2, quote))
	now := gp(smp(30, quote), smp(4, nil), smp(1, map[string][]string{"handler": {"/old"}}))
	snap := func(p *profile.Profile) *snapshot.Snapshot {
		return &snapshot.Snapshot{Light: true, GoroutineProfile: p}
	}
	ask := snapshot.GroupKey{Culprit: "example.com/svc.(*S).ask"}
	got := snapshot.GroupLabels(snap(base), snap(now), ask)
	if len(got) != 3 || got[0].Labels != "handler=/quote" || got[0].Extra() != 28 || got[1].Labels != "" || got[1].Extra() != 4 {
		t.Fatalf("%+v", got)
	}
	if got := snapshot.GroupLabels(snap(gp(smp(2, nil))), snap(gp(smp(9, nil))), ask); got != nil {
		t.Errorf("nothing labelled: %+v", got)
	}
}
