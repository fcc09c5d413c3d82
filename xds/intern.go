package xds

import (
	"net/netip"
	"runtime"
	"sync"
	"weak"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
)

// internTable hands out one value per key for as long as something holds
// it: the same address or locality appears in the endpoints of every
// node group and service that uses it (at 20 localities and 100
// services, 160,000 endpoints over 4,000 addresses), and a Plan that
// moves every service renders them all again. The values are shared by
// the resources that hold them, so they must not be changed. An entry
// goes when its value is collected.
type internTable[K comparable, V any] struct {
	mu       sync.Mutex
	m        map[K]weak.Pointer[V]
	newValue func(K) *V
}

func newInternTable[K comparable, V any](newValue func(K) *V) *internTable[K, V] {
	return &internTable[K, V]{m: map[K]weak.Pointer[V]{}, newValue: newValue}
}

func (t *internTable[K, V]) get(k K) *V {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v := t.m[k].Value(); v != nil {
		return v
	}
	v := t.newValue(k)
	wp := weak.Make(v)
	t.m[k] = wp
	runtime.AddCleanup(v, t.forget, entry[K, V]{k, wp})
	return v
}

type entry[K comparable, V any] struct {
	key K
	wp  weak.Pointer[V]
}

// forget drops a collected value's entry, unless the key has a new one.
func (t *internTable[K, V]) forget(e entry[K, V]) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[e.key] == e.wp {
		delete(t.m, e.key)
	}
}

// len is the number of entries, for tests.
func (t *internTable[K, V]) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// hosts are endpoints' addresses.
var hosts = newInternTable(func(a netip.AddrPort) *endpoint.LbEndpoint_Endpoint {
	return &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{
		Address: &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
			Address:       a.Addr().String(),
			PortSpecifier: &core.SocketAddress_PortValue{PortValue: uint32(a.Port())},
		}}},
	}}
})

// localities are member clusters' localities.
var localities = newInternTable(func(l localityKey) *core.Locality {
	return &core.Locality{Region: l.region, Zone: l.zone, SubZone: l.subZone}
})

type localityKey struct{ region, zone, subZone string }
