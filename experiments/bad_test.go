package experiments

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// edit replaces lines from..to (1-based, inclusive) of testdata/good.yaml
// with repl; repl may span several lines or be empty to delete.
type edit struct {
	from, to int
	repl     string
}

func (e edit) apply(t *testing.T, base string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(base, "\n"), "\n")
	if e.from < 1 || e.to > len(lines) || e.from > e.to {
		t.Fatalf("bad edit %+v of %d lines", e, len(lines))
	}
	var out []string
	out = append(out, lines[:e.from-1]...)
	if e.repl != "" {
		out = append(out, strings.Split(e.repl, "\n")...)
	}
	out = append(out, lines[e.to:]...)
	return strings.Join(out, "\n") + "\n"
}

func line(n int, repl string) edit { return edit{n, n, repl} }

// netnsUpstream replaces line 12 of testdata/good.yaml to put the payments
// upstream on engine netns.
const netnsUpstream = "      protocol: http\n      engine: netns"

// goodLines returns lines from..to of testdata/good.yaml, as they are.
func goodLines(from, to int) string {
	b, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		panic(err)
	}
	lines := strings.Split(string(b), "\n")
	return strings.Join(lines[from-1:to], "\n")
}

// TestBadDrills is the table of bad files: each must fail with a problem
// line that names the file, the line (and column where there is one) and
// the field path, and says what is wrong.
func TestBadDrills(t *testing.T) {
	base, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("good.yaml", base); err != nil {
		t.Fatalf("the base of the table must load: %v", err)
	}
	cases := []badCase{
		{"yaml syntax error", line(17, "    rate: 50: 3"), nil, "17", "", []string{"yaml syntax"}},
		{"unknown field", line(23, "      durations: 10s"), nil, "23:7", "spec.faults[0].durations", []string{`unknown field "durations"`, `did you mean "duration"`, "allowed: name, upstream, duration"}},
		{"unknown field in chaos mesh block", line(24, "      networkChaos: {action: delay, delay: {latency: 500ms, jiter: 5ms}}"), nil, "24:61", "spec.faults[0].networkChaos.delay.jiter", []string{`did you mean "jitter"`}},
		{"duplicate key", line(19, "  warmup: 3s\n  warmup: 4s"), nil, "20:3", "spec.warmup", []string{"written twice"}},
		{"bad duration", line(23, "      duration: 10"), nil, "23:17", "spec.faults[0].duration", []string{"no unit", `"10s"`}},
		{"bad chaos mesh latency", line(24, "      networkChaos: {action: delay, delay: {latency: 500, jitter: 50ms}}"), nil, "24:54", "spec.faults[0].networkChaos.delay.latency", []string{"no unit"}},
		{"negative rate", line(17, "    rate: -5"), nil, "17:11", "spec.load.rate", []string{"must be > 0"}},
		{"rate not a number", line(17, "    rate: fast"), nil, "17:11", "spec.load.rate", []string{"not an integer"}},
		{"unknown action", line(24, "      networkChaos: {action: dely, delay: {latency: 500ms}}"), nil, "24:30", "spec.faults[0].networkChaos.action", []string{`unknown action "dely"`, "allowed: delay, partition, bandwidth"}},
		{"unknown direction", line(24, "      networkChaos: {action: delay, direction: sideways, delay: {latency: 500ms}}"), nil, "24:48", "spec.faults[0].networkChaos.direction", []string{`"sideways"`, "allowed: to, from, both"}},
		{"unknown upstream", line(22, "      upstream: paymnts"), nil, "22:17", "spec.faults[0].upstream", []string{`unknown upstream "paymnts"`, `did you mean "payments"`, "allowed: payments, inventory"}},
		{"fault naming no upstream", edit{22, 22, ""}, nil, "21:7", "spec.faults[0].upstream", []string{"needs an upstream", "allowed: payments, inventory"}},
		{"httpChaos on a tcp upstream", line(26, "      upstream: inventory"), nil, "28:18", "spec.faults[1].httpChaos", []string{`upstream "inventory" is protocol tcp`, "protocol: http"}},
		{"missing target url", line(7, "    pprof: http://127.0.0.1:6060/debug/pprof"), nil, "7:5", "spec.target.url", []string{"target url is required"}},
		{"missing target", edit{6, 7, ""}, nil, "6:3", "spec.target.url", []string{"target url is required"}},
		{"bad url", line(7, "    url: 127.0.0.1:8080"), nil, "7:10", "spec.target.url", []string{"bad URL"}},
		{"url without http scheme", line(7, "    url: ftp://127.0.0.1:8080"), nil, "7:10", "spec.target.url", []string{"scheme http or https"}},
		{"unset variable", line(7, "    url: ${AFTERSHOCK_TEST_UNSET_URL}"), []Option{WithLookup(func(string) (string, bool) { return "", false })}, "7:10", "spec.target.url", []string{"${AFTERSHOCK_TEST_UNSET_URL} is not set"}},
		{"duplicate fault name", line(25, "    - name: slow-payments"), nil, "25:13", "spec.faults[1].name", []string{`"slow-payments" is already used by spec.faults[0]`}},
		{"duplicate upstream name", line(13, "    - name: payments"), nil, "13:13", "spec.upstreams[1].name", []string{"already used"}},
		{"bad size", line(34, "    heap: {maxGrowth: 1MiBs}"), nil, "34:23", "spec.verify.heap.maxGrowth", []string{"bad growth", `"1MiB"`}},
		{"bad percent", line(36, "      recovery: {successRate: 99, within: 5s}"), nil, "36:31", "spec.verify.slo.recovery.successRate", []string{"% sign"}},
		{"percent over 100", line(36, "      recovery: {successRate: 199%, within: 5s}"), nil, "36:31", "spec.verify.slo.recovery.successRate", []string{"outside 0%..100%"}},
		{"stalledClients bad mode", line(31, "      stalledClients: {mode: slowread, count: 50, path: /stream}"), nil, "31:30", "spec.faults[2].stalledClients.mode", []string{`"slowread"`, "allowed: slowloris, slow-read, idle, abandon", `did you mean "slow-read"`}},
		{"stalledClients count too large", line(31, "      stalledClients: {mode: slow-read, count: 100000, path: /stream}"), nil, "31:48", "spec.faults[2].stalledClients.count", []string{"above 20000"}},
		{"stalledClients field the mode does not use", line(31, "      stalledClients: {mode: idle, count: 5, rate: 20}"), nil, "31:52", "spec.faults[2].stalledClients.rate", []string{"not used by mode idle", "only by abandon"}},
		{"stalledClients bad chunk size", line(31, "      stalledClients: {mode: slow-read, count: 5, path: /stream, chunkSize: 999999}"), nil, "31:77", "spec.faults[2].stalledClients.chunkSize", []string{"out of range"}},
		{"stalledClients with an upstream", line(30, "      duration: 10s\n      upstream: payments"), nil, "31:17", "spec.faults[2].upstream", []string{"act on spec.target"}},
		{"two fault kinds in one block", line(28, "      httpChaos: {target: Response, replace: {code: 503}}\n      networkChaos: {action: delay, delay: {latency: 1s}}"), nil, "29:21", "spec.faults[1].networkChaos", []string{"both httpChaos and networkChaos", "exactly one kind"}},
		{"fault with no kind", edit{31, 31, ""}, nil, "29:7", "spec.faults[2]", []string{"has no kind", "allowed: networkChaos, httpChaos, grpcChaos, stalledClients"}},
		{"no faults", edit{20, 31, "  faults: []"}, nil, "20:11", "spec.faults", []string{"at least one fault"}},
		{"bad metadata.name", line(4, "  name: Payments_Slow"), nil, "4:9", "metadata.name", []string{"DNS-1123 label"}},
		{"missing metadata.name", line(4, "  namespace: demo"), nil, "4:3", "metadata.name", []string{"name is required"}},
		{"unknown apiVersion", line(1, "apiVersion: aftershock.dev/v2"), nil, "1:13", "apiVersion", []string{`unknown apiVersion "aftershock.dev/v2"`, "allowed: aftershock.dev/v1alpha1"}},
		{"unknown kind", line(2, "kind: Drll"), nil, "2:7", "kind", []string{`unknown kind "Drll"`, "allowed: Drill"}},
		{"engine cannot honour action", line(24, `      networkChaos: {action: loss, loss: {loss: "25"}}`), nil, "24:30", "spec.faults[0].networkChaos.action", []string{`proxy engine cannot inject action "loss"`, "netns, chaos-mesh", "allowed: delay, partition, bandwidth"}},
		{"netns fault on a proxy upstream", line(23, "      duration: 10s\n      engine: netns"), nil, "24:15", "spec.faults[0].engine", []string{"engine netns needs its upstream on engine netns", `"payments" is on proxy`}},
		{"netns cannot inject duplicate", edit{12, 24, netnsUpstream + "\n" + goodLines(13, 23) + "\n" + `      networkChaos: {action: duplicate, duplicate: {duplicate: "5"}}`}, nil, "25:30", "spec.faults[0].networkChaos.action", []string{"netns engine cannot inject", "allowed: delay, loss, partition, bandwidth"}},
		{"httpChaos on a netns upstream", line(12, netnsUpstream), nil, "29:18", "spec.faults[1].httpChaos", []string{"needs an upstream on the proxy engine", "relay forwards TCP"}},
		{"bad protocol", line(12, "      protocol: udp"), nil, "12:17", "spec.upstreams[0].protocol", []string{`"udp"`, "allowed: tcp, http"}},
		{"bad engine", line(14, "      listen: 127.0.0.1:9101\n      engine: ebpf"), nil, "15:15", "spec.upstreams[1].engine", []string{`"ebpf"`, "allowed: proxy, netns, chaos-mesh"}},
		{"bad httpChaos target", line(28, "      httpChaos: {target: Body, replace: {code: 503}}"), nil, "28:27", "spec.faults[1].httpChaos.target", []string{`"Body"`, "allowed: Request, Response"}},
		{"httpChaos without action", line(28, "      httpChaos: {target: Response}"), nil, "28:18", "spec.faults[1].httpChaos", []string{"needs an action", "allowed: abort, delay, replace, patch"}},
		{"httpChaos tls on the proxy", line(28, "      httpChaos: {target: Response, abort: true, tls: {secretName: s, secretNamespace: n, certName: c, keyName: k}}"), nil, "28:55", "spec.faults[1].httpChaos.tls", []string{"proxy engine cannot honour tls"}},
		{"bad status code", line(28, "      httpChaos: {target: Response, replace: {code: 999}}"), nil, "28:53", "spec.faults[1].httpChaos.replace.code", []string{"not an HTTP status code"}},
		{"block the action ignores", line(24, `      networkChaos: {action: delay, delay: {latency: 1s}, loss: {loss: "5"}}`), nil, "24:65", "spec.faults[0].networkChaos.loss", []string{`no effect with action "delay"`}},
		{"bad bandwidth rate", line(24, "      networkChaos: {action: bandwidth, bandwidth: {rate: 1xbps, limit: 100, buffer: 100}}"), nil, "24:59", "spec.faults[0].networkChaos.bandwidth.rate", []string{"bad rate", "mbps"}},
		{"listen port 0", line(10, "      listen: 127.0.0.1:0"), nil, "10:15", "spec.upstreams[0].listen", []string{"port 0"}},
		{"bad listen address", line(10, "      listen: payments"), nil, "10:15", "spec.upstreams[0].listen", []string{"want host:port"}},
		{"expected a list", line(18, "    requests: {method: GET}"), nil, "18:15", "spec.load.requests", []string{"expected a list, got a mapping"}},
		{"request path not absolute", line(18, "    requests: [{method: GET, path: checkout}]"), nil, "18:36", "spec.load.requests[0].path", []string{"must start with /"}},
		{"bad request method", line(18, "    requests: [{method: FETCH, path: /checkout}]"), nil, "18:25", "spec.load.requests[0].method", []string{`"FETCH"`, "allowed: GET"}},
		{"negative settle", line(33, "    settle: -1s"), nil, "33:13", "spec.verify.settle", []string{"negative"}},
		{"too many cycles", line(33, "    settle: 20s\n    cycles: 11"), nil, "34:13", "spec.verify.cycles", []string{"11 cycles: want 1 to 10"}},
		{"bad allowHosts entry", line(19, "  warmup: 3s\n  allowHosts: [10.0.0.0/33]"), nil, "20:16", "spec.allowHosts[0]", []string{"bad CIDR"}},
		{"block duration disagrees", line(24, "      networkChaos: {action: delay, duration: 3s, delay: {latency: 1s}}"), nil, "24:47", "spec.faults[0].networkChaos.duration", []string{"disagrees with the fault's duration 10s"}},
		{"chaos mesh selector value", line(24, "      networkChaos: {action: delay, mode: fixed-percent, value: \"150\", delay: {latency: 1s}}"), nil, "24:65", "spec.faults[0].networkChaos.value", []string{"chaos mesh", "(0,100]"}},
		{"cluster engine needs a selector", line(1, "apiVersion: aftershock.dev/v1alpha1"), []Option{WithEngine(EngineChaosMesh)}, "24:21", "spec.faults[0].networkChaos.selector", []string{"chaos-mesh engine needs a selector"}},
		{"cluster engine needs a port", line(1, "apiVersion: aftershock.dev/v1alpha1"), []Option{WithEngine(EngineChaosMesh)}, "28:18", "spec.faults[1].httpChaos.port", []string{"needs port"}},
	}
	if len(cases) < 20 {
		t.Fatalf("the table needs at least 20 cases, has %d", len(cases))
	}
	runBad(t, string(base), cases)
}

