package config

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/meridian-gtm/meridian/model"
)

func TestZones(t *testing.T) {
	c, err := Parse("t.conf", []byte(`
cluster dc {
    static {
        ingress 192.0.2.1 zone a
        ingress 192.0.2.2 192.0.2.3 zone b
        pods app 4 zone a
        vms app 2 zone a
        pods app 3 zone b
    }
}
zone example.org {
    ns ns.example.net
    service app {
    }
}`))
	if err != nil {
		t.Fatal(err)
	}
	b := StaticInventory(c.Clusters).BackendsOf("app.example.org")
	a := netip.MustParseAddr
	want := model.Backend{
		Service: "app.example.org", Cluster: "dc", ReadyPods: 9,
		Ingress:      []netip.Addr{a("192.0.2.1"), a("192.0.2.2"), a("192.0.2.3")},
		ZonePods:     []model.ZonePods{{Zone: "a", ReadyPods: 6}, {Zone: "b", ReadyPods: 3}},
		IngressZones: []model.AddrZone{{Addr: a("192.0.2.1"), Zone: "a"}, {Addr: a("192.0.2.2"), Zone: "b"}, {Addr: a("192.0.2.3"), Zone: "b"}},
	}
	if len(b) != 1 || !reflect.DeepEqual(b[0], want) {
		t.Errorf("backend = %+v\nwant %+v", b, want)
	}
}

func TestInventory(t *testing.T) {
	c, err := Parse("t.conf", []byte(`
cluster dc2 {
    region onprem
    static {
        ingress 192.0.2.2 192.0.2.1
        vms legacy 3
        pods app 2
        vms app 1
        service api {
            ingress 2001:db8::1
            pods 5
        }
    }
}
cluster cloud {
    region eu-west
    zone eu-west-1a
    location 53.35 -6.26
    static {
        ingress 198.51.100.1
        pods app 0
    }
}
zone example.org {
    ns ns.example.net
    service app {
    }
    service api {
    }
    service legacy {
    }
}`))
	if err != nil {
		t.Fatal(err)
	}
	inv := StaticInventory(c.Clusters)
	a := netip.MustParseAddr
	wantClusters := []model.Cluster{
		{Name: "cloud", Locality: model.Locality{Region: "eu-west", Zone: "eu-west-1a"},
			Location: model.LocationAt(model.Point{Lat: 53.35, Lon: -6.26})},
		{Name: "dc2", Locality: model.Locality{Region: "onprem"}},
	}
	if got := inv.Clusters(); !reflect.DeepEqual(got, wantClusters) {
		t.Errorf("clusters = %+v\nwant %+v", got, wantClusters)
	}
	wantBackends := []model.Backend{
		{Service: "api.example.org", Cluster: "dc2", Ingress: []netip.Addr{a("2001:db8::1")}, ReadyPods: 5},
		{Service: "app.example.org", Cluster: "cloud", Ingress: []netip.Addr{a("198.51.100.1")}, ReadyPods: 0},
		{Service: "app.example.org", Cluster: "dc2", Ingress: []netip.Addr{a("192.0.2.1"), a("192.0.2.2")}, ReadyPods: 3},
		{Service: "legacy.example.org", Cluster: "dc2", Ingress: []netip.Addr{a("192.0.2.1"), a("192.0.2.2")}, ReadyPods: 3},
	}
	if got := inv.Backends(); !reflect.DeepEqual(got, wantBackends) {
		t.Errorf("backends = %+v\nwant %+v", got, wantBackends)
	}
}
