package xds

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/meridian-gtm/meridian/model"
)

// EastWestMode is how sidecars reach a service in the other clusters.
type EastWestMode uint8

const (
	// Pods: straight to the pods' IPs (flat or BGP-routed pod networks).
	Pods EastWestMode = iota
	// ViaGateway: to each cluster's east-west gateway, weighted by its
	// ready pods.
	ViaGateway
)

// ServiceOptions are the xDS settings of one global service.
type ServiceOptions struct {
	// Port is the port of the ingress addresses; default 80.
	Port uint32
	// EastWest and PodPort say where sidecars send the service's traffic.
	EastWest EastWestMode
	PodPort  uint32 // default Port
}

// Options are what Build needs besides the Plan.
type Options struct {
	// GatewayPorts are the ports gateways listen on, one listener each;
	// default 80.
	GatewayPorts []uint32
	// Services holds per-service settings by FQDN; a service without an
	// entry gets the defaults.
	Services map[string]ServiceOptions
	// EastWestGateways are the clusters' east-west gateways, by cluster.
	EastWestGateways map[string]netip.AddrPort
}

func (o Options) service(name string) ServiceOptions {
	s := o.Services[name]
	s.Port = cmp.Or(s.Port, 80)
	s.PodPort = cmp.Or(s.PodPort, s.Port)
	return s
}

// Resources are one group's Envoy resources, each list sorted by name.
type Resources struct {
	Listeners []*listener.Listener
	Routes    []*route.RouteConfiguration
	Clusters  []*cluster.Cluster
	Endpoints []*endpoint.ClusterLoadAssignment
}

// Names of the shared route configuration of sidecars and of gateway
// listeners.
const (
	sidecarRoutes = "meridian"
	gatewayPrefix = "gateway_"
)

// EndpointsName is the EDS name of a service's endpoints for a group: the
// endpoints differ per group (priorities follow the group's locality), and
// naming them apart lets every group's streams watch only their own.
func EndpointsName(g Group, service string) string { return g.String() + "/" + service }

