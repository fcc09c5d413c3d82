// Package model holds the immutable values that cross package lines in Meridian:
// the Inventory that discovery builds, the Health that probes judge, the Overrides
// that operators set, the Policies from the config, and the Plan that weights.Solve
// decides from them; the ProbeReports replicas share; and Plan.Place, the one
// function that puts a client in a bucket for DNS, xDS and explain alike (by
// an xDS node's locality, a subnet-list or map entry, or distance with bias).
//
// A value is never mutated after it is published; a change makes a new value. The
// constructors copy and sort their input, so two values with the same content are
// equal field by field and hash to the same version. Inventory's accessors
// (Clusters, BackendsOf, Backends) return copies of its lists, so that no
// caller can change a published Inventory under the engine, which skips
// unchanged services by the lists' identity (ClustersID, BackendsID). The
// slices inside the elements (a Backend's Ingress, ZonePods, IngressZones,
// PodIPs) and the slices other values' accessors return (Overrides.Items,
// Health.Of, Policies.Services) are shared with the value and must be
// treated as read-only.
//
// model imports only the standard library: every other package may import it.
package model