// badCase is one bad file of a table: an edit of a good file.
type badCase struct {
	name string
	edit edit
	opts []Option
	// at is "line" or "line:col"; path is the field path; want are
	// further substrings of that same problem line.
	at   string
	path string
	want []string
}

// runBad loads each case's edit of base, which must fail with a problem
// line at the case's place and path that says what the case wants.
func runBad(t *testing.T, base string, cases []badCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			data := c.edit.apply(t, base)
			d, err := Parse("bad.yaml", []byte(data), c.opts...)
			if err == nil {
				t.Fatalf("loaded without error:\n%s\nas %+v", data, d.Spec)
			}
			ps, ok := AsProblems(err)
			if !ok {
				t.Fatalf("error is %T, not Problems: %v", err, err)
			}
			prefix := "bad.yaml:" + c.at + ":"
			if !strings.Contains(c.at, ":") {
				prefix = "bad.yaml:" + c.at + ": "
			}
			for _, p := range ps {
				msg := p.Error()
				if !strings.HasPrefix(msg, prefix) || (c.path != "" && !strings.Contains(msg, " "+c.path+": ")) {
					continue
				}
				for _, w := range c.want {
					if !strings.Contains(msg, w) {
						t.Errorf("problem %q lacks %q", msg, w)
					}
				}
				if strings.Count(err.Error(), "\n")+1 != len(ps) {
					t.Errorf("Error() prints %d lines for %d problems", strings.Count(err.Error(), "\n")+1, len(ps))
				}
				return
			}
			t.Errorf("no problem at %s with path %q; got:\n%v\nfile:\n%s", prefix, c.path, err, numbered(data))
		})
	}
}

