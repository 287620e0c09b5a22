package main_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aftershock/aftershock/fixtures/kubetest"
	"github.com/aftershock/aftershock/fixtures/ports"
	"github.com/aftershock/aftershock/injectors/chaosmesh"
	"github.com/aftershock/aftershock/injectors/chaosmesh/chaosmeshtest"
	"github.com/aftershock/aftershock/snapshot"
)

// base is a valid drill; the bad-input table edits one line of it.
const base = `apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata:
  name: table
spec:
  target:
    url: http://127.0.0.1:8080
  upstreams:
    - name: payments
      listen: 127.0.0.1:9100
      forward: 127.0.0.1:9200
  load:
    rate: 50
    requests: [{method: GET, path: /checkout}]
  warmup: 1s
  faults:
    - name: slow
      upstream: payments
      duration: 5s
      networkChaos: {action: delay, delay: {latency: 500ms}}
  verify:
    settle: 10s
`

// TestBadDrillFilesExit2 is the table of bad Drill files: each exits 2
// with file:line and the field path on stderr, and nothing runs.
func TestBadDrillFilesExit2(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		line       int // 1-based line of base to replace
		repl       string
		where, why string // "line" or "line:col", and a substring of the message
		path       string
	}{
		{"yaml syntax error", 13, "    rate: 50: 3", "13", "yaml", ""},
		{"unknown field", 19, "      durations: 5s", "19:7", "unknown field", "spec.faults[0].durations"},
		{"bad duration", 19, "      duration: 5", "19:17", "no unit", "spec.faults[0].duration"},
		{"negative rate", 13, "    rate: -5", "13:11", "rate", "spec.load.rate"},
		{"unknown action", 20, "      networkChaos: {action: explode}", "20:30", "explode", "spec.faults[0].networkChaos.action"},
		{"unknown direction", 20, "      networkChaos: {action: delay, direction: up, delay: {latency: 1s}}", "20", "up", "spec.faults[0].networkChaos.direction"},
		{"unknown upstream", 18, "      upstream: paymnets", "18:17", "unknown upstream", "spec.faults[0].upstream"},
		{"httpChaos on a tcp upstream", 20, "      httpChaos: {target: Response, replace: {code: 503}}", "20", "protocol", "spec.faults[0].httpChaos"},
		{"missing target", 7, "    pprof: http://127.0.0.1:6060/debug/pprof", "7", "required", "spec.target.url"},
		{"bad target url", 7, "    url: ftp://127.0.0.1", "7:10", "url", "spec.target.url"},
		{"bad latency", 20, "      networkChaos: {action: delay, delay: {latency: fast}}", "20", "fast", "spec.faults[0].networkChaos.delay.latency"},
		{"bad heap size", 22, "    settle: 10s\n    heap: {maxGrowth: 1MiBs}", "23", "1MiBs", "spec.verify.heap.maxGrowth"},
		{"bad percent", 22, "    settle: 10s\n    slo: {recovery: {successRate: 99, within: 5s}}", "23", "99", "spec.verify.slo.recovery.successRate"},
		{"bad stall mode", 20, "      stalledClients: {mode: sleepy, count: 5}", "20", "sleepy", "spec.faults[0].stalledClients.mode"},
		{"two fault kinds", 20, "      networkChaos: {action: delay, delay: {latency: 1s}}\n      stalledClients: {mode: idle, count: 5}", "", "exactly one", "spec.faults[0]"},
		{"bad metadata name", 4, "  name: Not_A_Label", "4:9", "Not_A_Label", "metadata.name"},
		{"unknown kind", 2, "kind: Experiment", "2:7", "Experiment", "kind"},
		{"action the proxy cannot honour", 20, "      networkChaos: {action: loss, loss: {loss: '50'}}", "20", "loss", "spec.faults[0].networkChaos.action"},
		{"non-loopback target", 7, "    url: http://198.18.0.10:8080", "7", "allow", "spec.target.url"},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lines := strings.Split(base, "\n")
			lines[tc.line-1] = tc.repl
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errs := aftershock(t, nil, "drill", file)
			if code != 2 {
				t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			at := regexp.QuoteMeta(file)
			if tc.where != "" {
				at += ":" + regexp.QuoteMeta(tc.where)
			}
			if !regexp.MustCompile(at).MatchString(errs) {
				t.Errorf("stderr does not cite %s:%s:\n%s", file, tc.where, errs)
			}
			if !strings.Contains(errs, tc.path) || !strings.Contains(errs, tc.why) {
				t.Errorf("stderr does not name %q with %q:\n%s", tc.path, tc.why, errs)
			}
			if strings.Contains(errs, "] inject") || strings.Contains(errs, "] warmup") {
				t.Errorf("nothing may run for a bad file:\n%s", errs)
			}
		})
	}
}

