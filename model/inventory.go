package model

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// Inventory is what discovery knows about the member clusters: where they are
// and, per global service, which ingress addresses lead into each cluster and
// how many ready pods (or VMs) stand behind them.
//
// Backends are grouped by service and a change replaces one service's group
// (WithBackends), so the groups of unchanged services stay shared between
// versions and the engine can tell, by identity, what it need not re-solve.
// The accessors return deep copies, so the groups cannot change.
type Inventory struct {
	clusters []Cluster       // sorted by Name, names unique
	services groups[Backend] // each service's backends, sorted by cluster
}

// Cluster is one member cluster and where it runs.
type Cluster struct {
	Name     string
	Locality Locality
	// Location is where the cluster's traffic lands, when known. Clusters
	// without a location rank after all located ones in distance-based
	// policies.
	Location Location
	// LostAt is when discovery lost contact with the cluster; zero while in
	// contact. Its last known state is kept for a grace period, after which
	// its targets count as unknown rather than dead.
	LostAt time.Time
	// Resyncing: the cluster answers again after it was lost, and
	// discovery is listing its objects afresh. LostAt stays set until it
	// has: its state is still the last known one.
	Resyncing bool
}

// Locality is a cluster's place in the provider's topology, as Kubernetes
// labels it (topology.kubernetes.io/region and /zone).
type Locality struct {
	Region string
	Zone   string
}

// Backend is one global service as one member cluster serves it.
type Backend struct {
	// Service is the global service's fully qualified name in lower case
	// without the final dot, such as "app.gslb.example.com".
	Service string
	Cluster string
	// Ingress holds the addresses that lead into the cluster for this
	// service, sorted and without duplicates.
	Ingress []netip.Addr
	// ReadyPods counts the ready pods behind the service; a VM counts as one pod.
	ReadyPods int
	// NotReadyPods counts the pods that should serve but are not ready:
	// EndpointSlice endpoints with conditions.ready false that are not
	// terminating (starting, or failing their readiness probe). Terminating
	// pods leave on purpose and are not counted. Static clusters declare
	// only ready capacity: 0. Capacity spill (model.SpillCapacity) counts
	// ReadyPods+NotReadyPods as the cluster's expected capacity.
	NotReadyPods int
	// ZonePods, when discovery knows them, counts the ready pods per zone,
	// sorted by zone. IngressZones gives the zone of ingress addresses
	// (ingress nodes carry zone labels), sorted by address. The engine uses
	// them when every ingress address has a zone counted in ZonePods.
	ZonePods     []ZonePods
	IngressZones []AddrZone
	// PodIPs are the addresses of the ready pods, sorted, for east-west
	// traffic that goes to pods directly.
	PodIPs []netip.Addr
}

// ZonePods is the number of ready pods in one zone.
type ZonePods struct {
	Zone      string
	ReadyPods int
}

// AddrZone is the zone of one ingress address.
type AddrZone struct {
	Addr netip.Addr
	Zone string
}

// NewInventory returns an Inventory holding copies of clusters and backends,
// sorted into canonical order. A later cluster or backend with the same key
// replaces an earlier one, and a backend's ingress addresses are sorted and
// deduplicated, so equal content gives equal values.
func NewInventory(clusters []Cluster, backends []Backend) Inventory {
	return Inventory{
		clusters: canonicalClusters(clusters),
		services: groupBy(canonicalBackends(backends), func(b Backend) string { return b.Service }),
	}
}

func canonicalClusters(clusters []Cluster) []Cluster {
	cs := slices.Clone(clusters)
	slices.SortStableFunc(cs, func(a, b Cluster) int { return cmp.Compare(a.Name, b.Name) })
	return keepLast(cs, func(a, b Cluster) bool { return a.Name == b.Name })
}

func canonicalBackends(backends []Backend) []Backend {
	bs := make([]Backend, len(backends))
	for i, b := range backends {
		b.Ingress = sortedAddrs(b.Ingress)
		b.ZonePods = slices.Clone(b.ZonePods)
		slices.SortStableFunc(b.ZonePods, func(x, y ZonePods) int { return cmp.Compare(x.Zone, y.Zone) })
		b.ZonePods = keepLast(b.ZonePods, func(x, y ZonePods) bool { return x.Zone == y.Zone })
		b.IngressZones = slices.Clone(b.IngressZones)
		for j := range b.IngressZones {
			b.IngressZones[j].Addr = b.IngressZones[j].Addr.Unmap()
		}
		slices.SortStableFunc(b.IngressZones, func(x, y AddrZone) int { return x.Addr.Compare(y.Addr) })
		b.IngressZones = keepLast(b.IngressZones, func(x, y AddrZone) bool { return x.Addr == y.Addr })
		if b.PodIPs != nil {
			b.PodIPs = sortedAddrs(b.PodIPs)
		}
		bs[i] = b
	}
	slices.SortStableFunc(bs, compareBackends)
	return keepLast(bs, func(a, b Backend) bool { return compareBackends(a, b) == 0 })
}

func compareBackends(a, b Backend) int {
	return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Cluster, b.Cluster))
}

// keepLast removes runs of equal neighbours from a stably sorted slice,
// keeping the last element of each run.
func keepLast[T any](s []T, equal func(a, b T) bool) []T {
	out := s[:0]
	for i := range s {
		if i+1 < len(s) && equal(s[i], s[i+1]) {
			continue
		}
		out = append(out, s[i])
	}
	return out
}

