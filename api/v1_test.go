package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/internal/testlog"
	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
)

const (
	readToken  = "read-secret-1"
	adminToken = "admin-secret-1"
	svcName    = "app.gslb.example.com"
)

// fixture is a running API over a small world: three clusters, one geo
// service, a file store and an audit log in a temporary directory.
type fixture struct {
	t       *testing.T
	srv     *httptest.Server
	store   *FileStore
	audit   *AuditLog
	dir     string
	mu      sync.Mutex
	plan    *model.Plan
	applied int
	inv     model.Inventory
	pol     model.Policies
}

func tokenLine(name, role, secret string) string {
	h := sha256.Sum256([]byte(secret))
	return fmt.Sprintf("%s %s %s\n", name, role, hex.EncodeToString(h[:]))
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, nil)
}

// newFixtureWith is newFixture with the API's config changed by edit.
func newFixtureWith(t *testing.T, edit func(*V1Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir()}
	tokensPath := filepath.Join(f.dir, "tokens")
	os.WriteFile(tokensPath, []byte("# who role sha256\n"+tokenLine("alice", "admin", adminToken)+tokenLine("grafana", "read", readToken)), 0o600)
	tokens, err := LoadTokens(tokensPath)
	if err != nil {
		t.Fatal(err)
	}
	if f.store, err = OpenFileStore(filepath.Join(f.dir, "overrides.json")); err != nil {
		t.Fatal(err)
	}
	if f.audit, err = OpenAuditLog(filepath.Join(f.dir, "audit.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.audit.Close() })
	f.inv = model.NewInventory([]model.Cluster{
		{Name: "eu-west", Locality: model.Locality{Region: "eu-west"}, Location: model.LocationAt(model.Point{Lat: 53.35, Lon: -6.26})},
		{Name: "us-east", Locality: model.Locality{Region: "us-east"}, Location: model.LocationAt(model.Point{Lat: 38.9, Lon: -77.4})},
		{Name: "ap-southeast", Locality: model.Locality{Region: "ap-southeast"}, Location: model.LocationAt(model.Point{Lat: 1.29, Lon: 103.85})},
	}, []model.Backend{
		{Service: svcName, Cluster: "eu-west", Ingress: []netip.Addr{netip.MustParseAddr("192.0.2.10")}, ReadyPods: 3},
		{Service: svcName, Cluster: "us-east", Ingress: []netip.Addr{netip.MustParseAddr("198.51.100.10")}, ReadyPods: 3},
		{Service: svcName, Cluster: "ap-southeast", Ingress: []netip.Addr{netip.MustParseAddr("203.0.113.10")}, ReadyPods: 3},
	})
	f.pol = model.NewPolicies(model.DefaultStaleGrace, []model.ServicePolicy{model.DefaultPolicy(svcName, model.Geo)})
	f.apply(context.Background(), model.NewOverrides(f.configOverrides()))
	cfg := &V1Config{
		Tokens: tokens, Store: f.store, Audit: f.audit,
		Plan:            func() *model.Plan { f.mu.Lock(); defer f.mu.Unlock(); return f.plan },
		Inventory:       func() model.Inventory { return f.inv },
		Health:          func() model.Health { return model.Health{} },
		ConfigOverrides: f.configOverrides,
		Apply:           f.apply,
		Preview:         func(o model.Overrides) *model.Plan { return weights.Solve(time.Now(), f.inv, model.Health{}, o, f.pol) },
		Locate: func(a netip.Addr) model.Client {
			if a == netip.MustParseAddr("81.2.69.1") { // London
				return model.Client{Addr: a, Location: model.LocationAt(model.Point{Lat: 51.5, Lon: -0.1}), Country: "GB", Continent: "EU"}
			}
			return model.Client{Addr: a}
		},
		NACKs: func() []NACK { return []NACK{{Node: "gw-1", Type: "Cluster", Detail: "bad"}} },
		DNSSEC: func(zone string) ([]DNSSECKey, bool) {
			if zone != "gslb.example.com" {
				return nil, false
			}
			return []DNSSECKey{{Tag: 1, Algorithm: 13, Flags: 257, Role: "ksk", DNSKEY: "k1", DS: "ds1"}, {Tag: 2, Algorithm: 13, Flags: 256, Role: "zsk", DNSKEY: "k2"}}, true
		},
	}
	if edit != nil {
		edit(cfg)
	}
	f.srv = httptest.NewServer(Handler(Config{Gatherer: prometheus.NewRegistry(), Ready: func() error { return nil }, V1: cfg}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) configOverrides() []model.Override {
	return []model.Override{{ID: "config.drain.ap-southeast", Kind: model.Drain, Cluster: "ap-southeast", Author: "config", Reason: "in the config"}}
}

func (f *fixture) apply(_ context.Context, o model.Overrides) error {
	p := weights.Solve(time.Now(), f.inv, model.Health{}, o, f.pol)
	f.mu.Lock()
	f.plan = p
	f.applied++
	f.mu.Unlock()
	return nil
}

// share returns the share of cluster for clients nearest site.
func (f *fixture) share(site, cluster string) float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, _ := f.plan.Service(svcName)
	for b, st := range f.plan.Sites {
		if st.Cluster != site {
			continue
		}
		total := 0.0
		for _, sh := range s.Route(b).Shares {
			if s.ClusterOf(sh.Target) == cluster {
				total += sh.Fraction
			}
		}
		return total
	}
	return -1
}

// do sends a request and decodes the JSON answer into out (when not nil).
func (f *fixture) do(method, path, token, body string, out any) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(path, "/api/") && ct != "application/json" {
		f.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

func (f *fixture) auditRecords() []AuditRecord {
	recs, damaged, err := f.audit.Read()
	if err != nil || len(damaged) > 0 {
		f.t.Fatal(err, damaged)
	}
	return recs
}

// TestEveryEndpointAndRole calls every route without a token, with a
// read token and with an admin token.
func TestEveryEndpointAndRole(t *testing.T) {
	f := newFixture(t)
	f.do("PUT", "/api/v1/overrides/x", adminToken, `{"kind":"drain","cluster":"us-east","reason":"r"}`, nil)
	concrete := strings.NewReplacer("{name}", svcName, "{id}", "x", "{zone}", "gslb.example.com")
	for _, rt := range v1Routes {
		path := concrete.Replace(rt.path)
		if rt.path == "/api/v1/explain" {
			path += "?name=" + svcName + "&client=81.2.69.1"
		}
		body := ""
		if rt.method == "PUT" {
			body = `{"kind":"drain","cluster":"us-east","reason":"r"}`
		}
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			if rt.role == 0 {
				if code, _ := f.do(rt.method, path, "", body, nil); code != 200 {
					t.Errorf("without a token: %d, want 200", code)
				}
				return
			}
			code, text := f.do(rt.method, path, "", body, nil)
			var e apiError
			if code != 401 || json.Unmarshal([]byte(text), &e) != nil || e.Error == "" {
				t.Errorf("without a token: %d %s, want 401 with a JSON error", code, text)
			}
			if code, _ := f.do(rt.method, path, "wrong-secret", body, nil); code != 401 {
				t.Errorf("with a wrong token: %d, want 401", code)
			}
			code, text = f.do(rt.method, path, readToken, body, nil)
			if rt.role == AdminRole && code != 403 {
				t.Errorf("with a read token: %d %s, want 403", code, text)
			}
			if rt.role == ReadRole && code != 200 {
				t.Errorf("with a read token: %d %s, want 200", code, text)
			}
			if code, text := f.do(rt.method, path, adminToken, body, nil); code/100 != 2 {
				t.Errorf("with an admin token: %d %s", code, text)
			}
		})
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, _ := f.do("GET", path, "", "", nil); code != 200 {
			t.Errorf("%s without a token: %d", path, code)
		}
	}
	if code, text := f.do("GET", "/api/v1/nope", readToken, "", nil); code != 404 || !strings.Contains(text, "openapi.json") {
		t.Errorf("unknown endpoint: %d %s", code, text)
	}
}

func TestOverrideLifecycle(t *testing.T) {
	f := newFixture(t)
	if s := f.share("eu-west", "eu-west"); s != 1 {
		t.Fatalf("before any override eu-west clients send %v to eu-west", s)
	}
	drain := `{"kind":"drain","cluster":"eu-west","reason":"kernel upgrade"}`

	// A dry run shows the change and changes nothing.
	var dry writeResult
	if code, text := f.do("PUT", "/api/v1/overrides/drain-eu?dry_run=true", adminToken, drain, &dry); code != 200 || !dry.DryRun {
		t.Fatalf("dry run: %d %s", code, text)
	}
	if !slices.ContainsFunc(dry.Changes, func(c planChange) bool {
		return c.Site == "eu-west" && c.Cluster == "eu-west" && c.Before == 1 && c.After == 0
	}) {
		t.Errorf("dry run changes %+v lack eu-west's share going from 1 to 0", dry.Changes)
	}
	if len(f.store.List()) != 0 || f.share("eu-west", "eu-west") != 1 || len(f.auditRecords()) != 0 {
		t.Fatal("the dry run changed something")
	}

	var res writeResult
	if code, text := f.do("PUT", "/api/v1/overrides/drain-eu", adminToken, drain, &res); code != 201 {
		t.Fatalf("PUT: %d %s", code, text)
	}
	if res.Override.Author != "alice" || res.Override.Reason != "kernel upgrade" || res.Override.Expires != nil {
		t.Errorf("stored override %+v", res.Override)
	}
	if s := f.share("eu-west", "eu-west"); s != 0 {
		t.Errorf("after the drain eu-west clients send %v to eu-west", s)
	}
	// The write answers with the shares that moved, as the dry run said.
	if !slices.EqualFunc(res.Changes, dry.Changes, func(a, b planChange) bool { return a == b }) {
		t.Errorf("the write's changes %+v, the dry run's %+v", res.Changes, dry.Changes)
	}
	applied := f.applied

	// The same PUT again changes nothing.
	if code, _ := f.do("PUT", "/api/v1/overrides/drain-eu", adminToken, drain, nil); code != 200 {
		t.Errorf("repeated PUT: %d", code)
	}
	if f.applied != applied || len(f.auditRecords()) != 1 {
		t.Errorf("a repeated PUT applied or audited again: %d applies, %d records", f.applied-applied, len(f.auditRecords()))
	}

	// A changed reason and an expiry replace it; the audit log has before
	// and after.
	if code, _ := f.do("PUT", "/api/v1/overrides/drain-eu", adminToken, `{"kind":"drain","cluster":"eu-west","reason":"longer","for":"2h"}`, &res); code != 200 {
		t.Errorf("replacing PUT: %d", code)
	}
	if res.Override.Expires == nil || time.Until(*res.Override.Expires) < 119*time.Minute {
		t.Errorf("for 2h gave expiry %v", res.Override.Expires)
	}
	recs := f.auditRecords()
	if len(recs) != 2 || recs[1].Before == nil || recs[1].Before.Reason != "kernel upgrade" || recs[1].After.Reason != "longer" || recs[1].Identity != "alice" {
		t.Errorf("audit log %+v", recs)
	}

	var list []Override
	f.do("GET", "/api/v1/overrides", readToken, "", &list)
	if len(list) != 2 || list[0].ID != "config.drain.ap-southeast" || list[1].ID != "drain-eu" {
		t.Errorf("overrides %+v", list)
	}

	// The store survives a restart.
	reopened, err := OpenFileStore(filepath.Join(f.dir, "overrides.json"))
	if err != nil || len(reopened.List()) != 1 || reopened.List()[0].Reason != "longer" {
		t.Errorf("reopened store: %v %+v", err, reopened.List())
	}

	if code, _ := f.do("DELETE", "/api/v1/overrides/drain-eu?dry_run=true", adminToken, "", nil); code != 200 || len(f.store.List()) != 1 {
		t.Errorf("DELETE dry run: %d, store %v", code, f.store.List())
	}
	if code, _ := f.do("DELETE", "/api/v1/overrides/drain-eu", adminToken, "", nil); code != 200 {
		t.Errorf("DELETE: %d", code)
	}
	if s := f.share("eu-west", "eu-west"); s != 1 {
		t.Errorf("after the delete eu-west clients send %v to eu-west", s)
	}
	if code, _ := f.do("DELETE", "/api/v1/overrides/drain-eu", adminToken, "", nil); code != 404 {
		t.Errorf("second DELETE: %d, want 404", code)
	}
	if code, _ := f.do("DELETE", "/api/v1/overrides/config.drain.ap-southeast", adminToken, "", nil); code != 409 {
		t.Errorf("DELETE of a config file's override: %d, want 409", code)
	}
	if code, _ := f.do("PUT", "/api/v1/overrides/config.drain.ap-southeast", adminToken, drain, nil); code != 409 {
		t.Errorf("PUT over a config file's override: %d, want 409", code)
	}
	if recs := f.auditRecords(); len(recs) != 3 || recs[2].Action != "delete-override" || recs[2].After != nil {
		t.Errorf("audit log after delete %+v", recs)
	}
}

// TestInvalidWritesChangeNothing sends bad writes and checks each gets a
// 400 naming the field, and that neither the store, its file, the Plan
// nor the audit log changed.
func TestInvalidWritesChangeNothing(t *testing.T) {
	f := newFixture(t)
	f.do("PUT", "/api/v1/overrides/keep", adminToken, `{"kind":"weight","service":"app.gslb.example.com","cluster":"us-east","weight":5,"reason":"pin"}`, nil)
	file := filepath.Join(f.dir, "overrides.json")
	before, _ := os.ReadFile(file)
	applied, records := f.applied, len(f.auditRecords())
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		id, body, field string
	}{
		{"x", `{"kind":"drain","cluster":"eu-west","reason":"r","colour":"red"}`, "colour"},
		{"x", `{"kind":"explode","cluster":"eu-west","reason":"r"}`, "kind"},
		{"x", `{"kind":"drain","cluster":"eu-west"}`, "reason"},
		{"x", `{"kind":"drain","cluster":"mars","reason":"r"}`, "cluster"},
		{"x", `{"kind":"drain","reason":"r"}`, "cluster"},
		{"x", `{"kind":"weight","service":"app.gslb.example.com","cluster":"eu-west","reason":"r"}`, "weight"},
		{"x", `{"kind":"disable","address":"not-an-ip","reason":"r"}`, "address"},
		{"x", `{"kind":"drain","service":"nope.example.com","cluster":"eu-west","reason":"r"}`, "service"},
		{"x", `{"kind":"failover","service":"app.gslb.example.com","order":["eu-west","mars"],"reason":"r"}`, "order"},
		{"x", `{"kind":"drain","cluster":"eu-west","reason":"r","expires":"` + past + `"}`, "expires"},
		{"x", `{"kind":"drain","cluster":"eu-west","reason":"r","for":"soon"}`, "for"},
		{"Bad_ID", `{"kind":"drain","cluster":"eu-west","reason":"r"}`, "id"},
		{"x", `{"kind":"drain",`, ""},
		{"x", `{"kind":"drain","cluster":"eu-west","reason":"r"} {}`, ""},
		{"keep", `{"kind":"drain","cluster":"eu-west","reason":"r","weight":3}`, "weight"},
	} {
		code, text := f.do("PUT", "/api/v1/overrides/"+tc.id, adminToken, tc.body, nil)
		var e apiError
		json.Unmarshal([]byte(text), &e)
		if code != 400 || e.Error == "" || e.Field != tc.field {
			t.Errorf("PUT %s %s: %d %s, want 400 naming field %q", tc.id, tc.body, code, text, tc.field)
		}
	}
	after, _ := os.ReadFile(file)
	if !bytes.Equal(before, after) || f.applied != applied || len(f.auditRecords()) != records || len(f.store.List()) != 1 {
		t.Error("an invalid write changed something")
	}
}

func TestReads(t *testing.T) {
	f := newFixture(t)
	var clusters []clusterJSON
	f.do("GET", "/api/v1/clusters", readToken, "", &clusters)
	if len(clusters) != 3 || clusters[0].Name != "ap-southeast" || clusters[0].Location == nil || !clusters[0].Reachable {
		t.Errorf("clusters %+v", clusters)
	}
	var svc serviceJSON
	f.do("GET", "/api/v1/services/"+svcName, readToken, "", &svc)
	if svc.Name != svcName || len(svc.Targets) != 3 || len(svc.Routes) != 4 {
		t.Errorf("service %+v", svc)
	}
	// The config drains ap-southeast: its clients go to the next nearest.
	for _, r := range svc.Routes {
		if r.Shares["ap-southeast"] != 0 {
			t.Errorf("route %+v sends traffic to the drained cluster", r)
		}
	}
	if code, _ := f.do("GET", "/api/v1/services/nope.example.com", readToken, "", nil); code != 404 {
		t.Errorf("unknown service: %d", code)
	}
	var st statusJSON
	f.do("GET", "/api/v1/status", readToken, "", &st)
	if len(st.PlanVersion) != 16 || st.Services != 1 || st.Clusters != 3 || st.Overrides != 1 {
		t.Errorf("status %+v", st)
	}
	var nacks []NACK
	f.do("GET", "/api/v1/nacks", readToken, "", &nacks)
	if len(nacks) != 1 || nacks[0].Node != "gw-1" {
		t.Errorf("nacks %+v", nacks)
	}
}

// TestDNSSECKeys: a signed zone's keys and the DS records of its
// key-signing keys; a zone that is not signed is a 404 that says so.
func TestDNSSECKeys(t *testing.T) {
	f := newFixture(t)
	var out dnssecJSON
	if code, text := f.do("GET", "/api/v1/dnssec/GSLB.example.com.", readToken, "", &out); code != 200 || out.Zone != "gslb.example.com" ||
		len(out.Keys) != 2 || len(out.DS) != 1 || out.DS[0] != "ds1" {
		t.Errorf("%d %s", code, text)
	}
	if code, text := f.do("GET", "/api/v1/dnssec/other.example", readToken, "", nil); code != 404 || !strings.Contains(text, "not signed") {
		t.Errorf("an unsigned zone: %d %s", code, text)
	}
}

func TestExplain(t *testing.T) {
	f := newFixture(t)
	var e explainJSON
	code, text := f.do("GET", "/api/v1/explain?name=App.Gslb.Example.Com.&client=81.2.69.1", readToken, "", &e)
	if code != 200 || !e.Located || e.Site != "eu-west" || len(e.DNS) != 1 || e.DNS[0].Address != "192.0.2.10" || e.Summary == "" {
		t.Errorf("explain for a London client: %d %s", code, text)
	}
	if len(e.XDS) == 0 || e.XDS[0].Cluster != "eu-west" || e.XDS[0].Priority != 0 {
		t.Errorf("xds view %+v, want eu-west at priority 0 first", e.XDS)
	}
	f.do("GET", "/api/v1/explain?name="+svcName+"&client=192.0.2.99", readToken, "", &e)
	if e.Located || e.Site != "" {
		t.Errorf("an unlocated client: %+v", e)
	}
	// An xDS node's view: its locality places it as xDS does.
	e = explainJSON{}
	code, text = f.do("GET", "/api/v1/explain?name="+svcName+"&region=eu-west&zone=elsewhere", readToken, "", &e)
	if code != 200 || e.Site != "eu-west" || e.Region != "eu-west" || e.Zone != "elsewhere" || e.Client != "" || e.Located {
		t.Errorf("explain for a node in eu-west: %d %s", code, text)
	}
	if e.Note != "no located cluster is in zone elsewhere of region eu-west: the nodes are placed by their region" {
		t.Errorf("a zone no cluster is in: note %q", e.Note)
	}
	e = explainJSON{}
	f.do("GET", "/api/v1/explain?name="+svcName+"&region=mars", readToken, "", &e)
	if e.Site != "" || e.Note != "no located cluster is in region mars: the nodes are of unknown location" {
		t.Errorf("a region no cluster is in: site %q, note %q", e.Site, e.Note)
	}
	for _, q := range []string{"?client=81.2.69.1", "?name=" + svcName, "?name=" + svcName + "&client=nope",
		"?name=" + svcName + "&client=81.2.69.1&region=eu-west", "?name=" + svcName + "&zone=eu-west-1a"} {
		if code, _ := f.do("GET", "/api/v1/explain"+q, readToken, "", nil); code != 400 {
			t.Errorf("explain%s: %d, want 400", q, code)
		}
	}
	if code, _ := f.do("GET", "/api/v1/explain?name=nope.example.com&client=81.2.69.1", readToken, "", nil); code != 404 {
		t.Errorf("explain of an unknown name: %d", code)
	}
}

// TestOpenAPIMatchesRoutes checks that the document lists exactly the
// routes served, with the status codes each can answer.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			Responses map[string]any `json:"responses"`
			Security  *[]any         `json:"security"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	served := map[string]route{}
	for _, rt := range v1Routes {
		served[strings.ToLower(rt.method)+" "+rt.path] = rt
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			key := method + " " + path
			documented[key] = true
			rt, ok := served[key]
			if !ok {
				t.Errorf("the document lists %s, which is not served", key)
				continue
			}
			want := []string{}
			switch rt.role {
			case 0:
				if op.Security == nil || len(*op.Security) != 0 {
					t.Errorf("%s needs no token but the document does not say so", key)
				}
			case ReadRole:
				want = append(want, "401")
			case AdminRole:
				want = append(want, "401", "403")
				if rt.method == "PUT" {
					want = append(want, "400")
				}
			}
			for _, code := range want {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("%s can answer %s, undocumented", key, code)
				}
			}
		}
	}
	for key := range served {
		if !documented[key] {
			t.Errorf("%s is served but not in the document", key)
		}
	}
}

// TestClusterResyncing lists a cluster that answers again and is still
// listing its objects: not reachable, lost since its last contact, and
// resyncing.
func TestClusterResyncing(t *testing.T) {
	lostAt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := newFixtureWith(t, func(cfg *V1Config) {
		inv := cfg.Inventory()
		cs := slices.Clone(inv.Clusters())
		for i := range cs {
			if cs[i].Name == "us-east" {
				cs[i].LostAt, cs[i].Resyncing = lostAt, true
			}
		}
		inv = inv.WithClusters(cs)
		cfg.Inventory = func() model.Inventory { return inv }
	})
	var clusters []clusterJSON
	f.do("GET", "/api/v1/clusters", readToken, "", &clusters)
	for _, c := range clusters {
		want := c.Name == "us-east"
		if c.Resyncing != want || c.Reachable == want || (c.LostAt != nil) != want {
			t.Errorf("cluster %+v: want resyncing and lost %v", c, want)
		}
	}
}

// TestOverrideChangesAreLogged: a write through the API logs who made it
// and the override: kind, service, cluster, reason and expiry.
func TestOverrideChangesAreLogged(t *testing.T) {
	var buf testlog.Buffer
	f := newFixtureWith(t, func(c *V1Config) { c.Logger = slog.New(slog.NewTextHandler(&buf, nil)) })
	body := `{"kind":"drain","service":"` + svcName + `","cluster":"eu-west","reason":"kernel upgrade","expires":"2030-01-02T03:04:05Z"}`
	if code, text := f.do("PUT", "/api/v1/overrides/drain-eu", adminToken, body, nil); code != 201 {
		t.Fatalf("PUT: %d %s", code, text)
	}
	if code, text := f.do("DELETE", "/api/v1/overrides/drain-eu", adminToken, "", nil); code != 200 {
		t.Fatalf("DELETE: %d %s", code, text)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for _, action := range []string{"put-override", "delete-override"} {
		var line string
		for _, l := range lines {
			if strings.Contains(l, "msg=\"override changed\"") && strings.Contains(l, "action="+action) {
				line = l
			}
		}
		for _, want := range []string{"identity=alice", "id=drain-eu", "override.kind=drain", "override.service=" + svcName,
			"override.cluster=eu-west", `override.reason="kernel upgrade"`, "override.expires=2030-01-02T03:04:05Z"} {
			if !strings.Contains(line, want) {
				t.Errorf("%s: the log line lacks %s:\n%s", action, want, buf.String())
			}
		}
	}
}