// Build turns a Plan into the resources of one group of nodes. It is a pure
// function: equal inputs give equal resources in the same order. Every
// resource passes its Validate().
func Build(p *model.Plan, g Group, o Options) (Resources, error) {
	var r Resources
	var errs []error
	place := nodePlacement(p, g)
	for _, s := range p.Services {
		sr, err := buildService(s, place, g, o, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// The endpoints as a message that can be read, not only sent.
		var cla endpoint.ClusterLoadAssignment
		if err := proto.Unmarshal(sr.endpoints, &cla); err != nil {
			errs = append(errs, fmt.Errorf("endpoints %s: %w", sr.eds, err))
			continue
		}
		r.add(sr, &cla)
	}
	r.Listeners, r.Routes = append(r.Listeners, sharedListeners(g, o)...), append(r.Routes, sharedRoutes(p.Services, g, o)...)
	r.sort()
	return r, errors.Join(append(errs, r.validate())...)
}

// nodePlacement is where the Plan places the nodes of g. Nodes have no
// address or country: they are placed by locality alone, and maps do not
// apply to them.
func nodePlacement(p *model.Plan, g Group) model.Placement {
	return p.Place(model.Client{Node: true, Locality: model.Locality{Region: g.Region, Zone: g.Zone}})
}

// serviceResources are what one service contributes to a group's
// resources: its cluster and endpoints, and for gRPC groups its
// api_listener and route configuration.
type serviceResources struct {
	cluster   *cluster.Cluster
	clusterIn clusterInputs // what cluster was made from
	// endpoints is the encoding of the service's load assignment for the
	// group, named eds, as it is published (see publish), and
	// endpointsHash the hash of that encoding.
	endpoints     []byte
	eds           string
	endpointsHash uint64
	listener      *listener.Listener        // gRPC groups only
	route         *route.RouteConfiguration // gRPC groups only
}

// buildService renders one service for a group placed at place. It
// depends on nothing else of the Plan, so that a service whose
// ServicePlan did not change need not be rendered again. prev, if not
// nil, is the service's rendering for the same group and options; what
// would be rendered the same is taken from it: the cluster if its inputs
// are, a gRPC group's listener and route (the service's name alone), and
// the endpoints if their encoding's hash is.
func buildService(s *model.ServicePlan, place model.Placement, g Group, o Options, prev *serviceResources) (serviceResources, error) {
	so := o.service(s.Name)
	eds := EndpointsName(g, s.Name)
	preSpilled := g.Role == Gateway && s.Policy.SpillMode() == model.SpillCapacity
	var out serviceResources
	out.clusterIn = clusterInputs{panicThreshold: s.Policy.PanicThreshold, localityWeighted: preSpilled}
	if prev != nil && prev.clusterIn == out.clusterIn {
		out.cluster = prev.cluster
	} else {
		out.cluster = edsCluster(s.Name, eds, out.clusterIn)
	}
	if g.Role == GRPC {
		if prev != nil && prev.listener != nil {
			out.listener, out.route = prev.listener, prev.route
		} else {
			out.listener = apiListener(s.Name)
			out.route = routeConfig(s.Name, []string{s.Name}, []*model.ServicePlan{s})
		}
	}
	a := assignments.Get().(*assignment)
	defer assignments.Put(a)
	a.reset()
	rt := s.RouteFor(place)
	switch {
	case preSpilled:
		preSpilledEndpoints(a, s, rt, so.Port)
	case g.Role == Gateway:
		priorityEndpoints(a, s, rt, so.Port)
	case g.Role == GRPC:
		spilledEndpoints(a, s, rt, so.Port)
	case g.Role == Sidecar:
		eastWestEndpoints(a, s, rt, so, o.EastWestGateways)
	}
	a.finish()
	bp := encodeBufs.Get().(*[]byte)
	defer encodeBufs.Put(bp)
	*bp = a.encode((*bp)[:0], eds)
	out.eds, out.endpointsHash = eds, maphash.Bytes(encodingSeed, *bp)
	if prev != nil && prev.endpointsHash == out.endpointsHash {
		out.endpoints = prev.endpoints
		return out, nil
	}
	if err := a.check(); err != nil {
		return out, fmt.Errorf("endpoints %s: %w", eds, err)
	}
	out.endpoints = bytes.Clone(*bp)
	return out, nil
}

// kept reports whether every resource of sr is prev's: the service
// renders for the group as it did.
func (sr *serviceResources) kept(prev *serviceResources) bool {
	return prev != nil && sr.cluster == prev.cluster && sr.endpointsHash == prev.endpointsHash &&
		sr.listener == prev.listener && sr.route == prev.route
}

// add appends one service's resources, its endpoints as cla.
func (r *Resources) add(sr serviceResources, cla *endpoint.ClusterLoadAssignment) {
	r.Clusters = append(r.Clusters, sr.cluster)
	r.Endpoints = append(r.Endpoints, cla)
	if sr.listener != nil {
		r.Listeners = append(r.Listeners, sr.listener)
	}
	if sr.route != nil {
		r.Routes = append(r.Routes, sr.route)
	}
}

// addChanged appends the cluster, listener and route of sr that are not
// prev's (prev may be nil): the ones rendered anew. The endpoints come
// encoded, checked by buildService.
func (r *Resources) addChanged(sr serviceResources, prev *serviceResources) {
	if prev == nil {
		prev = &serviceResources{}
	}
	if sr.cluster != prev.cluster {
		r.Clusters = append(r.Clusters, sr.cluster)
	}
	if sr.listener != nil && sr.listener != prev.listener {
		r.Listeners = append(r.Listeners, sr.listener)
	}
	if sr.route != nil && sr.route != prev.route {
		r.Routes = append(r.Routes, sr.route)
	}
}

// sharedListeners are a group's listeners that belong to no one service:
// a gateway's, one per port. They depend on the options alone.
func sharedListeners(g Group, o Options) []*listener.Listener {
	if g.Role != Gateway {
		return nil
	}
	var out []*listener.Listener
	for _, port := range gatewayPorts(o) {
		name := gatewayPrefix + strconv.FormatUint(uint64(port), 10)
		out = append(out, gatewayListener(name, port))
	}
	return out
}

// sharedRoutes are a group's route configurations that hold every
// service: a gateway's, one per port, and the sidecars'. They depend on
// the services' names alone.
func sharedRoutes(services []*model.ServicePlan, g Group, o Options) []*route.RouteConfiguration {
	switch g.Role {
	case Gateway:
		var out []*route.RouteConfiguration
		for _, port := range gatewayPorts(o) {
			out = append(out, routeConfig(gatewayPrefix+strconv.FormatUint(uint64(port), 10), nil, services))
		}
		return out
	case Sidecar:
		return []*route.RouteConfiguration{routeConfig(sidecarRoutes, nil, services)}
	}
	return nil
}

func gatewayPorts(o Options) []uint32 {
	if len(o.GatewayPorts) == 0 {
		return []uint32{80}
	}
	return o.GatewayPorts
}

func (r *Resources) sort() {
	slices.SortFunc(r.Listeners, func(a, b *listener.Listener) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(r.Routes, func(a, b *route.RouteConfiguration) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(r.Clusters, func(a, b *cluster.Cluster) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(r.Endpoints, func(a, b *endpoint.ClusterLoadAssignment) int { return cmp.Compare(a.ClusterName, b.ClusterName) })
}

// validate runs every resource's generated Validate, so that a resource
// Envoy would reject never leaves the server.
func (r *Resources) validate() error {
	var errs []error
	check := func(kind, name string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", kind, name, err))
		}
	}
	for _, x := range r.Listeners {
		check("listener", x.Name, x.Validate())
	}
	for _, x := range r.Routes {
		check("route configuration", x.Name, x.Validate())
	}
	for _, x := range r.Clusters {
		check("cluster", x.Name, x.Validate())
	}
	for _, x := range r.Endpoints {
		check("endpoints", x.ClusterName, x.Validate())
	}
	return errors.Join(errs...)
}

func ads() *core.ConfigSource {
	return &core.ConfigSource{
		ResourceApiVersion:    core.ApiVersion_V3,
		ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}},
	}
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err) // only for messages of registered types, which always marshal
	}
	return a
}

