package xds

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
)

var update = flag.Bool("update", false, "rewrite testdata/*.yaml from the current code and delete stale files")

var (
	dublin    = model.Point{Lat: 53.35, Lon: -6.26}
	virginia  = model.Point{Lat: 38.9, Lon: -77.4}
	singapore = model.Point{Lat: 1.29, Lon: 103.85}
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// testPlan is the world of the golden files: three clusters, a geo
// service with one address down in us-east, and a weighted service drained
// in ap-southeast, with hosts spill: Envoy spills by itself, by address.
func testPlan(t testing.TB) *model.Plan { return testPlanSpill(t, model.SpillHosts) }

// testPlanSpill is testPlan with the given spill mode. With capacity
// spill, us-east's down address costs it nothing and 6 of eu-west's 12
// pods are not ready.
func testPlanSpill(t testing.TB, spill model.SpillMode) *model.Plan {
	t.Helper()
	notReady := 0
	if spill == model.SpillCapacity {
		notReady = 6
	}
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	inv := model.NewInventory([]model.Cluster{
		{Name: "eu-west", Locality: model.Locality{Region: "eu-west-1", Zone: "eu-west-1a"}, Location: model.LocationAt(dublin)},
		{Name: "us-east", Locality: model.Locality{Region: "us-east-1", Zone: "us-east-1b"}, Location: model.LocationAt(virginia)},
		{Name: "ap-southeast", Locality: model.Locality{Region: "ap-southeast-1", Zone: "ap-southeast-1a"}, Location: model.LocationAt(singapore)},
	}, []model.Backend{
		{Service: "app.gslb.example.com", Cluster: "eu-west", Ingress: addrs("192.0.2.10", "192.0.2.11"), ReadyPods: 6, NotReadyPods: notReady, PodIPs: addrs("10.1.0.1", "10.1.0.2")},
		{Service: "app.gslb.example.com", Cluster: "us-east", Ingress: addrs("198.51.100.10", "198.51.100.11"), ReadyPods: 4, PodIPs: addrs("10.2.0.1")},
		{Service: "app.gslb.example.com", Cluster: "ap-southeast", Ingress: addrs("203.0.113.10"), ReadyPods: 2, PodIPs: addrs("10.3.0.1")},
		{Service: "pay.gslb.example.com", Cluster: "eu-west", Ingress: addrs("192.0.2.20"), ReadyPods: 3},
		{Service: "pay.gslb.example.com", Cluster: "us-east", Ingress: addrs("198.51.100.20"), ReadyPods: 9},
		{Service: "pay.gslb.example.com", Cluster: "ap-southeast", Ingress: addrs("203.0.113.20"), ReadyPods: 3},
	})
	health := model.NewHealth([]model.TargetHealth{
		{Service: "app.gslb.example.com", Cluster: "us-east", Address: netip.MustParseAddr("198.51.100.11"), State: model.Down, Since: at, Reason: "HTTP 503"},
	})
	ovr := model.NewOverrides([]model.Override{
		{Kind: model.Drain, Service: "pay.gslb.example.com", Cluster: "ap-southeast", Reason: "migration", Author: "ops", Created: at.Add(-time.Hour)},
	})
	app, pay := model.DefaultPolicy("app.gslb.example.com", model.Geo), model.DefaultPolicy("pay.gslb.example.com", model.Weighted)
	app.Spill, pay.Spill = spill, spill
	pol := model.NewPolicies(model.DefaultStaleGrace, []model.ServicePolicy{app, pay})
	return weights.Solve(at, inv, health, ovr, pol)
}

func testOptions() Options {
	return Options{
		GatewayPorts: []uint32{443, 80},
		Services: map[string]ServiceOptions{
			"app.gslb.example.com": {Port: 8080, EastWest: Pods, PodPort: 9090},
			"pay.gslb.example.com": {Port: 443, EastWest: ViaGateway},
		},
		EastWestGateways: map[string]netip.AddrPort{
			"eu-west": netip.MustParseAddrPort("192.0.2.100:15443"),
			"us-east": netip.MustParseAddrPort("198.51.100.100:15443"),
		},
	}
}

// TestGolden renders the resources of each kind of node group and compares
// them with testdata; -update rewrites the files. A file in testdata that
// no case renders (a case renamed or removed) fails the test, as it would
// otherwise be reviewed as if it were checked; -update deletes it.
func TestGolden(t *testing.T) {
	rendered := map[string]bool{}
	for _, tc := range []struct {
		file  string
		group Group
		spill model.SpillMode
	}{
		{"gateway-eu-west.yaml", Group{Role: Gateway, Region: "eu-west-1", Zone: "eu-west-1a"}, model.SpillHosts},
		{"gateway-ap-southeast.yaml", Group{Role: Gateway, Region: "ap-southeast-1", Zone: "ap-southeast-1c"}, model.SpillHosts},
		{"sidecar-us-east.yaml", Group{Role: Sidecar, Region: "us-east-1", Zone: "us-east-1b"}, model.SpillHosts},
		{"grpc-eu-west.yaml", Group{Role: GRPC, Region: "eu-west-1", Zone: "eu-west-1a"}, model.SpillHosts},
		{"grpc-unknown.yaml", Group{Role: GRPC}, model.SpillHosts},
		// Capacity spill: gateways get the Plan's split pre-spilled in
		// priority 0 and the rest as standby priorities.
		{"capacity-gateway-eu-west.yaml", Group{Role: Gateway, Region: "eu-west-1", Zone: "eu-west-1a"}, model.SpillCapacity},
		{"capacity-gateway-us-east.yaml", Group{Role: Gateway, Region: "us-east-1", Zone: "us-east-1b"}, model.SpillCapacity},
		{"capacity-grpc-eu-west.yaml", Group{Role: GRPC, Region: "eu-west-1", Zone: "eu-west-1a"}, model.SpillCapacity},
	} {
		rendered[tc.file] = true
		plan := testPlanSpill(t, tc.spill)
		t.Run(tc.file, func(t *testing.T) {
			r, err := Build(plan, tc.group, testOptions())

			if err != nil {
				t.Fatal(err)
			}
			got := renderYAML(t, r)
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("resources differ from %s (go test -update rewrites it); got:\n%s", path, got)
			}
		})
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files in testdata: %v", err)
	}
	for _, path := range files {
		if rendered[filepath.Base(path)] {
			continue
		}
		if *update {
			if err := os.Remove(path); err != nil {
				t.Error(err)
			}
		} else {
			t.Errorf("%s is rendered by no case of TestGolden (go test -run TestGolden -update deletes it)", path)
		}
	}
}

