package weights

import (
	"net/netip"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// inputs are the four values Solve takes.
type inputs struct {
	inv    model.Inventory
	health model.Health
	ovr    model.Overrides
	pol    model.Policies
}

// writableWorld has a slice for every write a caller could try through
// the model's accessors: backends with zones and pod addresses, a down
// target, failover and weighted policies, a map, a force-failover
// override, a bias and a subnet list.
func writableWorld() inputs {
	a := netip.MustParseAddr
	at := func(lat, lon float64) model.Location { return model.LocationAt(model.Point{Lat: lat, Lon: lon}) }
	clusters := []model.Cluster{
		{Name: "a", Locality: model.Locality{Region: "r1", Zone: "r1-a"}, Location: at(50, 0)},
		{Name: "b", Locality: model.Locality{Region: "r2", Zone: "r2-a"}, Location: at(40, -75)},
		{Name: "c", Locality: model.Locality{Region: "r3", Zone: "r3-a"}, Location: at(1, 103)},
	}
	var backends []model.Backend
	for _, svc := range []string{"fo", "geo", "w"} {
		for i, c := range []string{"a", "b", "c"} {
			x, y := a("10.0.0.1").As4(), a("10.0.0.2").As4()
			x[2], y[2] = byte(i), byte(i)
			one, two := netip.AddrFrom4(x), netip.AddrFrom4(y)
			backends = append(backends, model.Backend{Service: svc, Cluster: c, Ingress: []netip.Addr{one, two}, ReadyPods: 8,
				ZonePods:     []model.ZonePods{{Zone: "z1", ReadyPods: 3}, {Zone: "z2", ReadyPods: 5}},
				IngressZones: []model.AddrZone{{Addr: one, Zone: "z1"}, {Addr: two, Zone: "z2"}},
				PodIPs:       []netip.Addr{a("172.16.0.1"), a("172.16.0.2")}})
		}
	}
	geo := model.DefaultPolicy("geo", model.Geo)
	geo.Map = []model.MapEntry{{Match: model.MatchSubnet, Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Clusters: []string{"b"}}}
	fo := model.DefaultPolicy("fo", model.Failover)
	fo.Order = []string{"a", "b", "c"}
	w := model.DefaultPolicy("w", model.Weighted)
	w.Weights = []model.ClusterWeight{{Cluster: "a", Weight: 1}, {Cluster: "b", Weight: 3}}
	pol := model.NewPolicies(model.DefaultStaleGrace, []model.ServicePolicy{fo, geo, w})
	pol.Bias = map[string]int{"a": 10}
	pol.Nets = []model.Net{{Prefix: netip.MustParsePrefix("192.168.0.0/16"), Clusters: []string{"c"}}}
	return inputs{
		inv:    model.NewInventory(clusters, backends),
		health: model.NewHealth([]model.TargetHealth{{Service: "fo", Cluster: "a", Address: a("10.0.0.1"), State: model.Down}}),
		ovr: model.NewOverrides([]model.Override{{ID: "o1", Kind: model.ForceFailover, Service: "w", Order: []string{"c", "b", "a"},
			Created: benchAt.Add(-time.Hour)}}),
		pol: pol,
	}
}

// TestInPlaceWritesCannotStaleThePlan: what a caller may write in place
// through the model's accessors, the slices inside backends, verdicts,
// policies and overrides, is a copy: the inputs stay as they were, and a
// Solver that remembers them gives the Plan a fresh Solve gives. The
// fields of Policies a caller owns (Bias, Nets) are its to change, in
// place too: the Solver sees the change. Before the accessors copied, a
// write to a Backend's Ingress changed the Inventory under the Solver,
// which kept the Plan of the old content.
func TestInPlaceWritesCannotStaleThePlan(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(in inputs)
		owned bool // a field of the caller's: the write is a change
	}{
		{"backend ingress", func(in inputs) { in.inv.BackendsOf("fo")[0].Ingress[0] = netip.MustParseAddr("203.0.113.9") }, false},
		{"backend zone pods", func(in inputs) { in.inv.BackendsOf("fo")[0].ZonePods[0].ReadyPods = 99 }, false},
		{"backend ingress zones", func(in inputs) { in.inv.BackendsOf("fo")[0].IngressZones[0].Zone = "z2" }, false},
		{"backend pod IPs", func(in inputs) { in.inv.BackendsOf("w")[1].PodIPs[0] = netip.MustParseAddr("172.16.9.9") }, false},
		{"every backend", func(in inputs) { in.inv.Backends()[0].Ingress[1] = netip.MustParseAddr("203.0.113.9") }, false},
		{"appended backends", func(in inputs) { in.inv.AppendBackendsOf(nil, "geo")[2].ReadyPods = 0 }, false},
		{"verdicts", func(in inputs) { in.health.Of("fo")[0].State = model.Up }, false},
		{"appended verdicts", func(in inputs) { in.health.AppendOf(nil, "fo")[0].State = model.Up }, false},
		{"every verdict", func(in inputs) { in.health.Targets()[0].State = model.Up }, false},
		{"policy order", func(in inputs) { in.pol.Services()[0].Order[0] = "c" }, false},
		{"policy map", func(in inputs) { in.pol.Services()[1].Map[0].Clusters[0] = "c" }, false},
		{"policy map subnets", func(in inputs) { in.pol.Services()[1].Map[0].Subnets[0] = netip.MustParsePrefix("0.0.0.0/0") }, false},
		{"policy weights", func(in inputs) { in.pol.Services()[2].Weights[0].Weight = 100 }, false}, // w, failing over: weights still count as the policy's
		{"policy kind", func(in inputs) { in.pol.Services()[0].Kind = model.All }, false},
		{"override order", func(in inputs) { in.ovr.Items()[0].Order[0] = "a" }, false},
		{"active override order", func(in inputs) { in.ovr.ActiveAt(benchAt)[0].Order[0] = "a" }, false},
		{"bias", func(in inputs) { in.pol.Bias["a"] = -60 }, true},
		{"subnet list clusters", func(in inputs) { in.pol.Nets[0].Clusters[0] = "a" }, true},
		{"subnet list prefix", func(in inputs) { in.pol.Nets[0].Prefix = netip.MustParsePrefix("192.168.0.0/24") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := writableWorld()
			var s Solver
			before := s.Solve(benchAt, in.inv, in.health, in.ovr, in.pol)
			tc.write(in)
			after := s.Solve(benchAt, in.inv, in.health, in.ovr, in.pol)
			fresh := Solve(benchAt, in.inv, in.health, in.ovr, in.pol)
			if after.Version != fresh.Version {
				t.Fatalf("the Solver's Plan %s is stale: a fresh Solve gives %s", after.VersionText(), fresh.VersionText())
			}
			if changed := fresh.Version != before.Version; changed != tc.owned {
				t.Errorf("the write changed the Plan: %v, want %v", changed, tc.owned)
			}
		})
	}
}

