package model

import (
	"cmp"
	"net/netip"
	"slices"
)

// Inventory is what discovery knows about the member clusters: where they are
// and, per global service, which ingress addresses lead into each cluster and
// how many ready pods (or VMs) stand behind them.
type Inventory struct {
	clusters []Cluster // sorted by Name, names unique
	backends []Backend // sorted by (Service, Cluster), pairs unique
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
	cs := slices.Clone(clusters)
	slices.SortStableFunc(cs, func(a, b Cluster) int { return cmp.Compare(a.Name, b.Name) })
	cs = keepLast(cs, func(a, b Cluster) bool { return a.Name == b.Name })

	bs := make([]Backend, len(backends))
	for i, b := range backends {
		b.Ingress = sortedAddrs(b.Ingress)
		bs[i] = b
	}
	slices.SortStableFunc(bs, compareBackends)
	bs = keepLast(bs, func(a, b Backend) bool { return compareBackends(a, b) == 0 })
	return Inventory{clusters: cs, backends: bs}
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

// Backends returns every backend, sorted by service, then cluster.
func (inv Inventory) Backends() []Backend { return inv.backends }

// Cluster returns the cluster with the given name.
func (inv Inventory) Cluster(name string) (Cluster, bool) {
	i, ok := slices.BinarySearchFunc(inv.clusters, name, func(c Cluster, n string) int { return cmp.Compare(c.Name, n) })
	if !ok {
		return Cluster{}, false
	}
	return inv.clusters[i], true
}

// BackendsOf returns the backends of one global service, sorted by cluster.
func (inv Inventory) BackendsOf(service string) []Backend {
	lo, _ := slices.BinarySearchFunc(inv.backends, service, func(b Backend, s string) int { return cmp.Compare(b.Service, s) })
	hi := lo
	for hi < len(inv.backends) && inv.backends[hi].Service == service {
		hi++
	}
	return inv.backends[lo:hi:hi]
}
