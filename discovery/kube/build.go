package kube

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/meridian-gtm/meridian/model"
)

// snapshot is one cluster's slim objects, as its informers hold them.
type snapshot struct {
	services        map[objectKey]*slimService
	ingresses       []*slimIngress
	slices          map[objectKey][]*slimEndpointSlice // by Service
	istioGateways   []*slimIstioGateway
	virtualServices []*slimVirtualService
	gateways        []*slimGateway
	routes          []*slimHTTPRoute
	nodes           map[string]*slimNode
}

// Named is a global service the config ties to an object by name, for
// clusters whose objects do not carry the annotation.
type Named struct {
	Kind      string // service, ingress, istio-gateway, gateway
	Namespace string
	Name      string
	Service   string // the global service's full name
}

// Kinds of objects that can make a global service.
const (
	KindService      = "service"
	KindIngress      = "ingress"
	KindIstioGateway = "istio-gateway"
	KindGateway      = "gateway"
)

// resolver gives the addresses a hostname currently resolves to.
type resolver func(hostname string) []netip.Addr

// accum gathers what one cluster has for one global service.
type accum struct {
	addrs    map[netip.Addr]string // address -> zone ("" unknown)
	backends map[objectKey]bool
}

// build computes a cluster's backends from its objects: for every global
// service some object names, the ingress addresses that lead in and the
// ready pods behind. It is a pure function of its inputs.
func build(cluster string, s *snapshot, named []Named, resolve resolver) []model.Backend {
	acc := map[string]*accum{}
	get := func(name string) *accum {
		a := acc[name]
		if a == nil {
			a = &accum{addrs: map[netip.Addr]string{}, backends: map[objectKey]bool{}}
			acc[name] = a
		}
		return a
	}
	names := func(kind string, src source) []string {
		out := slices.Clone(src.globalNames)
		for _, n := range named {
			if n.Kind == kind && n.Namespace == src.objectKey.namespace && n.Name == src.objectKey.name && !slices.Contains(out, n.Service) {
				out = append(out, n.Service)
			}
		}
		return out
	}
	// backendsOf returns the backend-service annotation's Service when set,
	// else the object's own.
	backendsOf := func(src source, own []objectKey) []objectKey {
		if src.backend == "" {
			return own
		}
		ns, name, ok := strings.Cut(src.backend, "/")
		if !ok {
			ns, name = src.objectKey.namespace, src.backend
		}
		return []objectKey{{ns, name}}
	}
	add := func(names []string, addrs map[netip.Addr]string, backends []objectKey) {
		for _, n := range names {
			a := get(n)
			maps.Copy(a.addrs, addrs)
			for _, b := range backends {
				a.backends[b] = true
			}
		}
	}

	for _, svc := range s.services {
		if ns := names(KindService, svc.source); len(ns) > 0 {
			add(ns, s.serviceAddresses(svc, resolve), backendsOf(svc.source, []objectKey{svc.objectKey}))
		}
	}
	for _, in := range s.ingresses {
		if ns := names(KindIngress, in.source); len(ns) > 0 {
			add(ns, resolveAll(in.loadBalancer, resolve), backendsOf(in.source, in.backends))
		}
	}
	for _, g := range s.istioGateways {
		ns := names(KindIstioGateway, g.source)
		if len(ns) == 0 {
			continue
		}
		addrs := map[netip.Addr]string{}
		for _, svc := range s.services {
			if len(g.selector) > 0 && selects(svc.selector, g.selector) {
				maps.Copy(addrs, s.serviceAddresses(svc, resolve))
			}
		}
		var own []objectKey
		for _, vs := range s.virtualServices {
			if slices.Contains(vs.gateways, g.objectKey) {
				own = append(own, vs.hosts...)
			}
		}
		add(ns, addrs, backendsOf(g.source, own))
	}
	for _, g := range s.gateways {
		ns := names(KindGateway, g.source)
		if len(ns) == 0 {
			continue
		}
		var own []objectKey
		for _, r := range s.routes {
			if slices.Contains(r.parents, g.objectKey) {
				own = append(own, r.backends...)
			}
		}
		add(ns, resolveAll(g.addresses, resolve), backendsOf(g.source, own))
	}

	out := make([]model.Backend, 0, len(acc))
	for name, a := range acc {
		b := model.Backend{Service: name, Cluster: cluster}
		for ip, zone := range a.addrs {
			b.Ingress = append(b.Ingress, ip)
			if zone != "" {
				b.IngressZones = append(b.IngressZones, model.AddrZone{Addr: ip, Zone: zone})
			}
		}
		pods := s.readyPods(a.backends)
		b.ReadyPods, b.NotReadyPods, b.ZonePods, b.PodIPs = pods.total, pods.notReady, pods.zones, pods.ips
		slices.SortFunc(b.Ingress, netip.Addr.Compare)
		out = append(out, b)
	}
	slices.SortFunc(out, func(x, y model.Backend) int { return cmp.Compare(x.Service, y.Service) })
	return out
}