// connectionManager routes HTTP (or gRPC) by the route configuration name,
// fetched over ADS; the router filter comes last, as Envoy and gRPC require.
func connectionManager(routes string) *hcm.HttpConnectionManager {
	return &hcm.HttpConnectionManager{
		StatPrefix: routes,
		RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{
			ConfigSource:    ads(),
			RouteConfigName: routes,
		}},
		HttpFilters: []*hcm.HttpFilter{{
			Name:       wellknown.Router,
			ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(&router.Router{})},
		}},
	}
}

func gatewayListener(name string, port uint32) *listener.Listener {
	return &listener.Listener{
		Name: name,
		Address: &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
			Address:       "0.0.0.0",
			PortSpecifier: &core.SocketAddress_PortValue{PortValue: port},
		}}},
		FilterChains: []*listener.FilterChain{{
			Filters: []*listener.Filter{{
				Name:       wellknown.HTTPConnectionManager,
				ConfigType: &listener.Filter_TypedConfig{TypedConfig: mustAny(connectionManager(name))},
			}},
		}},
	}
}

// apiListener is what a proxyless gRPC client asks for when it dials
// xds:///NAME.
func apiListener(name string) *listener.Listener {
	return &listener.Listener{
		Name:        name,
		ApiListener: &listener.ApiListener{ApiListener: mustAny(connectionManager(name))},
	}
}

// routeConfig has a virtual host per service, each sending everything to
// the service's cluster. With domains nil, a host matches the service's
// name with any port.
func routeConfig(name string, domains []string, services []*model.ServicePlan) *route.RouteConfiguration {
	rc := &route.RouteConfiguration{Name: name}
	for _, s := range services {
		d := domains
		if d == nil {
			d = []string{s.Name, s.Name + ":*"}
		}
		rc.VirtualHosts = append(rc.VirtualHosts, &route.VirtualHost{
			Name:    s.Name,
			Domains: d,
			Routes: []*route.Route{{
				Match:  &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: ""}},
				Action: &route.Route_Route{Route: &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: s.Name}}},
			}},
		})
	}
	return rc
}

// clusterInputs are what a service's cluster depends on besides its
// names: a Plan that changes neither keeps the cluster rendered before.
type clusterInputs struct {
	panicThreshold   uint32 // the policy's, in percent
	localityWeighted bool
}

// edsCluster is a service's cluster. With localityWeighted, Envoy honours
// locality weights (locality_weighted_lb_config), which pre-spilled
// endpoints need; without, it balances over all the hosts of a priority
// by endpoint weight.
func edsCluster(name, eds string, in clusterInputs) *cluster.Cluster {
	c := &cluster.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS},
		EdsClusterConfig:     &cluster.Cluster_EdsClusterConfig{EdsConfig: ads(), ServiceName: eds},
		ConnectTimeout:       durationpb.New(5 * time.Second),
		LbPolicy:             cluster.Cluster_ROUND_ROBIN,
		CommonLbConfig: &cluster.Cluster_CommonLbConfig{
			HealthyPanicThreshold: &typev3.Percent{Value: float64(in.panicThreshold)},
		},
	}
	if in.localityWeighted {
		c.CommonLbConfig.LocalityConfigSpecifier = &cluster.Cluster_CommonLbConfig_LocalityWeightedLbConfig_{
			LocalityWeightedLbConfig: &cluster.Cluster_CommonLbConfig_LocalityWeightedLbConfig{},
		}
	}
	return c
}

