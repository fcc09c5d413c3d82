package model

import (
	"net/netip"
	"strings"
	"testing"
)

// TestMapEntry: the most specific entry wins: a map subnet, then the
// subnet list (which overrules GeoIP's country), then subdivision,
// country, continent, default; xDS nodes get none.
func TestMapEntry(t *testing.T) {
	p := &Plan{
		Sites:    []Site{{Cluster: "eu-west", Location: dublin}, {Cluster: "us-east", Location: virginia}},
		Nets:     []Net{{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Clusters: []string{"us-east"}, Source: "nets:1"}},
		NetLists: [][]string{{"us-east"}},
		MapNets:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16")},
	}
	entries := []MapEntry{
		{Match: MatchSubnet, Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Clusters: []string{"us-east"}, Source: "t.conf:1"},
		{Match: MatchCountry, Codes: []string{"DE", "FR"}, Clusters: []string{"eu-west", "us-east"}, Source: "t.conf:2"},
		{Match: MatchContinent, Codes: []string{"EU"}, Clusters: []string{"eu-west"}, Fence: true, Source: "t.conf:3"},
		{Match: MatchDefault, Clusters: []string{"us-east"}, Source: "t.conf:4"},
		{Match: MatchSubdivision, Codes: []string{"DE-BY"}, Clusters: []string{"us-east"}, Source: "t.conf:5"},
	}
	svc := &ServicePlan{Name: "app", Policy: ServicePolicy{Kind: Geo, Map: entries}, Listed: 1,
		Map: MapIndex{Nets: []int32{0, 0}, Countries: map[string]int32{"DE": 1, "FR": 1}, Continents: map[string]int32{"EU": 2}, Subdivisions: map[string]int32{"DE-BY": 4}, Default: 3}}
	svc.Routes = make([]Route, p.Buckets()+len(entries))
	p.Services = []*ServicePlan{svc}
	geoOnly := &ServicePlan{Name: "plain", Policy: ServicePolicy{Kind: Geo}, Map: MapIndex{Default: -1}, Routes: make([]Route, p.Buckets())}

	client := func(addr, country, continent string, subdivision ...string) Client {
		c := Client{Addr: netip.MustParseAddr(addr), Country: country, Continent: continent, Location: LocationAt(london)}
		if len(subdivision) > 0 {
			c.Subdivision = subdivision[0]
		}
		return c
	}
	for _, tc := range []struct {
		name   string
		client Client
		entry  int
		who    string
	}{
		{"a map subnet beats the country", client("10.1.2.3", "DE", "EU"), 0, "clients of map entry subnet 10.0.0.0/8 at t.conf:1:"},
		{"the subnet list beats the country", client("192.0.2.7", "DE", "EU"), -1, "clients of subnet list entry 192.0.2.0/24 (nets:1):"},
		{"country", client("198.51.100.1", "FR", "EU"), 1, "clients of map entry country DE FR at t.conf:2:"},
		{"a subdivision beats its country", client("198.51.100.1", "DE", "EU", "DE-BY"), 4, "clients of map entry subdivision DE-BY at t.conf:5:"},
		{"another subdivision: the country", client("198.51.100.1", "DE", "EU", "DE-BE"), 1, "clients of map entry country DE FR at t.conf:2:"},
		{"the subnet list beats the subdivision", client("192.0.2.7", "DE", "EU", "DE-BY"), -1, "clients of subnet list entry 192.0.2.0/24 (nets:1):"},
		{"continent, a fence", client("198.51.100.1", "IT", "EU"), 2, "clients of map entry continent EU (fence) at t.conf:3:"},
		{"default", client("198.51.100.1", "US", "NA"), 3, "clients of map entry default at t.conf:4:"},
		{"unknown country: default", client("198.51.100.1", "", ""), 3, "clients of map entry default at t.conf:4:"},
		{"an xDS node: no map", Client{Node: true, Locality: Locality{Region: "x"}, Location: LocationAt(london)}, -1, "clients nearest eu-west:"},
	} {
		pl := p.Place(tc.client)
		if got := svc.Entry(pl); got != tc.entry {
			t.Errorf("%s: entry %d, want %d (placement %+v)", tc.name, got, tc.entry, pl)
		}
		wantRoute := pl.Bucket
		if tc.entry >= 0 {
			wantRoute = p.Buckets() + tc.entry
		}
		if got := svc.RouteIndex(pl); got != wantRoute {
			t.Errorf("%s: route %d, want %d", tc.name, got, wantRoute)
		}
		if got := geoOnly.RouteIndex(pl); got != pl.Bucket {
			t.Errorf("%s: a service without a map routes by %d, not its bucket %d", tc.name, got, pl.Bucket)
		}
		if e, _ := p.Explain("app", tc.client); !strings.HasPrefix(e.Summary, tc.who) {
			t.Errorf("%s: explain says %q, want %q...", tc.name, e.Summary, tc.who)
		}
	}
	if got := svc.Route(-1); got != &svc.Routes[len(p.Sites)] {
		t.Error("an out-of-range route is not the unknown location's")
	}
}
