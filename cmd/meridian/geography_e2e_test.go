package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// demoCluster names the demo's cluster of an answer's first address.
func demoCluster(r kdigResult) string {
	if len(r.answer) == 0 {
		return r.status + " without records"
	}
	f := strings.Fields(r.answer[0])
	switch addr := f[len(f)-1]; {
	case addr == "192.0.2.40":
		return "eu-central"
	case strings.HasPrefix(addr, "192.0.2."):
		return "eu-west"
	case strings.HasPrefix(addr, "198.51.100."):
		return "us-east"
	case strings.HasPrefix(addr, "203.0.113."):
		return "ap-southeast"
	default:
		return addr
	}
}

// TestServeGeography runs the real binary with a subnet list and a bias,
// asked by kdig with client subnets: an entry's network goes to the
// entry's clusters and its answers carry the entry's prefix as ECS scope;
// bias moves a US network to eu-west; explain names the entry; a broken
// subnet file fails the reload (FILE:LINE) and the running list stays; a
// good one takes effect on SIGHUP.
func TestServeGeography(t *testing.T) {
	nets := filepath.Join(t.TempDir(), "nets.txt")
	write := func(body string) {
		if err := os.WriteFile(nets, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("# the demo's test networks\n198.51.100.0/24 ap-southeast us-east\n81.2.69.0/24 us-east\n")
	conf := strings.Replace(demoConf(t, false), "    geoip builtin\n", "    geoip builtin\n    subnets "+nets+"\n", 1)
	conf = strings.Replace(conf, "    location 53.35 -6.26            # Dublin\n", "    location 53.35 -6.26\n    bias 90\n", 1)
	p := startMeridian(t, conf)
	const app = "app.gslb.example.com"

	for _, tc := range []struct{ subnet, want, scope string }{
		{"198.51.100.0/24", "ap-southeast", "198.51.100.0/24/24"}, // the entry's first cluster, the entry's scope
		{"198.51.100.128/25", "ap-southeast", "198.51.100.128/25/24"},
		{"81.2.69.0/24", "us-east", "81.2.69.0/24/24"}, // a UK network sent to the US
		{"81.2.70.0/24", "eu-west", ""},                // next door: GeoIP and distance
		{"8.8.8.0/24", "eu-west", ""},                  // eu-west's bias 90 reaches Google's US network
		{"13.250.0.0/24", "ap-southeast", ""},
	} {
		r := kdig(t, p.dnsPort, app, "+subnet="+tc.subnet)
		if got := demoCluster(r); got != tc.want {
			t.Errorf("+subnet=%s: answered from %s, want %s (%v)", tc.subnet, got, tc.want, r.answer)
		}
		if tc.scope != "" && r.subnet != tc.scope {
			t.Errorf("+subnet=%s: CLIENT-SUBNET %s, want %s", tc.subnet, r.subnet, tc.scope)
		}
	}

	var e struct {
		Entry   string `json:"entry"`
		Summary string `json:"summary"`
	}
	demoGet(t, p, "/api/v1/explain?name="+app+"&client="+url.QueryEscape("198.51.100.7"), &e)
	if e.Entry != "subnet list entry 198.51.100.0/24 (nets.txt:2)" || !strings.HasPrefix(e.Summary, "clients of subnet list entry 198.51.100.0/24 (nets.txt:2): 100% to priority 0 (listed cluster ap-southeast)") {
		t.Errorf("explain: %+v", e)
	}

	// A broken file: the reload fails naming its line, the list stays.
	write("198.51.100.0/24 eu-west\n81.2.69.0/24 nowhere\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rec := waitLog(t, p, "reload failed; the running configuration stays")
	if msg, _ := rec["err"].(string); msg != nets+`:2: subnets: 81.2.69.0/24: unknown cluster "nowhere"` {
		t.Errorf("reload error %q", msg)
	}
	if got := demoCluster(kdig(t, p.dnsPort, app, "+subnet=198.51.100.0/24")); got != "ap-southeast" {
		t.Errorf("after the failed reload: answered from %s, want ap-southeast", got)
	}

	// A good one takes effect.
	write("198.51.100.0/24 eu-west\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, "configuration reloaded")
	deadline := time.Now().Add(10 * time.Second)
	for demoCluster(kdig(t, p.dnsPort, app, "+subnet=198.51.100.0/24")) != "eu-west" {
		if time.Now().After(deadline) {
			t.Fatal("198.51.100.0/24 not answered from eu-west 10s after the reload")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := demoCluster(kdig(t, p.dnsPort, app, "+subnet=81.2.69.0/24")); got != "eu-west" {
		t.Errorf("81.2.69.0/24 after its entry was removed: %s, want eu-west", got)
	}
}

// demoGet decodes the JSON of GET path from p's API, read with the demo's
// read token.
func demoGet(t *testing.T, p *process, path string, v any) {
	t.Helper()
	getJSON(t, p, "demo-read-token", path, v)
}

// mapsConf is the demo with a cluster in Frankfurt, a map on app (DE and
// FR to eu-west then us-east; a fence for the EU: eu-central, eu-west),
// and a subnet list sending 198.51.100.0/24 to us-east. drain lists the
// clusters to drain.
func mapsConf(t *testing.T, nets string, drain ...string) string {
	t.Helper()
	conf := strings.Replace(demoConf(t, false), "    geoip builtin\n", "    geoip builtin\n    subnets "+nets+"\n", 1)
	const service = "    service app {\n        policy geo\n        ttl    30\n"
	if !strings.Contains(conf, service) {
		t.Fatal("the demo's app service changed: update mapsConf")
	}
	conf = strings.Replace(conf, service, service+"        map {\n            country DE FR -> eu-west us-east\n            fence continent EU -> eu-central eu-west\n        }\n", 1)
	conf += "\ncluster eu-central {\n    region eu-central\n    location 50.11 8.68\n    static {\n        ingress 192.0.2.40\n        pods app 4\n    }\n}\n"
	for _, c := range drain {
		conf = strings.Replace(conf, "cluster "+c+" {\n", "cluster "+c+" {\n    drain residency test\n", 1)
	}
	return conf
}

// TestServeMapsAndFences runs the real binary with a service map, a fence
// and a subnet list, asked by kdig with client subnets that the built-in
// GeoIP database puts in Germany, France, Italy, the UK and the US: each
// goes where its most specific entry says, with the GeoIP network or the
// entry as ECS scope; explain names the entry; the fence fails over
// between its clusters and, with both drained, answers NODATA while
// clients outside it still get answers.
func TestServeMapsAndFences(t *testing.T) {
	nets := filepath.Join(t.TempDir(), "nets.txt")
	if err := os.WriteFile(nets, []byte("198.51.100.0/24 us-east\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startMeridian(t, mapsConf(t, nets))
	const app = "app.gslb.example.com"
	type want struct{ subnet, cluster, scope string }
	check := func(stage string, cases []want) {
		t.Helper()
		for _, w := range cases {
			r := kdig(t, p.dnsPort, app, "+subnet="+w.subnet)
			if got := demoCluster(r); got != w.cluster {
				t.Errorf("%s: +subnet=%s: %s, want %s (%v)", stage, w.subnet, got, w.cluster, r.answer)
			}
			if w.scope != "" && r.subnet != w.scope {
				t.Errorf("%s: +subnet=%s: CLIENT-SUBNET %s, want %s", stage, w.subnet, r.subnet, w.scope)
			}
		}
	}
	// reload rewrites the config with drains and waits until the IT client's answer is want.
	reload := func(want string, drain ...string) {
		t.Helper()
		if err := os.WriteFile(p.conf, []byte(mapsConf(t, nets, drain...)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitLog(t, p, "configuration reloaded")
		deadline := time.Now().Add(10 * time.Second)
		for demoCluster(kdig(t, p.dnsPort, app, "+subnet=79.0.0.0/24")) != want {
			if time.Now().After(deadline) {
				t.Fatalf("drained %v: the IT client is not answered %s 10s after the reload", drain, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	check("all up", []want{
		{"80.128.0.0/24", "eu-west", "80.128.0.0/24/12"},     // DE: its country entry
		{"90.0.0.0/24", "eu-west", "90.0.0.0/24/10"},         // FR
		{"79.0.0.0/24", "eu-central", "79.0.0.0/24/10"},      // IT: the EU fence's first cluster
		{"81.2.70.0/24", "eu-central", ""},                   // GB is in the EU fence too
		{"8.8.8.0/24", "us-east", "8.8.8.0/24/15"},           // US: no entry, by distance
		{"198.51.100.0/24", "us-east", "198.51.100.0/24/24"}, // AU by GeoIP, the subnet list decides
	})
	var e struct {
		Entry   string `json:"entry"`
		Summary string `json:"summary"`
	}
	demoGet(t, p, "/api/v1/explain?name="+app+"&client=79.0.0.1", &e)
	if !strings.HasPrefix(e.Entry, "map entry continent EU (fence) at meridian.conf:") || !strings.Contains(e.Summary, "listed cluster eu-central") {
		t.Errorf("explain IT: %+v", e)
	}
	demoGet(t, p, "/api/v1/explain?name="+app+"&client=80.128.0.1", &e)
	if !strings.HasPrefix(e.Entry, "map entry country DE FR at meridian.conf:") {
		t.Errorf("explain DE: %+v", e)
	}

	var svc struct {
		Routes []struct {
			Entry    string             `json:"entry"`
			Clusters []string           `json:"clusters"`
			Shares   map[string]float64 `json:"shares"`
		} `json:"routes"`
	}
	demoGet(t, p, "/api/v1/services/"+app, &svc)
	fenceRoute := false
	for _, r := range svc.Routes {
		if r.Entry == "map entry continent EU (fence)" && strings.Join(r.Clusters, " ") == "eu-central eu-west" && r.Shares["eu-central"] == 1 {
			fenceRoute = true
		}
	}
	if !fenceRoute {
		t.Errorf("/api/v1/services/%s has no route for the fence: %+v", app, svc.Routes)
	}

	reload("eu-west", "eu-central") // the fence fails over inside itself
	check("eu-central drained", []want{{"79.0.0.0/24", "eu-west", ""}, {"80.128.0.0/24", "eu-west", ""}, {"8.8.8.0/24", "us-east", ""}})

	reload("NOERROR without records", "eu-central", "eu-west") // and then fails closed
	check("the fence drained", []want{
		{"79.0.0.0/24", "NOERROR without records", "79.0.0.0/24/10"},
		{"81.2.70.0/24", "NOERROR without records", ""},
		{"80.128.0.0/24", "us-east", ""}, // DE's entry is no fence: it leaves
		{"8.8.8.0/24", "us-east", ""},
	})
	if r := kdig(t, p.dnsPort, app, "+subnet=79.0.0.0/24"); len(r.authority) != 1 || !strings.Contains(r.authority[0], " SOA ") {
		t.Errorf("the fence's NODATA has no SOA: %v", r.authority)
	}
	demoGet(t, p, "/api/v1/explain?name="+app+"&client=79.0.0.1", &e)
	if !strings.HasSuffix(e.Summary, ": no target in the fence can be used (drained, disabled or absent), and the fence fails closed: no answer") {
		t.Errorf("explain IT with the fence drained: %+v", e)
	}
}

// TestFenceBypassWarned: a subnet-list entry that sends clients of a fence
// outside it is named, with its line, at start and on every reload; so is
// one that lists only the fence's clusters, as it is no fence itself and
// sends its clients to every other cluster when those fail; so is one
// whose first address is outside the fence but which holds networks
// inside it; and so is a country entry inside a continent fence.
func TestFenceBypassWarned(t *testing.T) {
	nets := filepath.Join(t.TempDir(), "nets.txt")
	if err := os.WriteFile(nets, []byte("8.8.8.0/24 us-east\n81.2.69.0/24 us-east\n79.0.0.0/24 eu-central\n0.0.0.0/1 us-east\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startMeridian(t, mapsConf(t, nets))
	var warned, mapWarned []string
	for _, rec := range p.startup {
		switch msg := fmt.Sprint(rec["msg"]); {
		case strings.HasPrefix(msg, "nets.txt:"):
			warned = append(warned, msg)
		case strings.HasPrefix(msg, "meridian.conf:"):
			mapWarned = append(mapWarned, msg)
		}
	}
	if len(warned) != 3 || !strings.HasPrefix(warned[2], "nets.txt:4: 0.0.0.0/1 (GeoIP: ") || !strings.Contains(warned[2], " inside it) sends clients of service app.gslb.example.com to us-east") || !strings.HasPrefix(warned[0], "nets.txt:2: 81.2.69.0/24 (GeoIP: GB) sends clients of service app.gslb.example.com to us-east, outside its map entry continent EU (fence)") ||
		!strings.HasPrefix(warned[1], "nets.txt:3: 79.0.0.0/24 (GeoIP: IT) is inside the map entry continent EU (fence) of service app.gslb.example.com at meridian.conf:") ||
		!strings.HasSuffix(warned[1], "write `fence subnet 79.0.0.0/24 -> ...` in the service's map to keep them in") {
		t.Errorf("warnings %q, want nets.txt:2 (GB, in the EU fence, to us-east), nets.txt:3 (IT, no fence) and nets.txt:4 (holding EU networks), none for the US entry", warned)
	}
	if len(mapWarned) != 1 || !strings.Contains(mapWarned[0], ": the map entry country DE FR sends clients of service app.gslb.example.com to us-east, outside its map entry continent EU (fence) at meridian.conf:") {
		t.Errorf("map warnings %q, want one for the DE FR entry inside the EU fence", mapWarned)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	for {
		rec := <-p.logs
		if strings.Contains(fmt.Sprint(rec["msg"]), "the subnet entry wins") {
			break
		}
		if rec["msg"] == "configuration reloaded" {
			t.Fatal("the reload did not warn again")
		}
	}
}