func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(s, "\n") {
		b.WriteString(strconv.Itoa(i+1) + "\t" + l + "\n")
	}
	return b.String()
}

// grpcLines returns lines from..to of testdata/grpc.yaml, as they are.
func grpcLines(from, to int) string {
	b, err := os.ReadFile("testdata/grpc.yaml")
	if err != nil {
		panic(err)
	}
	return strings.Join(strings.Split(string(b), "\n")[from-1:to], "\n")
}

// TestBadGRPCDrills is the table of bad gRPC drills, edits of
// testdata/grpc.yaml: the gRPC target, its load and grpcChaos.
func TestBadGRPCDrills(t *testing.T) {
	base, err := os.ReadFile("testdata/grpc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse("grpc.yaml", base)
	if err != nil {
		t.Fatalf("the base of the table must load: %v", err)
	}
	if len(d.Spec.Load.GRPC) != 2 || d.Spec.Faults[0].GRPCChaos.Abort.Code != "Unavailable" || d.Spec.Faults[1].GRPCChaos.Delay.Jitter.Duration != 100*time.Millisecond {
		t.Fatalf("the base loaded as %+v", d.Spec)
	}
	runBad(t, string(base), []badCase{
		{"grpc target without pprof", edit{8, 8, ""}, nil, "7:5", "spec.target.pprof", []string{"needs its pprof"}},
		{"grpc target with a path", line(7, "    url: grpc://127.0.0.1:8443/shop"), nil, "7:10", "spec.target.url", []string{"has a path"}},
		{"grpc target without a port", line(7, "    url: grpc://127.0.0.1"), nil, "7:10", "spec.target.url", []string{"needs a host and a port"}},
		{"http requests to a grpc target", edit{16, 18, "    requests: [{method: GET, path: /}]"}, nil, "16:15", "spec.load.requests", []string{"its load is spec.load.grpc"}},
		{"grpc load on an http target", edit{7, 8, "    url: http://127.0.0.1:8080"}, nil, "16:7", "spec.load.grpc", []string{"needs a gRPC target"}},
		{"grpc load and requests", line(15, "    rate: 40\n    requests: [{method: GET, path: /}]"), nil, "18:7", "spec.load.grpc", []string{"not both"}},
		{"grpc load method not full", line(18, "      - {method: Watch}"), nil, "18:18", "spec.load.grpc[1].method", []string{`"Watch" is not a full method name`}},
		{"grpc load message not json", line(17, "      - {method: /shop.Shop/Checkout, message: '{sku'}"), nil, "17:48", "spec.load.grpc[0].message", []string{"not JSON"}},
		{"stalled clients of a grpc target", edit{26, 28, "      duration: 5s\n      stalledClients: {mode: idle, count: 5}"}, nil, "27:23", "spec.faults[1].stalledClients", []string{"target grpc://127.0.0.1:8443 is gRPC"}},
		{"grpcChaos on an http upstream", line(13, "      protocol: http"), nil, "24:18", "spec.faults[0].grpcChaos", []string{"needs a grpc upstream", `"inventory" is protocol http`}},
		{"grpcChaos on the cluster engine", line(13, "      protocol: grpc\n      engine: chaos-mesh"), nil, "25:18", "spec.faults[0].grpcChaos", []string{"Chaos Mesh cannot fault gRPC calls", "chaos-mesh#2611"}},
		{"grpcChaos on netns", line(13, "      protocol: grpc\n      engine: netns"), nil, "25:18", "spec.faults[0].grpcChaos", []string{"relay forwards TCP"}},
		{"grpcChaos without action", line(24, "      grpcChaos: {methods: [/inventory.Inventory/*]}"), nil, "24:18", "spec.faults[0].grpcChaos", []string{"needs an action", "allowed: abort, delay, reset"}},
		{"grpcChaos abort and reset", line(24, "      grpcChaos: {abort: {code: Unavailable}, reset: true}"), nil, "24:54", "spec.faults[0].grpcChaos.reset", []string{"choose one"}},
		{"grpcChaos unknown code", line(24, "      grpcChaos: {abort: {code: Unavailabel}}"), nil, "24:33", "spec.faults[0].grpcChaos.abort.code", []string{`unknown gRPC status code "Unavailabel"`, `did you mean "Unavailable"`}},
		{"grpcChaos abort without code", line(24, "      grpcChaos: {abort: {message: down}}"), nil, "24:26", "spec.faults[0].grpcChaos.abort.code", []string{"needs a code"}},
		{"grpcChaos jitter over latency", line(28, "      grpcChaos: {delay: {latency: 100ms, jitter: 1s}}"), nil, "28:51", "spec.faults[1].grpcChaos.delay.jitter", []string{"more than the latency"}},
		{"grpcChaos zero latency", line(28, "      grpcChaos: {delay: {latency: 0s}}"), nil, "28:36", "spec.faults[1].grpcChaos.delay.latency", []string{"must be > 0"}},
		{"grpcChaos percent over 100", line(24, "      grpcChaos: {percent: 150%, abort: {code: Unavailable}}"), nil, "24:28", "spec.faults[0].grpcChaos.percent", []string{"outside 0%..100%"}},
		{"grpcChaos method not full", line(24, "      grpcChaos: {excludedMethods: [Check], abort: {code: Unavailable}}"), nil, "24:37", "spec.faults[0].grpcChaos.excludedMethods[0]", []string{`"Check" is not a full method name`}},
		{"grpcChaos bad engine", line(23, "      duration: 5s\n      engine: bogus"), nil, "24:15", "spec.faults[0].engine", []string{`"bogus"`, "allowed: proxy, netns, chaos-mesh"}},
		{"httpChaos on HTTP/2 for Chaos Mesh", edit{13, 28, "      protocol: grpc\n      engine: chaos-mesh\n" + grpcLines(14, 27) + "\n      httpChaos: {target: Response, port: 9200, replace: {code: 503}}"}, nil, "29:18", "spec.faults[1].httpChaos", []string{"HTTP/1 only", "chaos-mesh#2611", "runs on engine proxy"}},
		{"grpcChaos unknown field", line(24, "      grpcChaos: {abort: {code: Unavailable}, delai: {latency: 1s}}"), nil, "24:47", "spec.faults[0].grpcChaos.delai", []string{`did you mean "delay"`}},
	})
}
