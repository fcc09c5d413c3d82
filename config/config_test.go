package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

func TestLoadDemo(t *testing.T) {
	c, err := Load("../deploy/demo/meridian.conf")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Meridian.DNS, []string{"127.0.0.1:5353"}; !reflect.DeepEqual(got, want) {
		t.Errorf("dns = %v, want %v", got, want)
	}
	if c.Meridian.GeoIP.Path != "" {
		t.Errorf("geoip path = %q, want builtin", c.Meridian.GeoIP.Path)
	}
	if len(c.Clusters) != 3 {
		t.Fatalf("clusters = %d, want 3", len(c.Clusters))
	}
	eu := c.Clusters[0]
	wantEU := Cluster{
		Pos: Pos{File: "../deploy/demo/meridian.conf", Line: 20}, Name: "eu-west", Region: "eu-west", Zone: "eu-west-1a",
		Location: model.LocationAt(model.Point{Lat: 53.35, Lon: -6.26}),
		Static: &Static{
			Pos:     Pos{File: "../deploy/demo/meridian.conf", Line: 25},
			Ingress: []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")},
			Services: []StaticService{{Pos: Pos{File: "../deploy/demo/meridian.conf", Line: 27},
				Name: "app", FQDN: "app.gslb.example.com", Pods: 6}},
		},
	}
	if !reflect.DeepEqual(eu, wantEU) {
		t.Errorf("eu-west =\n%+v\nwant\n%+v", eu, wantEU)
	}
	z := c.Zones[0]
	if z.Origin != "gslb.example.com" || z.SOA.RName != "hostmaster.example.com" || z.SOA.Minimum != DefaultMinimum || z.TTL != DefaultZoneTTL {
		t.Errorf("zone = %+v", z)
	}
	if got := z.Services[0]; got.FQDN != "app.gslb.example.com" || got.Policy != model.Geo || got.TTL != 30 {
		t.Errorf("service = %+v", got)
	}
	demo := model.DefaultPolicy("app.gslb.example.com", model.Geo)
	demo.Unprobed = true // no health block
	if got := c.Policies().Services(); len(got) != 1 || !reflect.DeepEqual(got[0], demo) {
		t.Errorf("policies = %+v", got)
	}
	if got := c.Policies().StaleGrace; got != model.DefaultStaleGrace {
		t.Errorf("stale grace = %v", got)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("t.conf", []byte(`
zone Example.ORG. {
    ns ns1.example.net
    ns ns2.example.org 192.0.2.53 2001:db8::53
    service www {
    }
}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Meridian.DNS; !reflect.DeepEqual(got, []string{DefaultDNSListen}) {
		t.Errorf("dns = %v", got)
	}
	z := c.Zones[0]
	want := SOA{Pos: z.Pos, MName: "ns1.example.net", RName: "hostmaster.example.org",
		Refresh: DefaultRefresh, Retry: DefaultRetry, Expire: DefaultExpire, Minimum: DefaultMinimum}
	if z.Origin != "example.org" || z.SOA != want {
		t.Errorf("origin %q soa %+v, want %+v", z.Origin, z.SOA, want)
	}
	if s := z.Services[0]; s.Policy != model.Geo || s.TTL != DefaultServiceTTL || s.FQDN != "www.example.org" {
		t.Errorf("service = %+v", s)
	}
}

func TestTTLUnitsAndZero(t *testing.T) {
	c, err := Parse("t.conf", []byte(`
zone example.org {
    ttl 1d
    ns ns.example.net
    soa ns.example.net admin.example.org {
        refresh 2h
        expire 2w
    }
    service a {
        ttl 0
    }
    service b {
        ttl 5m
    }
}`))
	if err != nil {
		t.Fatal(err)
	}
	z := c.Zones[0]
	if z.TTL != 86400 || z.SOA.Refresh != 7200 || z.SOA.Expire != 1209600 || z.SOA.Retry != DefaultRetry {
		t.Errorf("zone ttl %d soa %+v", z.TTL, z.SOA)
	}
	if z.Services[0].TTL != 0 || z.Services[1].TTL != 300 {
		t.Errorf("service ttls %d %d, want 0 300", z.Services[0].TTL, z.Services[1].TTL)
	}
}

func TestPolicies(t *testing.T) {
	c, err := Parse("t.conf", []byte(`
meridian {
    stale_grace 2m
}
cluster a {
    drain kernel upgrade
    static {
    }
}
cluster b {
    static {
    }
}
zone example.org {
    ns ns.example.net
    service fo {
        policy failover
        order b a
        fail closed
    }
    service w {
        policy weighted
        weight a 70
        weight b 30
        overprovisioning 200
        panic_threshold 0
        spill HOSTS
        health {
            kind none
        }
    }
    service all {
        policy ALL
        health {
            kind tcp
            port 8443
        }
    }
}`))
	if err != nil {
		t.Fatal(err)
	}
	// Only a health block of a kind other than none probes a service.
	fo := model.DefaultPolicy("fo.example.org", model.Failover)
	fo.Order, fo.FailClosed, fo.Unprobed = []string{"b", "a"}, true, true
	w := model.DefaultPolicy("w.example.org", model.Weighted)
	w.Weights = []model.ClusterWeight{{Cluster: "a", Weight: 70}, {Cluster: "b", Weight: 30}}
	w.Overprovisioning, w.PanicThreshold, w.Spill, w.Unprobed = 200, 0, model.SpillHosts, true
	want := []model.ServicePolicy{model.DefaultPolicy("all.example.org", model.All), fo, w}
	pol := c.Policies()
	if !reflect.DeepEqual(pol.Services(), want) || pol.StaleGrace != 2*time.Minute {
		t.Errorf("policies = %+v grace %v\nwant %+v", pol.Services(), pol.StaleGrace, want)
	}
	wantO := []model.Override{{ID: "config.drain.a", Kind: model.Drain, Cluster: "a", Author: "config", Reason: "kernel upgrade"}}
	if got := c.Overrides(); !reflect.DeepEqual(got, wantO) {
		t.Errorf("overrides = %+v", got)
	}
}

func TestKubernetesClusters(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "eu.kubeconfig")
	write(t, kc, "apiVersion: v1\nkind: Config\n")
	c, err := Parse(filepath.Join(dir, "m.conf"), []byte(`
meridian {
    resolver 192.0.2.53
    cluster_secrets meridian {
        kubeconfig eu.kubeconfig
        context home
    }
}
cluster eu-west {
    kubeconfig eu.kubeconfig
    context eu
}
cluster home {
    incluster
}
zone example.org {
    ns ns.example.net
    service app {
        match ingress shop/web
        match istio-gateway istio-system/public
    }
}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Clusters[0]; got.Kubeconfig != kc || got.Context != "eu" || got.InCluster {
		t.Errorf("eu-west = %+v", got)
	}
	if !c.Clusters[1].InCluster {
		t.Error("home is not in-cluster")
	}
	want := &ClusterSecrets{Pos: c.Meridian.ClusterSecrets.Pos, Namespace: "meridian", Kubeconfig: kc, Context: "home"}
	if !reflect.DeepEqual(c.Meridian.ClusterSecrets, want) || c.Meridian.Resolver != "192.0.2.53:53" {
		t.Errorf("cluster secrets %+v resolver %q", c.Meridian.ClusterSecrets, c.Meridian.Resolver)
	}
	m := c.Zones[0].Services[0].Matches
	if len(m) != 2 || m[0].Kind != "ingress" || m[0].Namespace != "shop" || m[0].Name != "web" || m[1].Kind != "istio-gateway" {
		t.Errorf("matches = %+v", m)
	}
}

func TestHealthCheckDefaults(t *testing.T) {
	c, err := Parse("t.conf", []byte("zone example.org {\n    ns ns.example.net\n    service app {\n        health {\n            kind https\n            path /healthz\n            expect 200 204-206\n            interval 1s\n            fall 3\n        }\n    }\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := c.Zones[0].Services[0].Health
	want := &HealthCheck{Pos: h.Pos, Kind: "https", Port: 443, Path: "/healthz", Method: "GET", Host: "app.example.org",
		Expect: []StatusRange{{200, 200}, {204, 206}}, Interval: time.Second, Timeout: time.Second, Jitter: 100 * time.Millisecond,
		Rise: 2, Fall: 3}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("health = %+v\nwant %+v", h, want)
	}
}

func TestHealthDurations(t *testing.T) {
	c, err := Parse("t.conf", []byte("zone example.org {\n    ns ns.example.net\n    service app {\n        health {\n            kind tcp\n            port 8443\n            interval 2\n            timeout 750ms\n            jitter 0.1s\n        }\n    }\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := c.Zones[0].Services[0].Health
	if h.Interval != 2*time.Second || h.Timeout != 750*time.Millisecond || h.Jitter != 100*time.Millisecond {
		t.Errorf("interval %v timeout %v jitter %v, want 2s 750ms 100ms", h.Interval, h.Timeout, h.Jitter)
	}
}

// TestDurationsOneSyntax: TTLs and probe durations read the same syntax as
// the API's and the CLI's "for" (internal/duration): days, weeks and Go's
// compound forms alike; a TTL must still be whole seconds.
func TestDurationsOneSyntax(t *testing.T) {
	c, err := Parse("t.conf", []byte("zone example.org {\n    ns ns.example.net\n    service app {\n        ttl 1h30m\n        health {\n            kind tcp\n            port 8443\n            interval 1d\n            timeout 1m30s\n        }\n    }\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Zones[0].Services[0]
	if s.TTL != 5400 || s.Health.Interval != 24*time.Hour || s.Health.Timeout != 90*time.Second {
		t.Errorf("ttl %d interval %v timeout %v, want 5400 24h 1m30s", s.TTL, s.Health.Interval, s.Health.Timeout)
	}
	_, err = Parse("t.conf", []byte("zone example.org {\n    ns ns.example.net\n    service app {\n        ttl 1500ms\n    }\n}\n"))
	if err == nil || !strings.Contains(err.Error(), `t.conf:4: ttl: expected seconds`) {
		t.Errorf("ttl 1500ms: %v, want a refusal", err)
	}
}

func TestXDSSettings(t *testing.T) {
	c, err := Parse("t.conf", []byte(`
meridian {
    xds 127.0.0.1:18000
    xds_gateway_ports 8443 80 8443
    xds_gateway_nodes edge-* ingress-?
}
cluster a {
    eastwest_gateway 10.0.0.1:15443
    static {
    }
}
zone example.org {
    ns ns.example.net
    service app {
        xds_port 8080
        eastwest pods 9090
    }
    service pay {
        eastwest gateway
    }
    service web {
    }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	m := c.Meridian
	if !slices.Equal(m.XDSGatewayPorts, []uint32{80, 8443}) || !slices.Equal(m.XDSGatewayNodes, []string{"edge-*", "ingress-?"}) {
		t.Errorf("gateway ports %v nodes %v", m.XDSGatewayPorts, m.XDSGatewayNodes)
	}
	if got := c.Clusters[0].EastWestGateway; got != netip.MustParseAddrPort("10.0.0.1:15443") {
		t.Errorf("east-west gateway %v", got)
	}
	type xdsOf struct {
		port     uint32
		eastWest string
		podPort  uint32
	}
	var got []xdsOf
	for _, s := range c.Zones[0].Services {
		got = append(got, xdsOf{s.XDSPort, s.EastWest, s.EastWestPort})
	}
	want := []xdsOf{{8080, "pods", 9090}, {80, "gateway", 80}, {80, "pods", 80}}
	if !slices.Equal(got, want) {
		t.Errorf("services' xDS settings %+v, want %+v", got, want)
	}
}

func TestStaticServiceForms(t *testing.T) {
	c, err := Parse("t.conf", []byte(`
cluster dc1 {
    static {
        ingress 192.0.2.1
        ingress ::ffff:192.0.2.2
        pods app 3
        vms app 2
        service api.example.org {
            ingress 2001:db8::1
            vms 4
        }
    }
}
zone example.org {
    ns ns.example.net
    service app {
    }
    service api {
    }
}`))
	if err != nil {
		t.Fatal(err)
	}
	st := c.Clusters[0].Static
	if got := st.Ingress; !reflect.DeepEqual(got, []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}) {
		t.Errorf("ingress = %v", got)
	}
	if s := st.Services[0]; s.FQDN != "app.example.org" || s.Pods != 3 || s.VMs != 2 {
		t.Errorf("app = %+v", s)
	}
	if s := st.Services[1]; s.FQDN != "api.example.org" || s.VMs != 4 || len(s.Ingress) != 1 {
		t.Errorf("api = %+v", s)
	}
}

func TestEnvAndImport(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MERIDIAN_TEST_PORT", "5399")
	write(t, filepath.Join(dir, "clusters", "a.conf"), "cluster a {\n    static {\n        ingress 192.0.2.1\n        pods app 1\n    }\n}\n")
	write(t, filepath.Join(dir, "clusters", "b.conf"), "cluster b {\n    static {\n        ingress 192.0.2.2\n        pods app oops\n    }\n}\n")
	main := filepath.Join(dir, "meridian.conf")
	write(t, main, "meridian {\n    dns 127.0.0.1:{$MERIDIAN_TEST_PORT}\n}\nimport clusters/*.conf\nzone example.org {\n    ns ns.example.net\n    service app {\n    }\n}\n")
	_, err := Load(main)
	// The error in the imported file names that file and its line.
	wantErr := filepath.Join(dir, "clusters", "b.conf") + `:4: pods: expected a count from 0 to 16777216, got "oops"`
	if err == nil || err.Error() != wantErr {
		t.Fatalf("err = %v, want %s", err, wantErr)
	}
	write(t, filepath.Join(dir, "clusters", "b.conf"), "cluster b {\n    static {\n        ingress 192.0.2.2\n        pods app 2\n    }\n}\n")
	c, err := Load(main)
	if err != nil {
		t.Fatal(err)
	}
	if c.Meridian.DNS[0] != "127.0.0.1:5399" || len(c.Clusters) != 2 {
		t.Errorf("dns %v clusters %d", c.Meridian.DNS, len(c.Clusters))
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// zoneOK completes configs whose mistakes lie elsewhere.
const zoneOK = `
zone example.org {
    ns ns1.example.org 192.0.2.53
    service app {
        policy geo
    }
}
`

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		conf string
		want []string // each error, in order
	}{
		{"unknown block", "clster a {\n}\n",
			[]string{`t.conf:1: unknown block "clster"; valid: cluster, meridian, zone`}},
		{"unknown directive lists valid ones", "meridian {\n    dns 127.0.0.1:53\n    dnz 1\n}\n",
			[]string{`t.conf:3: unknown directive "dnz" in meridian block; valid: api_tokens, audit_log, chaos, cluster_secrets, cookies, dns, dnstap, geoip, health_quorum, health_source, health_workers, http, http_limits, http_tls, nsid, overrides, replica, resolver, rrl, stale_grace, subnets, tcp_max_conns, tcp_max_conns_per_network, udp_sockets, xds, xds_gateway_nodes, xds_gateway_ports, xds_limits, xds_tls`}},
		{"chaos text longer than a TXT string", "meridian {\n    chaos version " + strings.Repeat("v", 256) + "\n}\n",
			[]string{`t.conf:2: chaos version: the text has 256 bytes; at most 255`}},
		{"unknown directive in nested block", "cluster a {\n    static {\n        pod app 1\n    }\n}\n" + zoneOK,
			[]string{`t.conf:3: unknown directive "pod" in static block; valid: ingress, pods, service, vms`}},
		{"missing argument", "cluster a {\n    region\n    static {\n    }\n}\n",
			[]string{`t.conf:2: region: expected region REGION, got 0 arguments`}},
		{"listen address without port", "meridian {\n    dns 127.0.0.1\n}\n",
			[]string{`t.conf:2: dns: "127.0.0.1" is not ADDRESS:PORT (write [::1]:53 for IPv6)`}},
		{"listen host not an IP", "meridian {\n    http localhost:80\n}\n",
			[]string{`t.conf:2: http: "localhost:80": "localhost" is not an IP address`}},
		{"bad port", "meridian {\n    xds 127.0.0.1:70000\n}\n",
			[]string{`t.conf:2: xds: "127.0.0.1:70000": port "70000" is not a number from 0 to 65535`}},
		{"same listener twice", "meridian {\n    http 127.0.0.1:9000\n    xds 127.0.0.1:9000\n}\n",
			[]string{`t.conf:1: http and xds both listen on 127.0.0.1:9000`}},
		{"bad ingress address", "cluster a {\n    static {\n        ingress 192.0.2.1 192.0.2.300\n        pods app 1\n    }\n}\n" + zoneOK,
			[]string{`t.conf:3: ingress: "192.0.2.300" is not an IP address`}},
		{"negative pods", "cluster a {\n    static {\n        ingress 192.0.2.1\n        pods app -2\n    }\n}\n" + zoneOK,
			[]string{`t.conf:4: pods: expected a count from 0 to 16777216, got "-2"`}},
		{"location out of range", "cluster a {\n    location 91 0\n    static {\n    }\n}\n",
			[]string{`t.conf:2: location: expected LATITUDE (-90 to 90) LONGITUDE (-180 to 180) in degrees, got "91" "0"`}},
		{"duplicate cluster", "cluster a {\n    static {\n    }\n}\ncluster A {\n    static {\n    }\n}\n",
			[]string{`t.conf:5: cluster a: already declared at t.conf:1`}},
		{"cluster without source", "cluster a {\n    region r\n}\n",
			[]string{`t.conf:1: cluster a: no source; add a static block, kubeconfig PATH or incluster`}},
		{"directive given twice", "cluster a {\n    region r1\n    region r2\n    static {\n    }\n}\n",
			[]string{`t.conf:3: region: already set in this cluster block at line 2`}},
		{"service without ingress", "cluster a {\n    static {\n        pods app 3\n    }\n}\n" + zoneOK,
			[]string{`t.conf:3: cluster a: service app has no ingress address; add ingress to the static block or to the service`}},
		{"undeclared service", "cluster a {\n    static {\n        ingress 192.0.2.1\n        pods web 3\n    }\n}\n" + zoneOK,
			[]string{`t.conf:4: service web is not declared in any zone; add service web { ... } to a zone block`}},
		{"ambiguous service", "cluster a {\n    static {\n        ingress 192.0.2.1\n        pods app 3\n    }\n}\n" + zoneOK +
			"zone example.net {\n    ns ns.example.org\n    service app {\n    }\n}\n",
			[]string{`t.conf:4: service app is ambiguous: it could be app.example.org or app.example.net; write the full name`}},
		{"unknown policy", "zone example.org {\n    ns ns.example.net\n    service app {\n        policy nearest\n    }\n}\n",
			[]string{`t.conf:4: policy: unknown policy "nearest"; valid: all, failover, geo, weighted`}},
		{"bad ttl", "zone example.org {\n    ns ns.example.net\n    service app {\n        ttl 10x\n    }\n}\n",
			[]string{`t.conf:4: ttl: expected seconds or a duration such as 30s, 5m, 1h, 1d, 1w up to 2147483647 seconds, got "10x"`}},
		{"zone without ns", "zone example.org {\n    service app {\n    }\n}\n",
			[]string{`t.conf:1: zone example.org: no ns directive; a delegated zone needs at least one name server`}},
		{"in-zone ns without glue", "zone example.org {\n    ns ns1.example.org\n}\n",
			[]string{`t.conf:2: ns ns1.example.org: the name is inside zone example.org, so it needs glue: ns ns1.example.org ADDRESS...`}},
		{"out-of-zone ns with glue", "zone example.org {\n    ns ns1.example.net 192.0.2.1\n}\n",
			[]string{`t.conf:2: ns ns1.example.net: the name is outside zone example.org; its addresses come from its own zone, remove the glue`}},
		{"bad zone name", "zone exa$mple.org {\n    ns ns1.example.net\n}\n",
			[]string{`t.conf:1: zone "exa$mple.org": label "exa$mple" holds '$'; use letters, digits, '-' and '_'`}},
		{"duplicate service", "zone example.org {\n    ns ns.example.net\n    service app {\n    }\n    service APP {\n    }\n}\n",
			[]string{`t.conf:5: service app: already declared at line 3`}},
		{"service named like a name server", "zone example.org {\n    ns ns1.example.org 192.0.2.1\n    service ns1 {\n    }\n}\n",
			[]string{`t.conf:3: service ns1: ns1.example.org is also a name server of the zone`}},
		{"missing geoip file", "meridian {\n    geoip /nonexistent/GeoLite2-City.mmdb\n}\n",
			[]string{`t.conf:2: geoip: stat /nonexistent/GeoLite2-City.mmdb: no such file or directory`}},
		{"block without body", "cluster a\n",
			[]string{`t.conf:1: cluster: expected cluster NAME { ... }`}},
		{"directive that takes no block", "cluster a {\n    region r {\n    }\n    static {\n    }\n}\n",
			[]string{`t.conf:2: region: does not take a block; expected region REGION`}},
		{"unclosed brace", "cluster a {\n    static {\n        ingress 192.0.2.1\n}\n",
			[]string{`t.conf:1: cluster: missing '}' to close this block`}},
		{"stray closing brace", "meridian {\n}\n}\n",
			[]string{`t.conf:3: unexpected '}': no block is open`}},
		{"pods counted twice in one zone", "cluster a {\n    static {\n        ingress 192.0.2.1 zone z\n        pods app 1 zone z\n        pods app 2 zone z\n    }\n}\n" + zoneOK,
			[]string{`t.conf:5: pods: pods already counted for app in zone z`}},
		{"zone without a name", "cluster a {\n    static {\n        ingress zone\n    }\n}\n",
			[]string{`t.conf:3: ingress: "zone" is not an IP address`}},
		{"two sources", "cluster a {\n    incluster\n    static {\n    }\n}\n",
			[]string{`t.conf:1: cluster a: give one source: a static block, kubeconfig PATH or incluster`}},
		{"missing kubeconfig", "cluster a {\n    kubeconfig /nonexistent/kubeconfig\n}\n",
			[]string{`t.conf:1: cluster a: kubeconfig: stat /nonexistent/kubeconfig: no such file or directory`}},
		{"unknown match kind", "zone example.org {\n    ns ns.example.net\n    service app {\n        match pod default/x\n    }\n}\n",
			[]string{`t.conf:4: match: unknown kind "pod"; valid: gateway, ingress, istio-gateway, service`}},
		{"match without namespace", "zone example.org {\n    ns ns.example.net\n    service app {\n        match ingress web\n    }\n}\n",
			[]string{`t.conf:4: match: expected NAMESPACE/NAME, got "web"`}},
		{"eastwest pods without a port", "zone example.org {\n    ns ns.example.net\n    service app {\n        eastwest pods\n    }\n}\n",
			[]string{`t.conf:4: eastwest: expected eastwest pods PORT or eastwest gateway`}},
		{"bad xds port", "zone example.org {\n    ns ns.example.net\n    service app {\n        xds_port 70000\n    }\n}\n",
			[]string{`t.conf:4: xds_port: expected a port from 1 to 65535, got "70000"`}},
		{"east-west gateway without a port", "cluster a {\n    eastwest_gateway 10.0.0.1\n    static {\n    }\n}\n",
			[]string{`t.conf:2: eastwest_gateway: expected an IP address and port such as 10.0.0.1:15443, got "10.0.0.1"`}},
		{"bad gateway node pattern", "meridian {\n    xds_gateway_nodes [edge\n}\n",
			[]string{`t.conf:2: xds_gateway_nodes: bad pattern "[edge": syntax error in pattern`}},
		{"missing xds certificate", "meridian {\n    xds_tls /nonexistent/cert.pem /nonexistent/key.pem\n}\n",
			[]string{`t.conf:2: xds_tls: stat /nonexistent/cert.pem: no such file or directory`, `t.conf:2: xds_tls: stat /nonexistent/key.pem: no such file or directory`}},
		{"health without a kind", "zone example.org {\n    ns ns.example.net\n    service app {\n        health {\n            port 80\n        }\n    }\n}\n",
			[]string{`t.conf:4: health: give the probe's kind: kind grpc|http|https|none|tcp`}},
		{"tcp probe without a port", "zone example.org {\n    ns ns.example.net\n    service app {\n        health {\n            kind tcp\n        }\n    }\n}\n",
			[]string{`t.conf:4: health: a tcp probe needs port PORT`}},
		{"bad expected status", "zone example.org {\n    ns ns.example.net\n    service app {\n        health {\n            kind http\n            expect 200-99\n        }\n    }\n}\n",
			[]string{`t.conf:6: expect: expected a status such as 200 or a range such as 200-399, got "200-99"`}},
		{"path without a slash", "zone example.org {\n    ns ns.example.net\n    service app {\n        health {\n            kind http\n            path healthz\n        }\n    }\n}\n",
			[]string{`t.conf:4: health: path "healthz" must start with / and hold no spaces or control characters`}},
		{"path with a space", "zone example.org {\n    ns ns.example.net\n    service app {\n        health {\n            kind http\n            path \"/a b\"\n            method \"GET /x\"\n        }\n    }\n}\n",
			[]string{`t.conf:4: health: path "/a b" must start with / and hold no spaces or control characters`,
				`t.conf:4: health: method "GET /X" must be letters only, such as GET or HEAD`}},
		{"timeout longer than interval", "zone example.org {\n    ns ns.example.net\n    service app {\n        health {\n            kind http\n            interval 1s\n            timeout 2s\n        }\n    }\n}\n",
			[]string{`t.conf:4: health: timeout 2s is longer than interval 1s`}},
		{"failover without order", "zone example.org {\n    ns ns.example.net\n    service app {\n        policy failover\n    }\n}\n",
			[]string{`t.conf:3: service app: the failover policy needs order CLUSTER...`}},
		{"order of an undeclared cluster", "cluster a {\n    static {\n    }\n}\nzone example.org {\n    ns ns.example.net\n    service app {\n        policy failover\n        order a b\n    }\n}\n",
			[]string{`t.conf:9: order: no cluster "b" is declared`}},
		{"order with another policy", "cluster a {\n    static {\n    }\n}\nzone example.org {\n    ns ns.example.net\n    service app {\n        order a\n    }\n}\n",
			[]string{`t.conf:8: order: only the failover policy takes an order; service app is geo`}},
		{"weight with another policy", "cluster a {\n    static {\n    }\n}\nzone example.org {\n    ns ns.example.net\n    service app {\n        weight a 5\n    }\n}\n",
			[]string{`t.conf:8: weight: only the weighted policy takes explicit weights; service app is geo`}},
		{"panic threshold out of range", "zone example.org {\n    ns ns.example.net\n    service app {\n        panic_threshold 101\n    }\n}\n",
			[]string{`t.conf:4: panic_threshold: expected a number from 0 to 100, got "101"`}},
		{"spill neither capacity nor hosts", "zone example.org {\n    ns ns.example.net\n    service app {\n        spill pods\n    }\n}\n",
			[]string{`t.conf:4: spill: expected capacity or hosts, got "pods"`}},
		{"spill without a mode", "zone example.org {\n    ns ns.example.net\n    service app {\n        spill\n    }\n}\n",
			[]string{`t.conf:4: spill: expected spill capacity|hosts, got 0 arguments`}},
		{"fail neither open nor closed", "zone example.org {\n    ns ns.example.net\n    service app {\n        fail shut\n    }\n}\n",
			[]string{`t.conf:4: fail: expected open or closed, got "shut"`}},
		{"serial not a number", "zone example.org {\n    ns ns.example.net\n    soa ns.example.net hostmaster@example.org {\n        serial 2024-01-01\n    }\n}\n",
			[]string{`t.conf:4: serial: expected a number from 0 to 4294967295, got "2024-01-01"`}},
		{"serial beyond 32 bits", "zone example.org {\n    ns ns.example.net\n    soa ns.example.net hostmaster@example.org {\n        serial 4294967296\n    }\n}\n",
			[]string{`t.conf:4: serial: expected a number from 0 to 4294967295, got "4294967296"`}},
		{"serial twice", "zone example.org {\n    ns ns.example.net\n    soa ns.example.net hostmaster@example.org {\n        serial 1\n        serial 2\n    }\n}\n",
			[]string{`t.conf:5: serial: already set in this soa block at line 4`}},
		{"transfers of a zone with services", "zone example.org {\n    ns ns.example.net\n    allow_transfer 192.0.2.0/24\n    notify 192.0.2.53\n    service app {\n    }\n    service web {\n    }\n}\n",
			[]string{`t.conf:3: allow_transfer: zone example.org has global services (app, ...), which a secondary cannot serve: it would hold only the static records and answer NXDOMAIN for every service. Run more Meridian replicas instead of secondaries, or add allow_transfer_without_services yes to the zone to transfer the static records anyway`,
				`t.conf:4: notify: zone example.org has global services (app, ...), which a secondary cannot serve: it would hold only the static records and answer NXDOMAIN for every service. Run more Meridian replicas instead of secondaries, or add allow_transfer_without_services yes to the zone to transfer the static records anyway`}},
		{"notify alone in a zone with a service, opted out", "zone example.org {\n    ns ns.example.net\n    allow_transfer_without_services no\n    service app {\n    }\n    notify 192.0.2.53\n}\n",
			[]string{`t.conf:6: notify: zone example.org has global services (app), which a secondary cannot serve: it would hold only the static records and answer NXDOMAIN for every service. Run more Meridian replicas instead of secondaries, or add allow_transfer_without_services yes to the zone to transfer the static records anyway`}},
		{"opt-in neither yes nor no", "zone example.org {\n    ns ns.example.net\n    allow_transfer_without_services true\n}\n",
			[]string{`t.conf:3: allow_transfer_without_services: expected yes or no, got "true"`}},
		{"several mistakes at once", "cluster a {\n    region\n    static {\n        pods app x\n    }\n}\n" + zoneOK,
			[]string{`t.conf:2: region: expected region REGION, got 0 arguments`,
				`t.conf:4: pods: expected a count from 0 to 16777216, got "x"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.conf", []byte(tc.conf))
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c != nil {
				t.Errorf("config returned with error")
			}
			got := strings.Split(err.Error(), "\n")
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Pos.File != "t.conf" || ce.Pos.Line == 0 {
				t.Errorf("error %v is not a positioned *Error", err)
			}
		})
	}
}

func TestUDPSockets(t *testing.T) {
	const zone = "zone example.org {\n    ns ns1.example.org 192.0.2.53\n}\n"
	c, err := Parse("t.conf", []byte("meridian {\n    udp_sockets 4\n}\n"+zone))
	if err != nil {
		t.Fatal(err)
	}
	if c.Meridian.UDPSockets != 4 {
		t.Errorf("UDPSockets = %d, want 4", c.Meridian.UDPSockets)
	}
	_, err = Parse("t.conf", []byte("meridian {\n    udp_sockets 0\n}\n"+zone))
	if err == nil || !strings.Contains(err.Error(), `t.conf:2: udp_sockets: expected a number from 1 to 1024, got "0"`) {
		t.Errorf("udp_sockets 0: %v", err)
	}
}

func TestTCPLimits(t *testing.T) {
	const zone = "zone example.org {\n    ns ns1.example.org 192.0.2.53\n}\n"
	c, err := Parse("t.conf", []byte("meridian {\n    tcp_max_conns 5000\n    tcp_max_conns_per_network 50 32 64\n}\n"+zone))
	if err != nil {
		t.Fatal(err)
	}
	m := c.Meridian
	if m.TCPMaxConns != 5000 || m.TCPMaxConnsPerNetwork != 50 || m.TCPIPv4Prefix != 32 || m.TCPIPv6Prefix != 64 {
		t.Errorf("got %d, %d per /%d or /%d; want 5000, 50 per /32 or /64", m.TCPMaxConns, m.TCPMaxConnsPerNetwork, m.TCPIPv4Prefix, m.TCPIPv6Prefix)
	}
	c, err = Parse("t.conf", []byte("meridian {\n    tcp_max_conns_per_network 20\n}\n"+zone))
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Meridian; m.TCPMaxConns != 0 || m.TCPMaxConnsPerNetwork != 20 || m.TCPIPv4Prefix != 0 || m.TCPIPv6Prefix != 0 {
		t.Errorf("without prefixes: got %+v, want 20 and the DNS server's defaults (0) for the rest", m)
	}
	for conf, want := range map[string]string{
		"tcp_max_conns 0":                    `t.conf:2: tcp_max_conns: expected a number from 1 to 1000000, got "0"`,
		"tcp_max_conns_per_network 0":        `t.conf:2: tcp_max_conns_per_network: expected connections from 1 to 1000000, got "0"`,
		"tcp_max_conns_per_network 10 24":    `t.conf:2: tcp_max_conns_per_network: expected tcp_max_conns_per_network N [IPV4_PREFIX IPV6_PREFIX]: both prefix lengths or neither`,
		"tcp_max_conns_per_network 10 33 56": `t.conf:2: tcp_max_conns_per_network: expected IPv4 prefix length from 8 to 32, got "33"`,
		"tcp_max_conns_per_network 10 24 x":  `t.conf:2: tcp_max_conns_per_network: expected IPv6 prefix length from 16 to 128, got "x"`,
		"tcp_max_conns_per_network":          `t.conf:2: tcp_max_conns_per_network: expected tcp_max_conns_per_network N [IPV4_PREFIX IPV6_PREFIX], got 0 arguments`,
	} {
		_, err := Parse("t.conf", []byte("meridian {\n    "+conf+"\n}\n"+zone))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %s", conf, err, want)
		}
	}
}

// TestSerialAndTransferDirectives: an explicit serial is kept as written,
// and a zone with services may be transferred once the operator opts in.
func TestSerialAndTransferDirectives(t *testing.T) {
	c, err := Parse("t.conf", []byte(`zone example.org {
    ns ns.example.net
    soa ns.example.net hostmaster@example.org {
        serial 4294967295
        minimum 30
    }
    allow_transfer 192.0.2.0/24
    notify 192.0.2.53:5300
    allow_transfer_without_services yes
    service app {
    }
}
zone example.net {
    ns ns.example.org
    allow_transfer 192.0.2.0/24
}
`))
	if err != nil {
		t.Fatal(err)
	}
	z := c.Zones[0]
	if !z.SOA.HasSerial || z.SOA.Serial != 4294967295 || z.SOA.Minimum != 30 {
		t.Errorf("soa = %+v, want the explicit serial 4294967295", z.SOA)
	}
	if !z.AllowTransferWithoutServices || len(z.AllowTransfer) != 1 || len(z.Notify) != 1 {
		t.Errorf("zone with services and the opt-in: %+v", z)
	}
	if n := c.Zones[1]; n.SOA.HasSerial || n.AllowTransferWithoutServices {
		t.Errorf("zone without a serial or services: %+v", n)
	}
}
