// Package weights decides where traffic goes. Solve is a pure function from
// the time, Inventory, Health, Overrides and Policies to a Plan: no I/O, no
// clock, no randomness, so the same inputs always give the same Plan, byte
// for byte. When thousands of services need solving (at start, or when a
// cluster or override changes), it solves them on up to GOMAXPROCS
// goroutines, each with its own scratch; the Plan does not depend on how
// the work was split. Loop is the one goroutine that owns those inputs, re-solves when
// any of them changes and hands each new Plan to its observers (DNS, xDS, API).
//
// What Solve decides, per service:
//
//   - Each ingress address of the service in a cluster is a target with the
//     capacity weight max(1, floor(readyPods*10/ingressAddresses)), or an
//     explicit or pinned weight. A target with no ready pods or a down
//     verdict is unhealthy; one that is drained, disabled, or outside the
//     policy is excluded and never gets traffic.
//   - The policy ranks clusters into priorities for each bucket of clients
//     (geo: same zone, same region, other regions by distance; failover: the
//     listed order; weighted and all: one priority).
//   - Envoy's arithmetic (spill.go) turns the priorities' health into loads,
//     with overprovisioning, panic and total panic exactly as Envoy computes
//     them; a priority's load is shared among its hosts by weight. So a DNS
//     or gRPC client that cannot spill by itself gets the same split as Envoy.
//   - What a priority's health counts is the policy's spill mode. Hosts
//     spill counts ingress addresses, as Envoy does by default. Capacity
//     spill (the default) counts pods: a cluster's healthy capacity is its
//     ready pods behind at least one healthy address, its expected capacity
//     its ready plus not-ready pods, and its healthy addresses carry its
//     pods, max(1, floor(readyPods*10/healthyAddresses)) each, so losing an
//     address while another stays up moves nothing. The same arithmetic
//     runs over capacity units (pods*10) instead of hosts (capacityUnits).
//   - With no healthy target the service fails open (every host, as in total
//     panic) unless its policy fails closed.
//   - A cluster discovery lost keeps its last known state for the grace
//     period, then its targets count as unknown, that is usable.
//
// Solver solves incrementally: it re-solves only the services whose
// backends or health changed (recognised by identity, see
// model.Inventory.WithBackends), and shares route shapes between services
// whose layout and health counts are equal.
//
// weights imports model (and internal/debounce for the loop's hold-off)
// only: the decision is pure, its inputs and output the model's values, so
// it never reads config, the network or a clock it is not given.
package weights
