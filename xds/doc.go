// Package xds is Meridian's Envoy control plane: an ADS server that
// renders every Plan as listeners, routes, clusters
// and locality-weighted endpoints for gateways, sidecars and proxyless gRPC
// clients, so that proxies follow the same decision as the GeoDNS.
//
// How gateways learn the split depends on the service's spill mode. With
// hosts spill they get the Plan's priorities, capacity weights and health,
// and spill by themselves with Envoy's arithmetic, which the Plan ports
// exactly (priorityEndpoints). With capacity spill, the default, they get
// the Plan's split pre-spilled (preSpilledEndpoints): not-ready pods behind
// healthy addresses have no host that Envoy could count as missing, so no
// priority encoding, weighted_priority_health included, makes Envoy spill
// for them. Proxyless gRPC clients ignore the overprovisioning factor and
// always get the pre-spilled shares as locality weights (spilledEndpoints).
//
// Build is the pure translation of a Plan for one group of nodes (role ×
// locality); Server renders per group only the services whose ServicePlan
// changed, and of those publishes only the resources that differ (the
// endpoints are decided as plain data, an assignment, and encoded
// straight from it), keeps each group's resources apart (groupResources),
// and serves them over state-of-the-world and incremental xDS with a
// stream loop of its own (adsStream): a change marks the group's streams,
// and each computes what it is due when it is ready to send, so an idle
// stream holds one goroutine and its subscriptions. What unauthenticated
// clients can make it hold is bounded (Limits): connections, streams,
// pings, and node groups, which are capped, rendered only while they have
// streams, and dropped after a grace period.
//
// go-control-plane (its API types, and its subscription rules for
// wildcards) is imported here and nowhere else.
package xds