// selects reports whether a Service's selector covers every label of the
// gateway's: the Service fronts the gateway's pods.
func selects(serviceSelector, gatewaySelector map[string]string) bool {
	for k, v := range gatewaySelector {
		if serviceSelector[k] != v {
			return false
		}
	}
	return true
}

// serviceAddresses returns a Service's ingress addresses: the nodes that
// run its ready endpoints for NodePort and host-network ingress (with their
// zones), else its load balancer's.
func (s *snapshot) serviceAddresses(svc *slimService, resolve resolver) map[netip.Addr]string {
	if !svc.nodePort {
		return resolveAll(svc.loadBalancer, resolve)
	}
	out := map[netip.Addr]string{}
	for _, es := range s.slices[svc.objectKey] {
		for _, e := range es.endpoints {
			n := s.nodes[e.node]
			if !e.ready || n == nil || !n.ready {
				continue
			}
			addrs := n.external
			if len(addrs) == 0 {
				addrs = n.internal
			}
			for _, a := range addrs {
				out[a] = n.zone
			}
		}
	}
	return out
}

// resolveAll returns the IPs of load balancer entries, hostnames resolved.
func resolveAll(entries []address, resolve resolver) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, e := range entries {
		if e.ip.IsValid() {
			out[e.ip] = ""
			continue
		}
		for _, ip := range resolve(e.hostname) {
			out[ip] = ""
		}
	}
	return out
}

// podCounts is what the ready endpoints of some Services add up to.
type podCounts struct {
	total int
	// notReady counts the endpoints that are neither ready nor
	// terminating, each pod once, and none that is ready in another slice.
	notReady int
	zones    []model.ZonePods
	ips      []netip.Addr
}

// readyPods counts the ready, not terminating, endpoints of the backends,
// each pod once even when dual-stack Services list it in two slices.
func (s *snapshot) readyPods(backends map[objectKey]bool) podCounts {
	seen := map[string]bool{}
	zones := map[string]int{}
	var pc podCounts
	var waiting map[string]bool // not ready, by the key seen uses
	for key := range backends {
		for _, es := range s.slices[key] {
			for _, e := range es.endpoints {
				if e.notReady && len(e.addrs) > 0 {
					if waiting == nil {
						waiting = map[string]bool{}
					}
					waiting[key.String()+"|"+cmp.Or(e.pod, e.addrs[0].String())] = true
				}
				if !e.ready || len(e.addrs) == 0 {
					continue
				}
				pc.ips = append(pc.ips, e.addrs...)
				id := e.pod
				if id == "" {
					id = e.addrs[0].String()
				}
				if seen[key.String()+"|"+id] {
					continue
				}
				seen[key.String()+"|"+id] = true
				pc.total++
				if e.zone != "" {
					zones[e.zone]++
				}
			}
		}
	}
	for id := range waiting {
		if !seen[id] {
			pc.notReady++
		}
	}
	for z, n := range zones {
		pc.zones = append(pc.zones, model.ZonePods{Zone: z, ReadyPods: n})
	}
	slices.SortFunc(pc.zones, func(a, b model.ZonePods) int { return cmp.Compare(a.Zone, b.Zone) })
	slices.SortFunc(pc.ips, netip.Addr.Compare)
	pc.ips = slices.Compact(pc.ips)
	return pc
}

// locality returns the region and zone the cluster's nodes agree on: those
// running ingress endpoints when there are any, else all ready nodes. A
// zone is given only when every such node is in it.
func (s *snapshot) locality() model.Locality {
	var nodes []*slimNode
	for _, svc := range s.services {
		if !svc.nodePort {
			continue
		}
		for _, es := range s.slices[svc.objectKey] {
			for _, e := range es.endpoints {
				if n := s.nodes[e.node]; n != nil && e.ready {
					nodes = append(nodes, n)
				}
			}
		}
	}
	if len(nodes) == 0 {
		for _, n := range s.nodes {
			if n.ready {
				nodes = append(nodes, n)
			}
		}
	}
	var loc model.Locality
	for i, n := range nodes {
		if i == 0 {
			loc = model.Locality{Region: n.region, Zone: n.zone}
			continue
		}
		if n.region != loc.Region {
			return model.Locality{}
		}
		if n.zone != loc.Zone {
			loc.Zone = ""
		}
	}
	return loc
}