func healthOf(st model.TargetStatus) core.HealthStatus {
	if st == model.Healthy {
		return core.HealthStatus_HEALTHY
	}
	return core.HealthStatus_UNHEALTHY
}

// compactPriorities maps the route's priority indexes of groups that have
// hosts to 0, 1, 2, ... in order, as Envoy and gRPC want them contiguous.
func compactPriorities(rt *model.Route) map[uint8]uint32 {
	m := map[uint8]uint32{}
	used := slices.Clone(rt.GroupPriority)
	slices.Sort(used)
	for _, p := range slices.Compact(used) {
		if p != model.NoPriority {
			m[p] = uint32(len(m))
		}
	}
	return m
}

// priorityEndpoints gives Envoy the Plan's priorities and weights and lets
// it spill: one locality per member cluster at the priority of its tier
// for the group's bucket, each ingress address weighted by capacity with
// its health, and the service's overprovisioning factor. Priority health
// is counted by hosts, as the Plan counts it with hosts spill, so
// weighted_priority_health stays off. Excluded targets (drained, disabled)
// are not sent. Capacity spill uses preSpilledEndpoints instead.
func priorityEndpoints(a *assignment, s *model.ServicePlan, rt *model.Route, port uint32) {
	a.setPolicy(s.Policy.SpillOverprovisioning())
	if rt.Mode == model.NoTargets || rt.Mode == model.FailedClosed {
		return
	}
	prio := compactPriorities(rt)
	for gi := range s.Groups {
		g := &s.Groups[gi]
		if gi >= len(rt.GroupPriority) || rt.GroupPriority[gi] == model.NoPriority {
			continue
		}
		l := a.locality(g, prio[rt.GroupPriority[gi]], 0)
		for _, t := range s.Targets[g.First : g.First+g.N] {
			if t.Status != model.Excluded {
				a.endpoint(l, netip.AddrPortFrom(t.Address, uint16(port)), healthOf(t.Status), uint64(t.Weight))
			}
		}
	}
}

// preSpilledEndpoints is what gateways get with capacity spill: the Plan's
// split, already spilled, and the rest as local failover.
//
// Why pre-spilled: Envoy counts a priority's health in hosts, or with
// weighted_priority_health in host weights, healthy over all. Capacity
// spill counts pods, and pods that are not ready while every address is up
// have no host to carry them: no unhealthy endpoint, no weight that Envoy
// would count as missing. So no priority encoding makes Envoy spill for
// them; the Plan's shares are sent instead.
//
// Priority 0 holds every target with a share, HEALTHY, weighted by its
// share scaled to an integer as for gRPC, in one locality per member
// cluster weighted by the sum of its endpoints' weights, the cluster's
// share; the Cluster turns on
// locality-weighted balancing (edsCluster), so Envoy picks a locality by
// its weight times min(1, overprovisioning*healthy/hosts) = its weight,
// then an endpoint by weight: the Plan's split. The targets without a
// share (standby tiers, unhealthy addresses) follow in priorities 1, 2, ...
// in the order of their tiers, with their health and capacity weights, so
// that Envoy still fails over by itself when its own outlier detection
// empties priority 0. Excluded targets are not sent.
//
// The overprovisioning factor is the policy's, but at least 100: below
// 100 Envoy would spill a fully healthy priority 0 again, on top of the
// spill the shares already hold.
func preSpilledEndpoints(a *assignment, s *model.ServicePlan, rt *model.Route, port uint32) {
	a.setPolicy(max(s.Policy.SpillOverprovisioning(), 100))
	if rt.Mode == model.NoTargets || rt.Mode == model.FailedClosed {
		return
	}
	shared := make(map[int]uint64, len(rt.Shares))
	for _, sh := range rt.Shares {
		if w := uint64(math.Round(sh.Fraction * shareScale)); w > 0 {
			shared[sh.Target] = w
		}
	}
	standby := standbyPriorities(s, rt, shared)
	for gi := range s.Groups {
		g := &s.Groups[gi]
		if gi >= len(rt.GroupPriority) || rt.GroupPriority[gi] == model.NoPriority {
			continue
		}
		active, spare := a.locality(g, 0, 0), a.locality(g, standby[rt.GroupPriority[gi]], 0)
		for i := g.First; i < g.First+g.N; i++ {
			t := s.Targets[i]
			addr := netip.AddrPortFrom(t.Address, uint16(port))
			switch w, ok := shared[i]; {
			case ok:
				a.endpoint(active, addr, core.HealthStatus_HEALTHY, w)
			case t.Status != model.Excluded:
				a.endpoint(spare, addr, healthOf(t.Status), uint64(t.Weight))
			}
		}
	}
}

