package model

import (
	"math"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestDistanceKm(t *testing.T) {
	dublin := Point{Lat: 53.35, Lon: -6.26}
	for _, tc := range []struct {
		name string
		a, b Point
		want float64 // km, within 0.5%
	}{
		{"same place", dublin, dublin, 0},
		{"Dublin to London", dublin, Point{Lat: 51.5074, Lon: -0.1278}, 464},
		{"Dublin to Singapore", dublin, Point{Lat: 1.29, Lon: 103.85}, 11200},
		{"across the antimeridian", Point{Lat: 0, Lon: 179.5}, Point{Lat: 0, Lon: -179.5}, 111.2},
		{"pole to pole", Point{Lat: 90}, Point{Lat: -90}, math.Pi * earthRadiusKm},
	} {
		got := tc.a.DistanceKm(tc.b)
		if math.Abs(got-tc.want) > 0.005*tc.want+1e-9 {
			t.Errorf("%s: %.1f km, want %.1f", tc.name, got, tc.want)
		}
		if back := tc.b.DistanceKm(tc.a); math.Abs(back-got) > 1e-9 {
			t.Errorf("%s: not symmetric: %v vs %v", tc.name, got, back)
		}
	}
}

func TestNewInventoryIsCanonical(t *testing.T) {
	a := netip.MustParseAddr
	inv := NewInventory(
		[]Cluster{{Name: "b"}, {Name: "a", Locality: Locality{Region: "old"}}, {Name: "a", Locality: Locality{Region: "new"}}},
		[]Backend{
			{Service: "y", Cluster: "a", Ingress: []netip.Addr{a("192.0.2.2"), a("::ffff:192.0.2.1"), a("192.0.2.2"), {}}, ReadyPods: 1},
			{Service: "x", Cluster: "b", ReadyPods: 2},
			{Service: "x", Cluster: "a", ReadyPods: 3},
		})
	if got := inv.Clusters(); !reflect.DeepEqual(got, []Cluster{{Name: "a", Locality: Locality{Region: "new"}}, {Name: "b"}}) {
		t.Errorf("clusters = %+v", got)
	}
	want := []Backend{
		{Service: "x", Cluster: "a", Ingress: []netip.Addr{}, ReadyPods: 3},
		{Service: "x", Cluster: "b", Ingress: []netip.Addr{}, ReadyPods: 2},
		{Service: "y", Cluster: "a", Ingress: []netip.Addr{a("192.0.2.1"), a("192.0.2.2")}, ReadyPods: 1},
	}
	if got := inv.Backends(); !reflect.DeepEqual(got, want) {
		t.Errorf("backends = %+v\nwant %+v", got, want)
	}
	if got := inv.BackendsOf("x"); len(got) != 2 || got[1].Cluster != "b" {
		t.Errorf("BackendsOf(x) = %+v", got)
	}
	if got := inv.BackendsOf("nope"); len(got) != 0 {
		t.Errorf("BackendsOf(nope) = %+v", got)
	}
	if c, ok := inv.Cluster("b"); !ok || c.Name != "b" {
		t.Errorf("Cluster(b) = %+v, %v", c, ok)
	}
	if _, ok := inv.Cluster("c"); ok {
		t.Error("Cluster(c) found")
	}
}

func TestWithBackendsSharesTheOtherServices(t *testing.T) {
	a := netip.MustParseAddr
	inv := NewInventory([]Cluster{{Name: "c"}}, []Backend{
		{Service: "x", Cluster: "c", Ingress: []netip.Addr{a("192.0.2.1")}, ReadyPods: 1},
		{Service: "y", Cluster: "c", Ingress: []netip.Addr{a("192.0.2.2")}, ReadyPods: 2},
	})
	next := inv.WithBackends("x", []Backend{{Cluster: "c", Ingress: []netip.Addr{a("192.0.2.9")}, ReadyPods: 5}})
	if next.BackendsID("y") != inv.BackendsID("y") {
		t.Error("the unchanged service's backends were copied, not shared")
	}
	if next.BackendsID("x") == inv.BackendsID("x") {
		t.Error("the changed service's backends kept their ID")
	}
	if got := next.BackendsOf("x"); len(got) != 1 || got[0].ReadyPods != 5 || got[0].Service != "x" {
		t.Errorf("x = %+v", got)
	}
	if got := inv.BackendsOf("x"); got[0].ReadyPods != 1 {
		t.Errorf("the original changed: %+v", got)
	}
	added := next.WithBackends("a", []Backend{{Cluster: "c", ReadyPods: 1}})
	if got := added.Services(); !reflect.DeepEqual(got, []string{"a", "x", "y"}) {
		t.Errorf("services after adding a = %v", got)
	}
	if got := added.WithBackends("x", nil).Services(); !reflect.DeepEqual(got, []string{"a", "y"}) {
		t.Errorf("services after removing x = %v", got)
	}
	h := NewHealth([]TargetHealth{{Service: "x", Cluster: "c", Address: a("192.0.2.1"), State: Down}})
	h2 := h.WithService("y", []TargetHealth{{Cluster: "c", Address: a("192.0.2.2"), State: Up}})
	if h2.State("x", "c", a("192.0.2.1")) != Down || h2.State("y", "c", a("192.0.2.2")) != Up || h2.VerdictsID("x") != h.VerdictsID("x") {
		t.Errorf("WithService lost or copied verdicts")
	}
}

func TestHealthState(t *testing.T) {
	h := NewHealth([]TargetHealth{
		{Service: "s", Cluster: "c", Address: netip.MustParseAddr("::ffff:192.0.2.1"), State: Up},
		{Service: "s", Cluster: "c", Address: netip.MustParseAddr("192.0.2.1"), State: Down},
	})
	if got := h.State("s", "c", netip.MustParseAddr("192.0.2.1")); got != Down {
		t.Errorf("state = %v, want the later verdict, down", got)
	}
	if got := h.State("s", "c", netip.MustParseAddr("192.0.2.9")); got != Unknown {
		t.Errorf("state of an unjudged target = %v, want unknown", got)
	}
}

func TestOverridesActive(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	o := NewOverrides([]Override{
		{Kind: Drain, Cluster: "expired", Expires: now},
		{Kind: Drain, Cluster: "forever"},
		{Kind: Drain, Cluster: "later", Expires: now.Add(time.Minute)},
	})
	var got []string
	for _, it := range o.ActiveAt(now) {
		got = append(got, it.Cluster)
	}
	if !reflect.DeepEqual(got, []string{"forever", "later"}) {
		t.Errorf("active = %v", got)
	}
}

func TestPlanPlace(t *testing.T) {
	p := &Plan{Sites: []Site{
		{Cluster: "eu", Locality: Locality{Region: "eu-west", Zone: "eu-west-1a"}, Location: Point{Lat: 53.35, Lon: -6.26}},
		{Cluster: "eu2", Locality: Locality{Region: "eu-west", Zone: "eu-west-1b"}, Location: Point{Lat: 53.35, Lon: -6.26}},
		{Cluster: "sg", Locality: Locality{Region: "ap-southeast"}, Location: Point{Lat: 1.29, Lon: 103.85}},
		{Cluster: "sg2", Location: Point{Lat: 1.29, Lon: 103.85}},
	}}
	london := Point{Lat: 51.5, Lon: -0.13}
	for _, tc := range []struct {
		name   string
		client Client
		want   int
	}{
		{"London is nearest Dublin", Client{Location: LocationAt(london)}, 0},
		{"Jakarta is nearest Singapore; a tie goes to the first site", Client{Location: LocationAt(Point{Lat: -6.2, Lon: 106.8})}, 2},
		{"unknown location", Client{}, 4},
		{"a node in a zone goes to its zone's site", Client{Locality: Locality{Region: "eu-west", Zone: "eu-west-1b"}}, 1},
		{"a node in a region goes to its region's first site", Client{Locality: Locality{Region: "eu-west", Zone: "eu-west-1c"}}, 0},
		{"a declared locality beats a location", Client{Locality: Locality{Region: "ap-southeast"}, Location: LocationAt(london)}, 2},
		{"a region without a site: the location decides", Client{Locality: Locality{Region: "us-east"}, Location: LocationAt(london)}, 0},
		{"a region without a site and no location: unknown", Client{Locality: Locality{Region: "us-east"}}, 4},
	} {
		if got := p.Place(tc.client).Bucket; got != tc.want {
			t.Errorf("%s: bucket %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := (&Plan{}).Place(Client{Location: LocationAt(london)}).Bucket; got != 0 {
		t.Errorf("plan without sites: bucket %d, want the unknown bucket 0", got)
	}
}
