package model

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"
)

// Plan is the engine's decision: for every global service, its targets and,
// per bucket of client locations, which targets get what share of the
// traffic. DNS and xDS render the same Plan, so they always agree.
//
// Client locations are bucketed by their nearest site: every located cluster
// is a site, and a client belongs to the bucket of the site closest to it.
// Bucketing makes answers finite, so they can be compiled when a Plan is
// published rather than when a query arrives.
type Plan struct {
	// Version is a hash of the Plan's content (not of At): equal content,
	// equal version.
	Version uint64
	// At is the moment the Plan was decided for: overrides and staleness
	// were judged at this time.
	At time.Time
	// Sites are the located clusters, sorted by name. Bucket i holds the
	// clients nearest Sites[i]; bucket len(Sites) holds clients whose
	// location is unknown; bucket len(Sites)+1+j the clients of the
	// subnet-list entries whose cluster list is NetLists[j].
	Sites []Site
	// Nets is the subnet list (the `subnets` file), sorted by prefix:
	// clients whose address falls in an entry are placed by it, the
	// longest prefix winning, instead of by distance.
	Nets []Net
	// NetLists are the distinct cluster lists of Nets, each a bucket.
	NetLists [][]string
	// MapNets are the prefixes of every service map's subnet entries,
	// sorted and unique; Place finds the longest that holds a client.
	MapNets  []netip.Prefix
	Services []*ServicePlan // sorted by Name
	// Overrides are the overrides active at At; targets refer to them by index.
	Overrides []Override

	// NetIndex is Nets and MapNets indexed for Place: weights.Solve builds
	// it when they change. A Plan without it is searched with an index
	// built on each call.
	NetIndex *NetIndex
}

// NetIndex is a subnet list and the map subnets, indexed for Place.
type NetIndex struct{ nets, mapNets *PrefixIndex }

// NewNetIndex indexes a Plan's Nets and MapNets.
func NewNetIndex(nets []Net, mapNets []netip.Prefix) *NetIndex {
	prefixes := make([]netip.Prefix, len(nets))
	for i, n := range nets {
		prefixes[i] = n.Prefix
	}
	return &NetIndex{NewPrefixIndex(prefixes), NewPrefixIndex(mapNets)}
}

func (p *Plan) netIndex() *NetIndex {
	if p.NetIndex != nil {
		return p.NetIndex
	}
	return NewNetIndex(p.Nets, p.MapNets)
}

// Site is a location that anchors a bucket of clients.
type Site struct {
	Cluster  string
	Locality Locality
	Location Point
	// Bias grows (positive) or shrinks (negative) the site's catchment:
	// Place scales a client's distance to the site by (1 - Bias/100).
	// -99..99; 0 is none.
	Bias int
}

// Net is one subnet-list entry: the clients in Prefix are served by
// Clusters, in that order, each a priority (first cluster priority 0),
// then by every other cluster in one last priority, for services placed
// by distance (the geo policy).
type Net struct {
	Prefix   netip.Prefix // masked
	Clusters []string
	// Source is where the entry was written, FILE:LINE, for explain.
	Source string
	// List is the index of Clusters in Plan.NetLists.
	List int
}

// ServicePlan is the decision for one global service.
type ServicePlan struct {
	Name string
	// Policy is the policy in force, after any failover override.
	Policy ServicePolicy
	// PolicyOverride is the index in Plan.Overrides of the failover
	// override that replaced the configured policy, or -1.
	PolicyOverride int
	// Hash covers the whole ServicePlan; the Plan's version combines them.
	Hash    uint64
	Groups  []Group  // one per cluster that serves the service, sorted by cluster
	Targets []Target // Groups[i]'s targets are Targets[First:First+N]
	// Routes holds one Route per bucket (Plan.Buckets): Routes[i] for
	// clients nearest Sites[i], Routes[len(Sites)] for clients of unknown
	// location, then one per subnet-list cluster list; then, for a geo
	// service with a map, one per entry of Policy.Map (EntryRoute).
	// RouteIndex picks a client's.
	Routes []Route
	// Listed is the number of subnet-list routes.
	Listed int
	// Map is Policy.Map compiled for RouteIndex.
	Map MapIndex
}

// Group is one cluster's part of a service.
type Group struct {
	Cluster   string
	Locality  Locality
	Location  Location
	ReadyPods int
	// NotReadyPods is the backend's: pods that should serve but are not ready.
	NotReadyPods int
	// HealthyPods and ExpectedPods are the group's capacity as capacity
	// spill counts it, in pods. HealthyPods are the ready pods reachable
	// through a healthy (not down, not excluded) ingress address: all of
	// ReadyPods when one is healthy, or, for zonal ingress, the pods of the
	// zones with a healthy address. ExpectedPods are the pods the group
	// should have: ReadyPods+NotReadyPods, or for zonal ingress the ready
	// pods of zones with an ingress address plus NotReadyPods. Both are 0
	// when every target is excluded.
	HealthyPods, ExpectedPods int
	// ZonePods and IngressZones are the backend's, when discovery knows them.
	ZonePods     []ZonePods
	IngressZones []AddrZone
	// PodIPs are the cluster's ready pods, for east-west traffic that goes
	// to pods directly (shared with the Inventory).
	PodIPs   []netip.Addr
	First, N int
	// Stale is set when discovery lost the cluster longer than the grace
	// period ago: its targets count as unknown.
	Stale  bool
	LostAt time.Time
}

// TargetStatus says whether a target takes part in load balancing.
type TargetStatus uint8

const (
	// Healthy targets get traffic.
	Healthy TargetStatus = iota
	// Unhealthy targets count as hosts of their priority and get traffic
	// only when it panics or the service fails open.
	Unhealthy
	// Excluded targets are not hosts at all and never get traffic.
	Excluded
)

