package experiments

import (
	"slices"
	"strings"
	"testing"
)

// podsDrill is a drill whose target is pods; its lines are what the
// table below edits.
const podsDrill = `apiVersion: aftershock.dev/v1alpha1
kind: Drill
metadata:
  name: payments-slow
  namespace: shop
spec:
  cluster: {context: staging}
  target:
    url: http://shop.shop.svc.cluster.local:8080
    pods:
      selector: {namespaces: [shop], labelSelectors: {app: shop}}
      port: 6060
      path: /debug/pprof
  allowHosts: [shop.shop.svc.cluster.local]
  upstreams:
    - name: payments
      engine: chaos-mesh
  faults:
    - name: slow-payments
      upstream: payments
      duration: 10s
      networkChaos:
        action: delay
        delay: {latency: 500ms}
        mode: all
        selector: {namespaces: [shop], labelSelectors: {app: payments}}
`

// TestPodsTarget: a target of pods loads with its selector as written,
// pprof is not derived from url, and the drill needs a cluster.
func TestPodsTarget(t *testing.T) {
	d, err := Parse("pods.yaml", []byte(podsDrill))
	if err != nil {
		t.Fatal(err)
	}
	tg := d.Spec.Target
	if tg.Pprof != "" {
		t.Errorf("pprof = %q: with pods it must not be derived from url (that would read the Service's pprof)", tg.Pprof)
	}
	if tg.Pods == nil || tg.Pods.Port != 6060 || tg.Pods.PprofPath() != "/debug/pprof" || tg.Pods.Selector.LabelSelectors["app"] != "shop" {
		t.Fatalf("pods = %+v", tg.Pods)
	}
	if !d.NeedsCluster() {
		t.Error("a drill with target pods needs a cluster")
	}
	sel := d.PodSelector()
	if sel == nil || !slices.Equal(sel.Namespaces(), []string{"shop"}) || !strings.Contains(sel.String(), "app=shop") {
		t.Errorf("selector %v", sel)
	}
	// No namespace: the drill's, as Chaos Mesh defaults a selector's.
	d, err = Parse("pods.yaml", []byte(strings.Replace(podsDrill, "{namespaces: [shop], labelSelectors: {app: shop}}", "{labelSelectors: {app: shop}}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.PodSelector().Namespaces(); !slices.Equal(got, []string{"shop"}) {
		t.Errorf("namespaces %v, want the drill's [shop]", got)
	}
	// The path defaults.
	d, err = Parse("pods.yaml", []byte(strings.Replace(podsDrill, "      path: /debug/pprof\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Target.Pods.PprofPath() != DefaultPodsPath {
		t.Errorf("path %q", d.Spec.Target.Pods.PprofPath())
	}
}

// TestBadPodsTargets: every mistake in spec.target.pods is reported at
// its line and column, with its field path.
func TestBadPodsTargets(t *testing.T) {
	if _, err := Parse("pods.yaml", []byte(podsDrill)); err != nil {
		t.Fatalf("the base of the table must load: %v", err)
	}
	runBad(t, podsDrill, []badCase{
		{"pprof beside pods", line(9, "    url: http://shop:8080\n    pprof: http://shop:6060/debug/pprof"), nil, "10:12", "spec.target.pprof", []string{"pprof and pods exclude each other"}},
		{"no port", line(12, ""), nil, "11:7", "spec.target.pods.port", []string{"port is required", "6060"}},
		{"bad port", line(12, "      port: 70000"), nil, "12:13", "spec.target.pods.port", []string{"not a port"}},
		{"relative path", line(13, "      path: debug/pprof"), nil, "13:13", "spec.target.pods.path", []string{"must start with /"}},
		{"no selector", line(11, ""), nil, "11:7", "spec.target.pods.selector", []string{"need a selector", "allowed: namespaces, labelSelectors"}},
		{"unknown selector field", line(11, "      selector: {namespaces: [shop], labelSelector: {app: shop}}"), nil, "11:38", "spec.target.pods.selector.labelSelector", []string{`did you mean "labelSelectors"`}},
		{"bad label value", line(11, "      selector: {namespaces: [shop], labelSelectors: {app: shop/v1}}"), nil, "11:60", "spec.target.pods.selector.labelSelectors[app]", []string{"not a label value"}},
		{"bad namespace", line(11, "      selector: {namespaces: [Shop]}"), nil, "11:31", "spec.target.pods.selector.namespaces[0]", []string{`"Shop" is not a namespace name`}},
		{"bad expression operator", line(11, "      selector: {expressionSelectors: [{key: app, operator: Is, values: [shop]}]}"), nil, "11:40", "spec.target.pods.selector.expressionSelectors[0]", []string{`"Is" is not a valid label selector operator`, "allowed: In, NotIn, Exists, DoesNotExist"}},
		{"field the API server does not select on", line(11, "      selector: {fieldSelectors: {spec.hostname: a}}"), nil, "11:50", "spec.target.pods.selector.fieldSelectors[spec.hostname]", []string{"selects pods on no field", "status.phase"}},
		{"node selectors", line(11, "      selector: {nodeSelectors: {zone: a}}"), nil, "11:33", "spec.target.pods.selector.nodeSelectors", []string{"name the nodes"}},
		{"unknown phase", line(11, "      selector: {namespaces: [shop], podPhaseSelectors: [Runing]}"), nil, "11:58", "spec.target.pods.selector.podPhaseSelectors[0]", []string{`unknown pod phase "Runing"`, "allowed: Pending, Running"}},
		{"bad pod name", line(11, "      selector: {pods: {shop: [Shop_1]}}"), nil, "11:32", "spec.target.pods.selector.pods[shop][0]", []string{"not a pod name"}},
		{"empty pods", edit{10, 13, "    pods: {}"}, nil, "10:11", "spec.target.pods.selector", []string{"need a selector"}},
		{"null pods", edit{10, 13, "    pods:"}, nil, "10:10", "spec.target.pods", []string{"pods is empty"}},
	})
}

// TestPodsSchedule: the Role of a scheduled drill with target pods lets
// it find them (get, list pods), and no more: in its cluster it reads
// them by pod IP, not through the API server's proxy. Pods in another
// namespace than the drill's cannot be granted by its Role.
func TestPodsSchedule(t *testing.T) {
	data := strings.Replace(podsDrill, "{context: staging}", "{context: in-cluster}", 1)
	d, err := Parse("pods.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Schedule([]byte(data), ScheduleOptions{Schedule: "0 3 * * *", Image: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var pods []string
	for _, r := range s.Role.Rules {
		if slices.Contains(r.APIGroups, "") {
			for _, res := range r.Resources {
				pods = append(pods, res+":"+strings.Join(r.Verbs, ","))
			}
		}
	}
	if !slices.Contains(pods, "pods:get,list") || slices.ContainsFunc(pods, func(s string) bool { return strings.HasPrefix(s, "pods/") }) {
		t.Errorf("core rules %v, want get,list on pods and nothing on pods/proxy", pods)
	}
	other := strings.Replace(data, "{namespaces: [shop], labelSelectors: {app: shop}}", "{namespaces: [shop, web], labelSelectors: {app: shop}}", 1)
	d, err = Parse("pods.yaml", []byte(other))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Schedule([]byte(other), ScheduleOptions{Schedule: "0 3 * * *", Image: "x"}); err == nil || !strings.Contains(err.Error(), "pods.yaml:11:17: the target's pods are in namespace web") {
		t.Errorf("pods in another namespace: %v", err)
	}
}
