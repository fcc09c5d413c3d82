package model

import (
	"cmp"
	"slices"
	"time"
)

// PolicyKind names the rule that spreads a global service over its clusters.
type PolicyKind string

const (
	// Geo ranks clusters by the client's locality: the same zone first, then
	// the same region, then other regions by great-circle distance, each a
	// priority; within a priority traffic splits by weight.
	Geo PolicyKind = "geo"
	// Weighted splits traffic over every cluster by weight.
	Weighted PolicyKind = "weighted"
	// Failover sends all traffic to the first cluster of an ordered list
	// that has a healthy target.
	Failover PolicyKind = "failover"
	// All answers with every healthy target.
	All PolicyKind = "all"
)

// PolicyKinds lists every policy the engine implements, for config validation.
func PolicyKinds() []PolicyKind { return []PolicyKind{All, Failover, Geo, Weighted} }

// Defaults of the spill arithmetic, as in Envoy.
const (
	DefaultOverprovisioning = 140
	DefaultPanicThreshold   = 50
	DefaultStaleGrace       = 5 * time.Minute
)

// SpillMode says what a priority's health counts when traffic spills
// between priorities.
type SpillMode string

const (
	// SpillCapacity counts capacity: a cluster's ready pods (VMs count as
	// pods) reachable through at least one healthy ingress address, over
	// its expected pods (ready plus not ready). The healthy addresses carry
	// the pods of failed ones, so losing an address while another stays up
	// moves nothing; losing pods moves traffic in proportion. The default.
	SpillCapacity SpillMode = "capacity"
	// SpillHosts counts ingress addresses, as Envoy does by default: with
	// one of two addresses down a priority is 50% healthy, whatever the
	// pods behind the other. For users who want Envoy parity by address.
	SpillHosts SpillMode = "hosts"
)

// SpillModes lists every spill mode, for config validation.
func SpillModes() []SpillMode { return []SpillMode{SpillCapacity, SpillHosts} }

// FailoverOverprovisioning is the overprovisioning factor of the Failover
// policy: one healthy host is enough for a level to take all of its load,
// which turns Envoy's graceful spill into strict failover (the first level
// with a healthy host takes everything).
const FailoverOverprovisioning = 1 << 20

// ServicePolicy is how one global service is routed.
type ServicePolicy struct {
	// Service is the global service's fully qualified name in lower case
	// without the final dot.
	Service string
	Kind    PolicyKind
	// Order lists the clusters of the Failover policy, most preferred first.
	Order []string
	// Weights, when set, replace capacity weights in the Weighted policy:
	// the cluster's weight is spread over its usable addresses.
	Weights []ClusterWeight
	// Overprovisioning is Envoy's overprovisioning factor in percent: a
	// priority with this share of healthy hosts counts as fully healthy.
	Overprovisioning uint32
	// PanicThreshold is the percentage of healthy hosts below which a
	// priority stops trusting health and uses all its hosts; 0 disables panic.
	PanicThreshold uint32
	// FailClosed makes a service with no healthy target answer with
	// nothing rather than with every target.
	FailClosed bool
	// Spill says what a priority's health counts; empty means
	// SpillCapacity, the default.
	Spill SpillMode
	// Map, for the geo policy, places clients by subnet, country or
	// continent before distance (see MapEntry).
	Map []MapEntry
	// Unprobed says no health check probes the service's targets:
	// readiness alone judges them, so a target without a verdict yet is
	// up (VerdictPending), and the health checker's verdict on it, when it
	// comes (TargetHealth.Unprobed), changes nothing.
	Unprobed bool
}

// SpillMode returns the policy's spill mode, SpillCapacity when unset.
func (p ServicePolicy) SpillMode() SpillMode {
	if p.Spill == "" {
		return SpillCapacity
	}
	return p.Spill
}

// DefaultPolicy returns the policy of kind for service with Envoy's defaults.
func DefaultPolicy(service string, kind PolicyKind) ServicePolicy {
	return ServicePolicy{Service: service, Kind: kind, Overprovisioning: DefaultOverprovisioning, PanicThreshold: DefaultPanicThreshold,
		Spill: SpillCapacity}
}

// SpillOverprovisioning is the overprovisioning factor the engine spills
// the policy with: FailoverOverprovisioning for Failover, else
// Overprovisioning. xDS sends it, so that Envoy spills as the Plan does.
func (p ServicePolicy) SpillOverprovisioning() uint32 {
	if p.Kind == Failover {
		return FailoverOverprovisioning
	}
	return p.Overprovisioning
}

// ClusterWeight is an explicit weight for one cluster.
type ClusterWeight struct {
	Cluster string
	Weight  uint32
}

// Policies holds the routing policy of every global service and the
// engine-wide settings.
type Policies struct {
	services []ServicePolicy // sorted by Service, unique
	// StaleGrace is how long a cluster that discovery lost keeps its last
	// known state before its targets count as unknown.
	StaleGrace time.Duration
	// Bias is the operator's distance bias per cluster (see Site.Bias).
	Bias map[string]int
	// Nets is the subnet list, in any order; Solve sorts it into the Plan.
	Nets []Net
}

// NewPolicies returns copies of the policies sorted by service; a later
// policy for the same service replaces an earlier one.
func NewPolicies(staleGrace time.Duration, ps []ServicePolicy) Policies {
	s := copyPolicies(ps)
	slices.SortStableFunc(s, func(a, b ServicePolicy) int { return cmp.Compare(a.Service, b.Service) })
	return Policies{
		services:   keepLast(s, func(a, b ServicePolicy) bool { return a.Service == b.Service }),
		StaleGrace: staleGrace,
	}
}

// Services returns a copy of every service's policy, sorted by service
// name. The copy is deep (Order, Weights, Map and its entries' lists are
// copies too), so that no write to it can change p under the engine,
// which recognises unchanged policies by ServicesID; policies that shared
// a map share its copy, as the engine compiles a shared map once.
func (p Policies) Services() []ServicePolicy { return copyPolicies(p.services) }

// ServicesID identifies the list of service policies by identity, not
// content: it is the same for copies of p (its other fields aside). The
// engine takes a copy (Services) only when it changes.
func (p Policies) ServicesID() ListID {
	return ListID{policies: first(p.services), n: len(p.services)}
}

// copyPolicies returns deep copies of ps; policies that shared a map (the
// same slice) share its copy.
func copyPolicies(ps []ServicePolicy) []ServicePolicy {
	out := slices.Clone(ps)
	maps := map[*MapEntry][]MapEntry{}
	for i := range out {
		p := &out[i]
		p.Order, p.Weights = slices.Clone(p.Order), slices.Clone(p.Weights)
		if len(p.Map) == 0 {
			continue
		}
		key := &p.Map[0]
		m, ok := maps[key]
		if !ok || len(m) != len(p.Map) {
			m = slices.Clone(p.Map)
			for j := range m {
				m[j].Subnets, m[j].Codes, m[j].Clusters = slices.Clone(m[j].Subnets), slices.Clone(m[j].Codes), slices.Clone(m[j].Clusters)
			}
			maps[key] = m
		}
		p.Map = m
	}
	return out
}