var statusNames = [...]string{Healthy: "healthy", Unhealthy: "unhealthy", Excluded: "excluded"}

func (s TargetStatus) String() string { return statusNames[s] }

// Cause says what decided a target's status or weight.
type Cause uint8

const (
	CauseNone           Cause = iota
	CauseDown                 // the health verdict is down
	CauseNoPods               // no ready pods behind the address
	CauseDrained              // a drain override
	CauseDisabled             // a disable override
	CauseEnabled              // an enable override forced it into service
	CauseWeight               // a weight override pinned its weight (0 excludes it)
	CauseNotListed            // the failover policy does not list its cluster
	CauseStale                // discovery lost its cluster past the grace period: unknown
	CauseExplicitWeight       // the weighted policy's explicit cluster weight
	CauseZonal                // its weight counts the ready pods of its own zone
)

// Target is one ingress address of a service in one cluster. It is kept
// small: a Plan holds one per address, service and cluster.
type Target struct {
	// Group is the index of the target's cluster in ServicePlan.Groups.
	Group   int32
	Address netip.Addr
	// Weight is the target's load-balancing weight: the capacity weight
	// max(1, floor(readyPods*10/ingressAddresses)), an explicit or pinned
	// weight, at least 1 for every host, and 0 for excluded targets. With
	// capacity spill a healthy target's weight counts only the healthy
	// addresses, max(1, floor(readyPods*10/healthyAddresses)), so that the
	// remaining addresses carry the pods of failed ones.
	Weight uint32
	// Health is the verdict the engine used.
	Health State
	Status TargetStatus
	Cause  Cause
	// Override is the index in Plan.Overrides of the override that decided
	// the target's status or weight, or -1.
	Override int32
}

// RouteMode says how a route's shares came about.
type RouteMode uint8

const (
	// Normal: shares follow health, spilling between priorities as needed.
	Normal RouteMode = iota
	// Panic: some priority has too few healthy hosts and uses all of them.
	Panic
	// TotalPanic: every priority panics; load follows host counts.
	TotalPanic
	// FailedOpen: no target is healthy, so every host gets traffic.
	FailedOpen
	// FailedClosed: no target is healthy and the policy fails closed.
	FailedClosed
	// NoTargets: no target can be used at all (none exist, or all are excluded).
	NoTargets
)

var modeNames = [...]string{Normal: "normal", Panic: "panic", TotalPanic: "total panic",
	FailedOpen: "failed open", FailedClosed: "failed closed", NoTargets: "no targets"}

func (m RouteMode) String() string { return modeNames[m] }

// NoPriority marks a group that is not a host of any priority in a route.
const NoPriority = math.MaxUint8

// Route is what one bucket of clients gets for one service.
type Route struct {
	Mode       RouteMode
	Priorities []Priority
	// GroupPriority holds, per group, the index of its priority, or
	// NoPriority when none of its targets are hosts.
	GroupPriority []uint8
	// Shares lists the targets that get traffic, in target order, with the
	// fraction of the bucket's traffic each receives; they sum to 1 unless
	// the list is empty.
	Shares []Share
}

// Tier says why a priority's clusters were put together.
type Tier uint8

const (
	TierZone     Tier = iota // same zone as the bucket's site
	TierRegion               // same region as the bucket's site
	TierDistance             // another region, ranked by distance
	TierOrder                // a position in the failover list
	TierAll                  // every cluster (weighted, all, unknown location)
	TierListed               // a position in a subnet-list or map entry's cluster list
	TierOther                // every cluster a (non-fence) map entry does not list
)

// Priority is one level of Envoy's priority load balancing. It is kept
// small: a Plan holds one per tier, bucket and service.
type Priority struct {
	// DistanceKm is, for TierDistance, the distance from the bucket's site
	// to the tier's nearest cluster; -1 when that cluster has no location.
	DistanceKm float32
	// Group is the group that names the tier: its zone, region or cluster.
	Group int32
	// Hosts and Healthy count the priority's targets.
	Hosts, Healthy int32
	// Health is min(100, overprovisioning*healthy/hosts), counted in hosts
	// or, with capacity spill, in the groups' healthy and expected pods
	// (Group.HealthyPods, ExpectedPods); Load is the
	// percentage of the bucket's traffic the priority receives.
	Health, Load uint8
	Tier         Tier
	// Panic is set when the priority uses all its hosts, healthy or not.
	Panic bool
}

// Share is the fraction of a bucket's traffic that one target receives.
type Share struct {
	Target   int
	Fraction float64
}

// Service returns the plan of one global service.
func (p *Plan) Service(name string) (*ServicePlan, bool) {
	i, ok := slices.BinarySearchFunc(p.Services, name, func(s *ServicePlan, n string) int { return cmp.Compare(s.Name, n) })
	if !ok {
		return nil, false
	}
	return p.Services[i], true
}

// VersionText spells the Plan's version as logs, the API, the CLI and the
// status page all show it: 16 hex digits.
func (p *Plan) VersionText() string { return fmt.Sprintf("%016x", p.Version) }

// ClusterOf returns the cluster of target i.
func (s *ServicePlan) ClusterOf(i int) string { return s.Groups[s.Targets[i].Group].Cluster }

// Route returns the route of one bucket; an out-of-range bucket gets the
// route for unknown locations.
func (s *ServicePlan) Route(bucket int) *Route {
	if len(s.Routes) == 0 {
		return &Route{Mode: NoTargets}
	}
	if bucket < 0 || bucket >= len(s.Routes) {
		bucket = max(0, len(s.Routes)-1-s.Listed-len(s.Policy.Map))
	}
	return &s.Routes[bucket]
}