// TestSolverKeepsItsPolicies: the Solver copies the policies once per
// list (ServicesID), and services that share a map share its copy, which
// is compiled once.
func TestSolverKeepsItsPolicies(t *testing.T) {
	in := writableWorld()
	m := []model.MapEntry{{Match: model.MatchDefault, Clusters: []string{"a"}}}
	ps := in.pol.Services()
	for i := range ps {
		ps[i].Kind, ps[i].Map = model.Geo, m
	}
	pol := model.NewPolicies(model.DefaultStaleGrace, ps)
	copies := pol.Services()
	if &copies[0].Map[0] != &copies[1].Map[0] || &copies[0].Map[0] == &m[0] {
		t.Fatal("the copies of policies that shared a map do not share its copy")
	}
	if pol.ServicesID() != pol.ServicesID() || pol.ServicesID() == in.pol.ServicesID() {
		t.Error("ServicesID does not follow the list")
	}
	var s Solver
	p := s.Solve(benchAt, in.inv, in.health, in.ovr, pol)
	// fo and geo (w is forced to fail over, which drops its map).
	if a, b := p.Services[0].Policy.Map, p.Services[1].Policy.Map; len(a) == 0 || len(b) == 0 || &a[0] != &b[0] {
		t.Error("the plans of services that share a map do not share the Solver's copy")
	}
}