// TestUsageErrorsExit2: flags and arguments the command does not take.
func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"drill"}, {"drill", "--bogus", "x.yaml"}, {"--output=xml", "drill", "x.yaml"}, {"nonsense"}, {"drill", "/does/not/exist.yaml"}} {
		if code, _, errs := aftershock(t, nil, args...); code != 2 {
			t.Errorf("aftershock %v: exit %d, want 2; stderr:\n%s", args, code, errs)
		}
	}
}

// TestCouldNotRunExit3: a target that does not answer, a target without
// pprof, and a busy proxy port each exit 3 with a clear message.
func TestCouldNotRunExit3(t *testing.T) {
	heavy(t)
	st := startStack(t, nil, []string{"all"})
	dead, err := ports.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name, url, pprof, listen, want string
	}{
		{"target unreachable", "http://" + dead, "", st.ProxyAddr, "does not answer"},
		{"no pprof", st.Shop.URL, st.Shop.URL + "/debug/pprof", st.ProxyAddr, "pprof"},
		{"proxy port busy", st.Shop.URL, st.Shop.Pprof, busy.Addr().String(), "address already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			drill := strings.Replace(base, "    url: http://127.0.0.1:8080", "    url: "+tc.url, 1)
			if tc.pprof != "" {
				drill = strings.Replace(drill, "  upstreams:", "    pprof: "+tc.pprof+"\n  upstreams:", 1)
			}
			drill = strings.Replace(drill, "127.0.0.1:9100", tc.listen, 1)
			drill = strings.Replace(drill, "127.0.0.1:9200", st.Payments.Addr(), 1)
			file := filepath.Join(t.TempDir(), "drill.yaml")
			if err := os.WriteFile(file, []byte(drill), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errs := aftershock(t, nil, "drill", file)
			if code != 3 {
				t.Fatalf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			if !strings.Contains(errs, tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, errs)
			}
			if strings.Contains(errs, "inject") {
				t.Errorf("nothing may be injected when the preflight fails:\n%s", errs)
			}
		})
	}
}