// standbyPriorities numbers, from 1, the route's priorities that hold
// targets without a share, in tier order.
func standbyPriorities(s *model.ServicePlan, rt *model.Route, shared map[int]uint64) map[uint8]uint32 {
	var used []uint8
	for gi, p := range rt.GroupPriority {
		if p == model.NoPriority {
			continue
		}
		g := s.Groups[gi]
		for i := g.First; i < g.First+g.N; i++ {
			if _, ok := shared[i]; !ok && s.Targets[i].Status != model.Excluded {
				used = append(used, p)
				break
			}
		}
	}
	slices.Sort(used)
	m := map[uint8]uint32{}
	for _, p := range slices.Compact(used) {
		m[p] = uint32(len(m) + 1)
	}
	return m
}

// shareScale turns a share of traffic into an integer weight.
const shareScale = 1_000_000

// spilledEndpoints is for gRPC clients, which ignore the overprovisioning
// factor (gRFC A27): one priority whose locality weights are the Plan's
// shares after spilling, so they split traffic as the Plan says. Clusters
// with no share are left out; the endpoints sent are the ones with a
// share, marked healthy, since the Plan already decided for them.
func spilledEndpoints(a *assignment, s *model.ServicePlan, rt *model.Route, port uint32) {
	locs := make(map[int32]int, len(s.Groups)) // by group
	sums := make(map[int32]float64, len(s.Groups))
	for _, sh := range rt.Shares {
		t := s.Targets[sh.Target]
		w := uint64(math.Round(sh.Fraction * shareScale))
		if w == 0 {
			continue
		}
		l, ok := locs[t.Group]
		if !ok {
			l = a.locality(&s.Groups[t.Group], 0, 0)
			locs[t.Group] = l
		}
		a.endpoint(l, netip.AddrPortFrom(t.Address, uint16(port)), core.HealthStatus_HEALTHY, w)
		sums[t.Group] += sh.Fraction
	}
	for g, l := range locs {
		a.localities[l].weight = max(1, uint64(math.Round(sums[g]*shareScale)))
	}
}

// eastWestEndpoints sends sidecars to the service's pods in every cluster,
// or to each cluster's east-west gateway weighted by its ready pods, with
// the priorities the Plan gives the group's bucket. Clusters the Plan
// excludes (drained) are left out, and clusters without ready pods too.
// The health checks of ingress addresses judge the path from the internet,
// which east-west traffic does not take, so they do not mark pods
// unhealthy: the pods sent are ready ones.
func eastWestEndpoints(a *assignment, s *model.ServicePlan, rt *model.Route, so ServiceOptions, gateways map[string]netip.AddrPort) {
	a.setPolicy(s.Policy.SpillOverprovisioning())
	if rt.Mode == model.NoTargets || rt.Mode == model.FailedClosed {
		return
	}
	prio := compactPriorities(rt)
	for gi := range s.Groups {
		g := &s.Groups[gi]
		if gi >= len(rt.GroupPriority) || rt.GroupPriority[gi] == model.NoPriority || g.ReadyPods <= 0 {
			continue
		}
		l := a.locality(g, prio[rt.GroupPriority[gi]], uint64(g.ReadyPods))
		switch so.EastWest {
		case Pods:
			for _, ip := range g.PodIPs {
				a.endpoint(l, netip.AddrPortFrom(ip, uint16(so.PodPort)), core.HealthStatus_HEALTHY, 1)
			}
		case ViaGateway:
			if gw, ok := gateways[g.Cluster]; ok {
				a.endpoint(l, gw, core.HealthStatus_HEALTHY, uint64(g.ReadyPods))
			}
		}
	}
}
