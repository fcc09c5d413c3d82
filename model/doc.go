// Package model holds the immutable values that cross package lines in Meridian:
// the Inventory that discovery builds, the Health that probes judge, the Overrides
// that operators set, the Policies from the config, and the Plan that weights.Solve
// decides from them; the ProbeReports replicas share; and Plan.Place, the one
// function that puts a client in a bucket for DNS, xDS and explain alike (by
// an xDS node's locality, a subnet-list or map entry, or distance with bias).
//
// A value is never mutated after it is published; a change makes a new value. The
// constructors copy and sort their input, so two values with the same content are
// equal field by field and hash to the same version.
//
// The inputs of the engine are immutable in fact, not by convention: their
// lists are unexported, and every accessor returns a deep copy, the slices
// inside the elements included (Inventory.Clusters, BackendsOf,
// AppendBackendsOf, Backends with each Backend's Ingress, ZonePods,
// IngressZones and PodIPs; Health.Of, AppendOf, Targets; Policies.Services
// with each policy's Order, Weights and Map; Overrides.Items and ActiveAt
// with each Order). So no write by a caller can change a published value
// under the engine, which skips unchanged services by the identity of
// their lists (ListID: ClustersID, BackendsID, VerdictsID, ServicesID): an
// equal ID is the same list and the same content. The exported fields of
// Policies (StaleGrace, Bias, Nets) are the caller's; the engine keeps
// copies and compares them by content.
//
// The Plan is the engine's output, and is shared as it is: its Services
// are handed on from Plan to Plan while unchanged (the DNS server and xDS
// skip them by pointer), and its slices are shared with them. Read a Plan,
// never write it.
//
// model imports only the standard library: every other package may import it.
package model
