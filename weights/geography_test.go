package weights

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// TestGeographyInPlan: the operator's bias and subnet list reach the
// Plan, so that model.Plan.Place is a pure function of it; they change
// the Plan's version, and a Solver that saw other ones re-solves.
func TestGeographyInPlan(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	inv := model.NewInventory([]model.Cluster{
		{Name: "eu-central", Location: model.LocationAt(model.Point{Lat: 50.11, Lon: 8.68})},
		{Name: "eu-west", Location: model.LocationAt(model.Point{Lat: 53.35, Lon: -6.26})},
	}, []model.Backend{
		{Service: "app", Cluster: "eu-central", Ingress: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, ReadyPods: 1},
		{Service: "app", Cluster: "eu-west", Ingress: []netip.Addr{netip.MustParseAddr("192.0.2.2")}, ReadyPods: 1},
	})
	plain := model.NewPolicies(time.Minute, []model.ServicePolicy{model.DefaultPolicy("app", model.Geo)})
	biased := plain
	biased.Bias = map[string]int{"eu-central": 50}
	listed := biased
	listed.Nets = []model.Net{
		{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Clusters: []string{"eu-west"}},
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Clusters: []string{"eu-west"}},
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Clusters: []string{"eu-central", "eu-west"}}, // a later entry replaces
	}

	london := model.Client{Location: model.LocationAt(model.Point{Lat: 51.5, Lon: -0.13}), Addr: netip.MustParseAddr("198.51.100.7")}
	var s Solver
	p0 := s.Solve(at, inv, model.Health{}, model.Overrides{}, plain)
	p1 := s.Solve(at, inv, model.Health{}, model.Overrides{}, biased)
	p2 := s.Solve(at, inv, model.Health{}, model.Overrides{}, listed)
	if p0.Version == p1.Version || p1.Version == p2.Version {
		t.Errorf("versions %x %x %x: bias and subnets must change the version", p0.Version, p1.Version, p2.Version)
	}
	if p1.Sites[0].Bias != 50 || p1.Sites[1].Bias != 0 {
		t.Errorf("sites %+v", p1.Sites)
	}
	if got := p0.Sites[p0.Place(london).Bucket].Cluster; got != "eu-west" {
		t.Errorf("unbiased: London at %s", got)
	}
	if got := p1.Sites[p1.Place(london).Bucket].Cluster; got != "eu-central" {
		t.Errorf("biased: London at %s", got)
	}
	if pl := p2.Place(london); pl.Bucket != p2.NetBucket(1) || p2.Nets[pl.Net].Prefix.String() != "198.51.100.0/24" {
		t.Errorf("listed: London placed %+v in %+v", pl, p2.Nets)
	}
	wantNets := []string{"10.0.0.0/8 [eu-central eu-west] 0", "198.51.100.0/24 [eu-west] 1"} // lists in prefix order
	var gotNets []string
	for _, n := range p2.Nets {
		gotNets = append(gotNets, n.Prefix.String()+" "+fmtList(n.Clusters)+" "+string(rune('0'+n.List)))
	}
	if !reflect.DeepEqual(gotNets, wantNets) {
		t.Errorf("nets %v, want %v", gotNets, wantNets)
	}
	svc, _ := p2.Service("app")
	if len(svc.Routes) != p2.Buckets() || svc.Listed != 2 {
		t.Fatalf("%d routes, %d listed, want %d and 2", len(svc.Routes), svc.Listed, p2.Buckets())
	}
	if sh := svc.Route(p2.NetBucket(1)).Shares; len(sh) != 1 || svc.ClusterOf(sh[0].Target) != "eu-west" {
		t.Errorf("route of the eu-west list: %+v", sh)
	}
	if got := svc.Route(-1); got != &svc.Routes[len(p2.Sites)] {
		t.Errorf("an out-of-range bucket gets %+v, not the unknown location's route", got)
	}
	if fresh := Solve(at, inv, model.Health{}, model.Overrides{}, listed); fresh.Version != p2.Version {
		t.Errorf("incremental %x, from scratch %x", p2.Version, fresh.Version)
	}
}

func fmtList(l []string) string {
	out := "["
	for i, c := range l {
		if i > 0 {
			out += " "
		}
		out += c
	}
	return out + "]"
}

// TestMapSubnetsNest: each of the Plan's map prefixes gets the service's
// longest subnet entry that holds it, of its own family, including a
// prefix only another service's map names; services sharing a map (a
// zone's) agree.
func TestMapSubnetsNest(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	inv := model.NewInventory([]model.Cluster{{Name: "a"}, {Name: "b"}}, nil)
	shared := []model.MapEntry{
		{Match: model.MatchSubnet, Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Clusters: []string{"a"}},
		{Match: model.MatchSubnet, Subnets: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("2001:db8::/32")}, Clusters: []string{"b"}},
	}
	one, two, other := model.DefaultPolicy("one", model.Geo), model.DefaultPolicy("two", model.Geo), model.DefaultPolicy("other", model.Geo)
	one.Map, two.Map = shared, shared
	other.Map = []model.MapEntry{{Match: model.MatchSubnet, Subnets: []netip.Prefix{
		netip.MustParsePrefix("10.1.2.0/24"), netip.MustParsePrefix("11.0.0.0/8"), netip.MustParsePrefix("2001:db8:1::/48"), netip.MustParsePrefix("::/0")}, Clusters: []string{"a"}}}
	p := Solve(at, inv, model.Health{}, model.Overrides{}, model.NewPolicies(time.Minute, []model.ServicePolicy{one, two, other}))
	want := map[string]int32{"10.0.0.0/8": 0, "10.1.0.0/16": 1, "10.1.2.0/24": 1, "11.0.0.0/8": -1, "::/0": -1, "2001:db8::/32": 1, "2001:db8:1::/48": 1}
	for _, name := range []string{"one", "two"} {
		svc, _ := p.Service(name)
		for i, n := range p.MapNets {
			if got := svc.Map.Nets[i]; got != want[n.String()] {
				t.Errorf("%s: %s gets entry %d, want %d", name, n, got, want[n.String()])
			}
		}
	}
}
