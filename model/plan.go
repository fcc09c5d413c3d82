package model

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
)

// Plan is the engine's decision: for every global service, its targets and,
// per client location bucket, which targets get what share of the traffic.
// DNS and xDS render the same Plan, so they always agree.
//
// Client locations are bucketed by their nearest site: every located cluster
// is a site, and a client belongs to the bucket of the site closest to it.
// Bucketing makes answers finite, so they can be compiled when a Plan is
// published rather than when a query arrives.
type Plan struct {
	// Version is a hash of the Plan's content: equal content, equal version.
	Version uint64
	// Sites are the located clusters, sorted by name. Bucket i holds the
	// clients nearest Sites[i]; bucket len(Sites) holds clients whose
	// location is unknown.
	Sites    []Site
	Services []ServicePlan // sorted by Name
}

// Site is a location that anchors a bucket of clients.
type Site struct {
	Cluster  string
	Location Point
}

// ServicePlan is the decision for one global service.
type ServicePlan struct {
	Name    string
	Policy  PolicyKind
	Targets []Target // sorted by cluster, then address
	// Routes holds one Route per bucket: Routes[i] for clients nearest
	// Sites[i], and the last for clients of unknown location.
	Routes []Route
}

// Target is one ingress address of a service in one cluster.
type Target struct {
	Cluster  string
	Locality Locality
	Address  netip.Addr
	// Weight is the capacity weight: max(1, floor(readyPods*10/addresses)),
	// or the operator's pinned weight, and 0 when the target can carry no traffic.
	Weight uint32
	Health State
}

// Route is what one bucket of clients gets for one service.
type Route struct {
	// Shares lists the targets that get traffic, in target order; the
	// shares sum to 1 when any target is usable, and the list is empty when
	// none is.
	Shares []Share
	// Reason says, for humans, why the route is what it is.
	Reason string
}

// Share is the fraction of a bucket's traffic that one target receives.
type Share struct {
	Target   int // index into ServicePlan.Targets
	Fraction float64
}

// Service returns the plan of one global service.
func (p *Plan) Service(name string) (*ServicePlan, bool) {
	i, ok := slices.BinarySearchFunc(p.Services, name, func(s ServicePlan, n string) int { return cmp.Compare(s.Name, n) })
	if !ok {
		return nil, false
	}
	return &p.Services[i], true
}

// Bucket returns the bucket of a client at loc: the index of the nearest site,
// ties going to the site that sorts first. A client whose location is unknown
// (known false), or a plan without sites, gives the unknown bucket, len(Sites).
func (p *Plan) Bucket(loc Point, known bool) int {
	best, bestKm := len(p.Sites), math.Inf(1)
	if !known {
		return best
	}
	for i, s := range p.Sites {
		if d := loc.DistanceKm(s.Location); d < bestKm {
			best, bestKm = i, d
		}
	}
	return best
}

// Route returns the route of one bucket; an out-of-range bucket gets the
// route for unknown locations.
func (s *ServicePlan) Route(bucket int) Route {
	if len(s.Routes) == 0 {
		return Route{}
	}
	if bucket < 0 || bucket >= len(s.Routes) {
		bucket = len(s.Routes) - 1
	}
	return s.Routes[bucket]
}