// sortedAddrs returns a sorted copy of addrs without duplicates or invalid
// addresses; IPv4-mapped IPv6 addresses become plain IPv4.
func sortedAddrs(addrs []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if a.IsValid() {
			out = append(out, a.Unmap())
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// Clusters returns a copy of every cluster, sorted by name (a Cluster
// holds no slice: the copy is whole).
func (inv Inventory) Clusters() []Cluster { return slices.Clone(inv.clusters) }

// ClustersID identifies the cluster list by identity, not content: it is
// the same for Inventories derived from one another without WithClusters.
// The engine skips work by it.
func (inv Inventory) ClustersID() ListID {
	return ListID{clusters: first(inv.clusters), n: len(inv.clusters)}
}

// Cluster returns the cluster with the given name.
func (inv Inventory) Cluster(name string) (Cluster, bool) {
	i, ok := slices.BinarySearchFunc(inv.clusters, name, func(c Cluster, n string) int { return cmp.Compare(c.Name, n) })
	if !ok {
		return Cluster{}, false
	}
	return inv.clusters[i], true
}

// Services returns the name of every service that has backends, sorted.
func (inv Inventory) Services() []string {
	out := make([]string, len(inv.services))
	for i, g := range inv.services {
		out[i] = g.service
	}
	return out
}

// Backends returns a copy of every backend, sorted by service, then
// cluster: a deep one, as BackendsOf's.
func (inv Inventory) Backends() []Backend {
	var out []Backend
	for _, g := range inv.services {
		out = appendBackends(out, g.items)
	}
	return out
}

// BackendsOf returns a copy of the backends of one service, sorted by
// cluster. The copy is deep: the slices inside them (Ingress, ZonePods,
// IngressZones, PodIPs) are copies too, so that no write to them can
// change inv under the engine, which skips unchanged services by
// BackendsID.
func (inv Inventory) BackendsOf(service string) []Backend { return inv.AppendBackendsOf(nil, service) }

// AppendBackendsOf appends copies of the backends of service to dst and
// returns the result, as BackendsOf does without a new slice for each
// service: the engine copies every service it solves into one buffer.
func (inv Inventory) AppendBackendsOf(dst []Backend, service string) []Backend {
	return appendBackends(dst, inv.services.of(service))
}

// appendBackends appends deep copies of bs to dst: their slices are
// copied into one allocation per kind for the lot.
func appendBackends(dst []Backend, bs []Backend) []Backend {
	var nAddrs, nZones, nAddrZones int
	for _, b := range bs {
		nAddrs += len(b.Ingress) + len(b.PodIPs)
		nZones += len(b.ZonePods)
		nAddrZones += len(b.IngressZones)
	}
	addrs := make([]netip.Addr, 0, nAddrs)
	zones := make([]ZonePods, 0, nZones)
	addrZones := make([]AddrZone, 0, nAddrZones)
	for _, b := range bs {
		b.Ingress, addrs = carve(addrs, b.Ingress)
		b.PodIPs, addrs = carve(addrs, b.PodIPs)
		b.ZonePods, zones = carve(zones, b.ZonePods)
		b.IngressZones, addrZones = carve(addrZones, b.IngressZones)
		dst = append(dst, b)
	}
	return dst
}

// carve copies s to the end of slab, which has room for it, and returns
// the copy (nil for nil, so that a copy is equal to its original, field by
// field) and the slab grown.
func carve[T any](slab, s []T) ([]T, []T) {
	if s == nil {
		return nil, slab
	}
	from := len(slab)
	slab = append(slab, s...)
	return slab[from:len(slab):len(slab)], slab
}

// BackendsID identifies the backends of service by identity, not content:
// it is the same for Inventories derived from one another without
// WithBackends of service. The engine skips unchanged services by it.
func (inv Inventory) BackendsID(service string) ListID {
	bs := inv.services.of(service)
	return ListID{backends: first(bs), n: len(bs)}
}

// ListID identifies one of the lists of an Inventory (ClustersID,
// BackendsID), a Health (VerdictsID) or Policies (ServicesID); equal IDs,
// the same list, and the same content: the lists are never written after
// they are made, and every accessor returns copies. It keeps the list
// alive but gives no access to it.
type ListID struct {
	clusters *Cluster
	backends *Backend
	verdicts *TargetHealth
	policies *ServicePolicy
	n        int
}

// Len is the length of the list.
func (id ListID) Len() int { return id.n }

func first[T any](s []T) *T {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}

// WithBackends returns a copy of inv in which the backends of service are
// replaced by backends (whose Service fields are set to service). Every
// other service's backends stay shared with inv.
func (inv Inventory) WithBackends(service string, backends []Backend) Inventory {
	bs := make([]Backend, len(backends))
	for i, b := range backends {
		b.Service = service
		bs[i] = b
	}
	return Inventory{clusters: inv.clusters, services: inv.services.with(service, canonicalBackends(bs))}
}

// WithClusters returns a copy of inv with the cluster list replaced; the
// backends stay shared.
func (inv Inventory) WithClusters(clusters []Cluster) Inventory {
	return Inventory{clusters: canonicalClusters(clusters), services: inv.services}
}
