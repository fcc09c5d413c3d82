package model

import (
	"cmp"
	"slices"
)

// PolicyKind names the rule that spreads a global service over its clusters.
type PolicyKind string

const (
	// Geo sends each client to the nearest cluster that can serve it, with the
	// others, by distance, as failover.
	Geo PolicyKind = "geo"
)

// PolicyKinds lists every policy the engine implements, for config validation.
func PolicyKinds() []PolicyKind { return []PolicyKind{Geo} }

// ServicePolicy is how one global service is routed.
type ServicePolicy struct {
	// Service is the global service's fully qualified name in lower case
	// without the final dot.
	Service string
	Kind    PolicyKind
}

// Policies holds the routing policy of every global service.
type Policies struct {
	services []ServicePolicy // sorted by Service, unique
}

// NewPolicies returns the policies sorted by service; a later policy for the
// same service replaces an earlier one.
func NewPolicies(ps []ServicePolicy) Policies {
	s := slices.Clone(ps)
	slices.SortStableFunc(s, func(a, b ServicePolicy) int { return cmp.Compare(a.Service, b.Service) })
	return Policies{services: keepLast(s, func(a, b ServicePolicy) bool { return a.Service == b.Service })}
}

// Services returns every service's policy, sorted by service name.
func (p Policies) Services() []ServicePolicy { return p.services }
