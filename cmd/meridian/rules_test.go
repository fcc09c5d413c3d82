package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/meridian-gtm/meridian/internal/testlog"
)

// rulesFile holds the alerting rules that ship with Meridian.
const rulesFile = "../../deploy/prometheus/meridian-rules.yaml"

// scrape returns /metrics of a running Meridian as metric name → the
// sample lines of that name.
func scrape(t *testing.T, addr string) map[string][]string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		out[name] = append(out[name], line)
	}
	return out
}

// sampleValue returns the value of a sample line.
func sampleValue(t *testing.T, line string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
	if err != nil {
		t.Fatalf("sample %q: %v", line, err)
	}
	return v
}

// TestAlertRulesMetricsExist runs the demo (with its drain, signed, with
// a query log) and checks
// that every metric the alerting rules in deploy/prometheus use is in its
// /metrics output, so that no alert watches a name that does not exist;
// and that the engine's own metrics say what they should.
func TestAlertRulesMetricsExist(t *testing.T) {
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	used := map[string][]string{} // metric → alerts
	name := regexp.MustCompile(`\bmeridian_[a-z0-9_]+`)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			for _, m := range name.FindAllString(r.Expr, -1) {
				used[m] = append(used[m], r.Alert)
			}
		}
	}
	if len(used) < 6 {
		t.Fatalf("the rules use only %d metrics: %v", len(used), used)
	}

	// Signed, and with a query log (whose reader is away), so that the
	// DNSSEC and dnstap metrics are exported too.
	conf := signZone(t, demoConf(t, true), t.TempDir(), "")
	conf = strings.Replace(conf, "meridian {\n", "meridian {\n    dnstap unix:"+filepath.Join(t.TempDir(), "nobody.sock")+"\n", 1)
	start := time.Now()
	p := startMeridian(t, conf)
	metrics := scrape(t, p.httpAddr)
	for m, alerts := range used {
		if len(metrics[m]) > 0 {
			continue
		}
		t.Errorf("alerts %v use %s, which /metrics does not have", alerts, m)
	}

	// The build: version as `meridian version` prints it.
	out, err := exec.Command(meridianBin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	// "meridian VERSION", maybe followed by more (the commit, Go's version).
	fields := strings.Fields(string(out))
	if len(fields) < 2 || fields[0] != "meridian" {
		t.Fatalf("meridian version printed %q", out)
	}
	version := fields[1]
	if info := metrics["meridian_build_info"]; len(info) != 1 || !strings.Contains(info[0], `version="`+version+`"`) ||
		!strings.Contains(info[0], `goversion="go`) || sampleValue(t, info[0]) != 1 {
		t.Errorf("meridian_build_info is %q, want version %q, a goversion and 1", info, version)
	}
	// The Plan: solved after the start, not in the future, and not
	// before its inputs.
	for _, m := range []string{"meridian_plan_timestamp_seconds", "meridian_plan_inputs_timestamp_seconds"} {
		if len(metrics[m]) != 1 {
			t.Fatalf("%s: %q", m, metrics[m])
		}
		if v := sampleValue(t, metrics[m][0]); v < float64(start.Unix()) || v > float64(time.Now().Unix()+1) {
			t.Errorf("%s is %v, want a time between the start %d and now", m, v, start.Unix())
		}
	}
	// Inputs that changed a moment ago (the first probes' results) wait
	// for the next Plan, at most the loop's MaxDelay (200 ms): the Plan
	// catches up with them, and stays caught up once nothing changes.
	for deadline := time.Now().Add(10 * time.Second); ; {
		plan := sampleValue(t, metrics["meridian_plan_timestamp_seconds"][0])
		inputs := sampleValue(t, metrics["meridian_plan_inputs_timestamp_seconds"][0])
		if plan >= inputs {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Plan (%v) stayed older than its inputs (%v) for 10 s: %v", plan, inputs, metrics)
		}
		time.Sleep(50 * time.Millisecond)
		metrics = scrape(t, p.httpAddr)
	}
	// The demo's drain is in force; every other kind counts 0.
	want := []string{`meridian_overrides{kind="disable"} 0`, `meridian_overrides{kind="drain"} 1`, `meridian_overrides{kind="enable"} 0`,
		`meridian_overrides{kind="failover"} 0`, `meridian_overrides{kind="weight"} 0`}
	if got := metrics["meridian_overrides"]; !slices.Equal(got, want) {
		t.Errorf("meridian_overrides:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// One replica that shares no health: itself, in agreement.
	if got := metrics["meridian_replicas_live"]; !slices.Equal(got, []string{"meridian_replicas_live 1"}) {
		t.Errorf("meridian_replicas_live: %q", got)
	}
	if got := metrics["meridian_replica_disagreements"]; !slices.Equal(got, []string{"meridian_replica_disagreements 0"}) {
		t.Errorf("meridian_replica_disagreements: %q", got)
	}
	// The config's drain was logged when the engine took it up, with what
	// an on-call engineer searches for.
	var added map[string]any
	for _, rec := range p.startup {
		if rec["msg"] == "override added" {
			added, _ = rec["override"].(map[string]any)
		}
	}
	if added["kind"] != "drain" || added["cluster"] != "eu-west" || added["service"] != "" || added["reason"] != "maintenance" ||
		added["expires"] != "never" || !strings.HasPrefix(fmt.Sprint(added["id"]), "config.") {
		t.Errorf("the demo's drain is logged as %v", added)
	}
	// xDS clients by role, every role present from the start.
	if got := metrics["meridian_xds_clients"]; len(got) < 2 {
		t.Errorf("meridian_xds_clients has %q, want one per role", got)
	}
}

// TestHelmChartPrometheusRule renders the chart with prometheusRule
// enabled: it holds the rules of deploy/prometheus, with the labels asked
// for; off by default.
func TestHelmChartPrometheusRule(t *testing.T) {
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte("prometheusRule:\n  enabled: true\n  labels:\n    release: prometheus\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := yaml.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		values []string
		want   int
	}{{nil, 0}, {[]string{values}, 1}} {
		var rules []map[string]any
		for _, o := range helmTemplate(t, r.values...) {
			if o.GetKind() == "PrometheusRule" {
				if o.GetAPIVersion() != "monitoring.coreos.com/v1" || o.GetLabels()["release"] != "prometheus" ||
					o.GetLabels()["app.kubernetes.io/name"] != "meridian" || o.GetNamespace() != chartNamespace {
					t.Errorf("PrometheusRule %s %s/%s labels %v", o.GetAPIVersion(), o.GetNamespace(), o.GetName(), o.GetLabels())
				}
				spec, _ := o.Object["spec"].(map[string]any)
				rules = append(rules, spec)
			}
		}
		if len(rules) != r.want {
			t.Fatalf("values %v: %d PrometheusRules, want %d", r.values, len(rules), r.want)
		}
		if r.want == 1 && !reflect.DeepEqual(rules[0], want) {
			t.Errorf("the PrometheusRule's spec is not the rules of %s:\n%v\nwant\n%v", rulesFile, rules[0], want)
		}
	}
}

// TestDebugLogsPlanChangesNotQueries runs the demo in process with the
// logger `-log-level debug` makes, drains a cluster through the API, and
// checks the logs: the engine's `override added` line with kind, cluster,
// service, reason and expiry, the API's line with who made it, one `plan
// change` line saying which shares moved and why; and nothing per DNS
// query.
func TestDebugLogsPlanChangesNotQueries(t *testing.T) {
	dnsAddr, xdsAddr, httpAddr := freePort(t), freePort(t), freePort(t)
	path := writeConf(t, serveConf(t, dnsAddr, xdsAddr, httpAddr))
	var logs testlog.Buffer
	logger, err := newLogger(&logs, "text", "debug")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, path, "", logger) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor := func(parts ...string) string {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			for _, line := range strings.Split(logs.String(), "\n") {
				ok := true
				for _, p := range parts {
					ok = ok && strings.Contains(line, p)
				}
				if ok {
					return line
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no log line with %q in 30 s:\n%s", parts, logs.String())
			}
		}
	}
	waitFor("plan published")

	body := `{"kind":"drain","cluster":"ap-southeast","reason":"network maintenance","for":"2h"}`
	req, _ := http.NewRequest("PUT", "http://"+httpAddr+"/api/v1/overrides/drain-sg", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer demo-admin-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT the drain: %s", resp.Status)
	}
	line := waitFor("msg=\"override added\"", "override.id=drain-sg")
	for _, want := range []string{"component=weights", "override.kind=drain", "override.cluster=ap-southeast", `override.service=""`,
		`override.reason="network maintenance"`, "override.expires=20", "override.author=demo", "active=true"} {
		if !strings.Contains(line, want) {
			t.Errorf("the engine's override line lacks %s:\n%s", want, line)
		}
	}
	waitFor("msg=\"override changed\"", "component=http", "identity=demo", "action=put-override", "override.kind=drain",
		"override.cluster=ap-southeast", `override.reason="network maintenance"`)
	line = waitFor("msg=\"plan change\"", `clients="clients nearest ap-southeast"`, "ap-southeast 100% → 0%")
	for _, want := range []string{"level=DEBUG", "service=app.gslb.example.com", "ap-southeast 100% → 0% (drain of ap-southeast by demo until 20",
		": network maintenance)", "why=\"clients nearest ap-southeast: 100% to priority"} {
		if !strings.Contains(line, want) {
			t.Errorf("the plan change line lacks %q:\n%s", want, line)
		}
	}

	// Queries log nothing, at debug too.
	before := logs.String()
	for range 20 {
		kdig(t, strings.TrimPrefix(dnsAddr, "127.0.0.1:"), "app.gslb.example.com", "+subnet=81.2.69.0/24")
	}
	time.Sleep(200 * time.Millisecond)
	if after := logs.String(); strings.Count(after, "\n") > strings.Count(before, "\n") {
		t.Errorf("DNS queries were logged:\n%s", after[len(before):])
	}
}

// TestAlertRulesNameRealCommands: every `meridian ctl COMMAND` an alert's
// text tells the operator to run exists.
func TestAlertRulesNameRealCommands(t *testing.T) {
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	commands := regexp.MustCompile("`meridian ctl ([a-z-]+)").FindAllStringSubmatch(string(rules), -1)
	if len(commands) == 0 {
		t.Fatal("the rules name no ctl command: update this test")
	}
	for _, m := range commands {
		if out, err := exec.Command(meridianBin, "ctl", m[1], "-h").CombinedOutput(); err != nil {
			t.Errorf("the rules say `meridian ctl %s`: %v\n%s", m[1], err, out)
		}
	}
}
