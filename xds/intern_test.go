package xds

import (
	"net/netip"
	"runtime"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// TestInternTable: one value per key while it is held, and the entry
// goes once nothing holds the value, so that addresses gone from the
// Plan are not kept.
func TestInternTable(t *testing.T) {
	made := 0
	tab := newInternTable(func(a netip.AddrPort) *core.Address {
		made++
		return &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{Address: a.Addr().String()}}}
	})
	a, b := netip.MustParseAddrPort("192.0.2.1:443"), netip.MustParseAddrPort("192.0.2.2:443")
	x1, x2, y := tab.get(a), tab.get(a), tab.get(b)
	if x1 != x2 || made != 2 {
		t.Fatalf("the same key twice: same value %v, %d made; want true, 2", x1 == x2, made)
	}
	if x1 == y || y.GetSocketAddress().GetAddress() != "192.0.2.2" {
		t.Fatal("another key got the first key's value")
	}
	runtime.KeepAlive(x1)
	runtime.KeepAlive(y)
	x1, x2, y = nil, nil, nil
	for i := 0; tab.len() > 0; i++ {
		if i == 100 {
			t.Fatalf("%d entries left after 100 collections of values nothing holds", tab.len())
		}
		runtime.GC()
		runtime.Gosched()
	}
	if tab.get(a) == nil || made != 3 {
		t.Errorf("a key whose value was collected: %d made, want 3", made)
	}
}

// TestEndpointsShareHosts: two endpoints of one address share its host
// (the address message), each with its own health, and so do endpoints
// from different slabs.
func TestEndpointsShareHosts(t *testing.T) {
	a := netip.MustParseAddrPort("192.0.2.1:443")
	slab, other := newEndpointSlab(1), newEndpointSlab(1)
	e1, e2, e3 := slab.endpoint(a, core.HealthStatus_HEALTHY), slab.endpoint(a, core.HealthStatus_UNHEALTHY), other.endpoint(a, core.HealthStatus_DRAINING)
	if e1.HostIdentifier != e2.HostIdentifier || e1.HostIdentifier != e3.HostIdentifier {
		t.Error("endpoints of one address hold a host each")
	}
	if e1 == e2 || e1.HealthStatus != core.HealthStatus_HEALTHY || e2.HealthStatus != core.HealthStatus_UNHEALTHY || e3.HealthStatus != core.HealthStatus_DRAINING {
		t.Error("shared hosts or slabs mixed up the endpoints' own fields")
	}
	if got := e1.GetEndpoint().GetAddress().GetSocketAddress(); got.GetAddress() != "192.0.2.1" || got.GetPortValue() != 443 {
		t.Errorf("endpoint address %v, want 192.0.2.1:443", got)
	}
}