// renderYAML writes every resource as YAML in a stable form: protojson,
// then YAML with sorted keys.
func renderYAML(t testing.TB, r Resources) []byte {
	t.Helper()
	var b bytes.Buffer
	section := func(title string, ms []proto.Message) {
		b.WriteString("# " + title + "\n")
		for _, m := range ms {
			j, err := protojson.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			y, err := yaml.JSONToYAML(j)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString("---\n")
			b.Write(y)
		}
	}
	section("listeners", toMessages(r.Listeners))
	section("routes", toMessages(r.Routes))
	section("clusters", toMessages(r.Clusters))
	section("endpoints", toMessages(r.Endpoints))
	return b.Bytes()
}

func toMessages[T proto.Message](xs []T) []proto.Message {
	out := make([]proto.Message, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// TestBuildIsDeterministic checks that the same Plan gives byte-equal
// resources, which content-hash versions rely on.
func TestBuildIsDeterministic(t *testing.T) {
	plan := testPlan(t)
	g := Group{Role: Gateway, Region: "us-east-1"}
	a, err := Build(plan, g, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		b, err := Build(plan, g, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(renderYAML(t, a), renderYAML(t, b)) {
			t.Fatal("two builds of one Plan differ")
		}
	}
	if !strings.Contains(string(renderYAML(t, a)), "gateway/us-east-1//app.gslb.example.com") {
		t.Error("endpoints are not named after the group")
	}
}
