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
type Inventory struct {
	clusters []Cluster         // sorted by Name, names unique
	services []serviceBackends // sorted by Service, unique
}

// serviceBackends is one service's backends, sorted by cluster.
type serviceBackends struct {
	service  string
	backends []Backend
}

// Cluster is one member cluster and where it runs.
type Cluster struct {
	Name     string
	Locality Locality
	// Location is where the cluster's traffic lands; it is meaningful only
	// when HasLocation is set. Clusters without a location rank after all
	// located ones in distance-based policies.
	Location    Point
	HasLocation bool
	// LostAt is when discovery lost contact with the cluster; zero while in
	// contact. Its last known state is kept for a grace period, after which
	// its targets count as unknown rather than dead.
	LostAt time.Time
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
}

// NewInventory returns an Inventory holding copies of clusters and backends,
// sorted into canonical order. A later cluster or backend with the same key
// replaces an earlier one, and a backend's ingress addresses are sorted and
// deduplicated, so equal content gives equal values.
func NewInventory(clusters []Cluster, backends []Backend) Inventory {
	inv := Inventory{clusters: canonicalClusters(clusters)}
	bs := canonicalBackends(backends)
	for i := 0; i < len(bs); {
		j := i + 1
		for j < len(bs) && bs[j].Service == bs[i].Service {
			j++
		}
		inv.services = append(inv.services, serviceBackends{service: bs[i].Service, backends: bs[i:j:j]})
		i = j
	}
	return inv
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

// Clusters returns every cluster, sorted by name.
func (inv Inventory) Clusters() []Cluster { return inv.clusters }

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
	for i, s := range inv.services {
		out[i] = s.service
	}
	return out
}

// Backends returns every backend, sorted by service, then cluster.
func (inv Inventory) Backends() []Backend {
	var out []Backend
	for _, s := range inv.services {
		out = append(out, s.backends...)
	}
	return out
}

// BackendsOf returns the backends of one service, sorted by cluster. The
// slice is shared by every Inventory derived from this one without changing
// the service, which lets callers skip unchanged services by identity.
func (inv Inventory) BackendsOf(service string) []Backend {
	if i, ok := inv.serviceIndex(service); ok {
		return inv.services[i].backends
	}
	return nil
}

func (inv Inventory) serviceIndex(service string) (int, bool) {
	return slices.BinarySearchFunc(inv.services, service, func(s serviceBackends, n string) int { return cmp.Compare(s.service, n) })
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
	bs = canonicalBackends(bs)
	out := Inventory{clusters: inv.clusters, services: slices.Clone(inv.services)}
	i, found := inv.serviceIndex(service)
	switch {
	case found && len(bs) == 0:
		out.services = slices.Delete(out.services, i, i+1)
	case found:
		out.services[i].backends = bs
	case len(bs) > 0:
		out.services = slices.Insert(out.services, i, serviceBackends{service: service, backends: bs})
	}
	return out
}

// WithClusters returns a copy of inv with the cluster list replaced; the
// backends stay shared.
func (inv Inventory) WithClusters(clusters []Cluster) Inventory {
	return Inventory{clusters: canonicalClusters(clusters), services: inv.services}
}