// TestSignalMidFaultClearsEverything sends SIGINT (and SIGTERM) to a drill
// in the middle of its fault: it exits promptly with 130, its proxy port
// is closed, and the stalled clients it had opened are gone from the shop.
func TestSignalMidFaultClearsEverything(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			heavy(t)
			st := startStack(t, nil, []string{"all"})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			client, err := snapshot.NewClient(st.Shop.Pprof)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			before, err := client.CaptureLight(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// SIGINT lands in a partition, SIGTERM among stalled clients.
			fault := "{name: cut, upstream: payments, duration: 10m, networkChaos: {action: partition, direction: both}}"
			if sig == syscall.SIGTERM {
				fault = "{name: crowd, duration: 10m, stalledClients: {mode: idle, count: 40}}"
			}
			drill := `apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: interrupted}
spec:
  target: {url: "${SHOP_URL}", pprof: "${SHOP_PPROF}"}
  upstreams: [{name: payments, listen: "${PAYMENTS_PROXY}", forward: "${PAYMENTS_ADDR}"}]
  load: {rate: 20, requests: [{path: /checkout}]}
  faults:
    - ` + fault + "\n"
			file := filepath.Join(t.TempDir(), "drill.yaml")
			if err := os.WriteFile(file, []byte(drill), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(aftershockBin, "drill", file)
			cmd.Env = os.Environ()
			for k, v := range st.Vars() {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			sess, err := gexec.Start(cmd, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Kill()
			if err := waitSay(sess.Err, "] hold ", 30*time.Second); err != nil {
				t.Fatalf("%v\nstderr:\n%s", err, sess.Err.Contents())
			}
			if !listening(st.ProxyAddr) {
				t.Fatal("the proxy is not listening mid-fault")
			}
			sent := time.Now()
			sess.Signal(sig)
			select {
			case <-sess.Exited:
			case <-time.After(10 * time.Second):
				t.Fatalf("still running 10s after %v", sig)
			}
			if code := sess.ExitCode(); code != 130 {
				t.Errorf("exit %d after %v, want 130\nstderr:\n%s", code, sig, sess.Err.Contents())
			}
			t.Logf("exited %v after %v", sess.ExitCode(), time.Since(sent))
			if listening(st.ProxyAddr) {
				t.Errorf("the proxy port %s is still open after %v", st.ProxyAddr, sig)
			}
			// Nothing left injected: the shop's server connections are back
			// where they were (the stalled clients are gone).
			deadline := time.Now().Add(10 * time.Second)
			for {
				now, err := client.CaptureLight(ctx)
				if err != nil {
					t.Fatal(err)
				}
				b, a := before.Summary().Connections[snapshot.HTTPServer].Count, now.Summary().Connections[snapshot.HTTPServer].Count
				if a <= b {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the shop still holds %d server connections (%d before the drill)", a, b)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// waitSay waits until buf has printed s.
func waitSay(buf *gbytes.Buffer, s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(string(buf.Contents()), s) {
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// TestWhichCluster: a drill with faults on engine chaos-mesh runs only
// against the kube context it or --context names, and only with an
// identity that may do what a drill does; `aftershock cleanup` needs its
// context named too. Against a real API server (fixtures/kubetest).
func TestWhichCluster(t *testing.T) {
	k := kubetest.Start(t)
	ctx := context.Background()
	for _, ns := range []string{"shop"} {
		if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	admin := kubetest.Kubeconfig(t, dir, "staging", k.Config)
	runnerOnly := kubetest.Kubeconfig(t, dir, "no-delete", k.User(t, "drill-runner"))
	kubeconfig := admin + string(os.PathListSeparator) + runnerOnly
	env := map[string]string{"KUBECONFIG": kubeconfig, "HOME": dir, "KUBERNETES_SERVICE_HOST": ""}
	drill := func(cluster string) string {
		file := filepath.Join(t.TempDir(), "cluster.yaml")
		data := `apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: on-a-cluster, namespace: shop}
spec:
` + cluster + `  target: {url: "http://127.0.0.1:1"}
  upstreams: [{name: payments, engine: chaos-mesh}]
  faults:
    - name: cut
      upstream: payments
      duration: 5s
      networkChaos: {action: partition, mode: all, selector: {namespaces: [shop], labelSelectors: {app: payments}}}
`
		if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	unnamed, staging := drill(""), drill("  cluster: {context: staging}\n")
	elsewhere := drill("  cluster: {context: staging, server: \"https://staging.example:6443\"}\n")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"a drill that names no cluster", []string{"drill", unnamed}, 2, "names no cluster: set spec.cluster.context"},
		{"--context other than the drill's", []string{"drill", "--context", "no-delete", staging}, 2, `is for kube context "staging", and --context names "no-delete"`},
		{"a server other than the context's", []string{"drill", elsewhere}, 2, "spec.cluster.server is https://staging.example:6443"},
		{"a context the kubeconfig lacks", []string{"drill", "--context", "prod", unnamed}, 3, `kube context "prod"`},
		{"an identity that may not delete", []string{"drill", "--context", "no-delete", unnamed}, 3, "may not, in namespace shop"},
		{"cleanup without a context", []string{"cleanup"}, 2, "--context is required"},
	} {
		code, out, errs := aftershock(t, env, tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.want) {
			t.Errorf("%s: aftershock %s: exit %d, want %d saying %q\nstdout:\n%s\nstderr:\n%s", tc.name, strings.Join(tc.args, " "), code, tc.code, tc.want, out, errs)
		}
		if strings.Contains(errs, "] inject ") {
			t.Errorf("%s: something was injected:\n%s", tc.name, errs)
		}
	}
	// cleanup deletes what a dead run left (its lease over), not more.
	lease := "1ms"
	dead := &v1alpha1.NetworkChaos{ObjectMeta: metav1.ObjectMeta{Name: "dead", Namespace: "shop", Labels: map[string]string{chaosmesh.LabelDrill: "d"}},
		Spec: v1alpha1.NetworkChaosSpec{Action: v1alpha1.PartitionAction, Duration: &lease,
			PodSelector: v1alpha1.PodSelector{Mode: v1alpha1.AllMode, Selector: v1alpha1.PodSelectorSpec{GenericSelectorSpec: v1alpha1.GenericSelectorSpec{Namespaces: []string{"shop"}}}}}}
	if err := k.Client.Create(ctx, dead); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	code, out, errs := aftershock(t, env, "cleanup", "--context", "staging")
	if code != 0 || !strings.Contains(out, "deleted NetworkChaos/shop/dead") {
		t.Errorf("cleanup: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// TestSecondSignalAbandonsTheClusterFaults: a second SIGINT while the
// first one's clear waits on Chaos Mesh exits 130 at once, having asked
// the API server to delete every object the run still holds — also those
// the clear has not reached — and stderr names them and the aftershock
// cleanup command of the run. Against a real API server and a stand-in
// Chaos Mesh that holds a deleted object for an hour: the clear of the
// first fault certainly waits when the second signal comes.
func TestSecondSignalAbandonsTheClusterFaults(t *testing.T) {
	heavy(t)
	k := kubetest.Start(t)
	ctx := context.Background()
	if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	standIn, err := chaosmeshtest.Start(k.Config, k.Scheme, chaosmeshtest.Options{RecoverDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(standIn.Stop)
	dir := t.TempDir()
	st := startStack(t, nil, []string{"all"})
	file := filepath.Join(dir, "drill.yaml")
	selector := "mode: all, selector: {namespaces: [shop], labelSelectors: {app: payments}}"
	drill := `apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata: {name: interrupted-twice, namespace: shop}
spec:
  cluster: {context: staging}
  target: {url: "${SHOP_URL}", pprof: "${SHOP_PPROF}"}
  upstreams: [{name: payments, engine: chaos-mesh}]
  faults:
    - {name: cut, upstream: payments, duration: 10m, networkChaos: {action: partition, ` + selector + `}}
    - {name: slow, upstream: payments, duration: 10m, overlap: {with: cut}, networkChaos: {action: delay, delay: {latency: 100ms}, ` + selector + `}}
  verify: {quiesce: 500ms}
`
	if err := os.WriteFile(file, []byte(drill), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(aftershockBin, "drill", file)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubetest.Kubeconfig(t, dir, "staging", k.Config), "HOME="+dir, "KUBERNETES_SERVICE_HOST=")
	for k, v := range st.Vars() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	sess, err := gexec.Start(cmd, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Kill()
	// objects reads the run's objects by fault; done says when to stop.
	objects := func(what string, done func(map[string]v1alpha1.NetworkChaos) bool) map[string]v1alpha1.NetworkChaos {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			var l v1alpha1.NetworkChaosList
			if err := k.Client.List(ctx, &l, client.InNamespace("shop")); err != nil {
				t.Fatal(err)
			}
			by := map[string]v1alpha1.NetworkChaos{}
			for _, o := range l.Items {
				by[o.Labels[chaosmesh.LabelFault]] = o
			}
			if done(by) {
				return by
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within a minute: %d objects\nstderr:\n%s", what, len(by), sess.Err.Contents())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	injected := func(o v1alpha1.NetworkChaos) bool {
		return len(o.Status.Experiment.Records) > 0 && o.Status.Experiment.Records[0].Phase == v1alpha1.Injected
	}
	objects("both faults in effect", func(by map[string]v1alpha1.NetworkChaos) bool {
		return injected(by["cut"]) && injected(by["slow"])
	})
	if err := waitSay(sess.Err, "] inject slow", 30*time.Second); err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, sess.Err.Contents())
	}
	sess.Signal(syscall.SIGINT)
	// The clear has begun, and waits on Chaos Mesh for cut.
	before := objects("cut being deleted", func(by map[string]v1alpha1.NetworkChaos) bool { return by["cut"].DeletionTimestamp != nil })
	if before["slow"].DeletionTimestamp != nil {
		t.Fatalf("the clear deleted slow before the second signal: this test cannot tell who asked")
	}
	sess.Signal(syscall.SIGINT)
	select {
	case <-sess.Exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20s after the second SIGINT\nstderr:\n%s", sess.Err.Contents())
	}
	errs := string(sess.Err.Contents())
	if code := sess.ExitCode(); code != 130 {
		t.Errorf("exit %d, want 130\nstderr:\n%s", code, errs)
	}
	run := regexp.MustCompile(`aftershock cleanup --context staging --run ([0-9a-f]+) removes its objects`).FindStringSubmatch(errs)
	if run == nil {
		t.Fatalf("no run ID in the progress:\n%s", errs)
	}
	for _, want := range []string{
		"aftershock: interrupt again: exiting without waiting for the clear; local faults (fault proxies, stalled clients, netns test hosts) end with this process\n",
		"aftershock: context staging, run " + run[1] + ": asked the API server to delete NetworkChaos/shop/" + before["cut"].Name + ", NetworkChaos/shop/" + before["slow"].Name + ";",
		"aftershock cleanup --context staging --run " + run[1] + " deletes anything of the run still there\n",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	var slow v1alpha1.NetworkChaos
	if err := k.Client.Get(ctx, client.ObjectKey{Namespace: "shop", Name: before["slow"].Name}, &slow); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	} else if err == nil && slow.DeletionTimestamp == nil {
		t.Errorf("the process exited and slow was never asked to go: it stays until its 10m lease runs out")
	}
}
