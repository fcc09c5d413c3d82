package model

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// State is the health verdict on one target.
type State uint8

const (
	// Unknown is the state of a target before its first verdict. The engine
	// treats it as usable: a new target must not start out dark.
	Unknown State = iota
	Up
	Down
)

func (s State) String() string {
	switch s {
	case Up:
		return "up"
	case Down:
		return "down"
	default:
		return "unknown"
	}
}

// Health holds the verdicts on targets, grouped by service like the
// Inventory, so that a change to one service's verdicts leaves the others
// shared. A target without a verdict is Unknown.
type Health struct {
	services groups[TargetHealth] // each service's verdicts, sorted by cluster and address
}

// TargetHealth is the verdict on one ingress address of one service in one cluster.
type TargetHealth struct {
	Service string
	Cluster string
	Address netip.Addr
	State   State
	// Since is when the target entered State, and Reason says why, for humans.
	Since  time.Time
	Reason string
	// Unprobed marks the verdict on a target that no probe checks (its
	// Reason is NotProbed): up, leaving it to readiness. The zero value is
	// a probe's verdict, so that verdicts built without it, such as the
	// ones replicas share (probed targets only), read as probed.
	Unprobed bool
}

// NewHealth returns a Health holding sorted copies of the verdicts; a later
// verdict on the same target replaces an earlier one.
func NewHealth(verdicts []TargetHealth) Health {
	return Health{services: groupBy(canonicalVerdicts(verdicts), func(v TargetHealth) string { return v.Service })}
}

func canonicalVerdicts(verdicts []TargetHealth) []TargetHealth {
	vs := slices.Clone(verdicts)
	for i := range vs {
		vs[i].Address = vs[i].Address.Unmap()
	}
	slices.SortStableFunc(vs, compareTargetHealth)
	return keepLast(vs, func(a, b TargetHealth) bool { return compareTargetHealth(a, b) == 0 })
}

func compareTargetHealth(a, b TargetHealth) int {
	return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Cluster, b.Cluster), a.Address.Compare(b.Address))
}

// Targets returns every verdict, sorted by service, cluster and address.
func (h Health) Targets() []TargetHealth { return h.services.all() }

// Of returns a copy of the verdicts on one service's targets, sorted by
// cluster and address.
func (h Health) Of(service string) []TargetHealth { return h.AppendOf(nil, service) }

// AppendOf appends copies of the verdicts on service's targets to dst and
// returns the result, as Of does without a new slice for each service:
// the engine copies every service it solves into one buffer.
func (h Health) AppendOf(dst []TargetHealth, service string) []TargetHealth {
	return append(dst, h.services.of(service)...)
}

// VerdictsID identifies the verdicts on service's targets by identity, not
// content: it is the same for every Health derived from h without
// WithService of service. The engine skips unchanged services by it.
func (h Health) VerdictsID(service string) ListID {
	vs := h.services.of(service)
	return ListID{verdicts: first(vs), n: len(vs)}
}

// WithService returns a copy of h in which the verdicts on service's targets
// are replaced; the other services' verdicts stay shared.
func (h Health) WithService(service string, verdicts []TargetHealth) Health {
	vs := make([]TargetHealth, len(verdicts))
	for i, v := range verdicts {
		v.Service = service
		vs[i] = v
	}
	return Health{services: h.services.with(service, canonicalVerdicts(vs))}
}

// State returns the verdict on one target, Unknown when there is none.
func (h Health) State(service, cluster string, addr netip.Addr) State {
	vs := h.services.of(service)
	key := TargetHealth{Service: service, Cluster: cluster, Address: addr.Unmap()}
	if i, ok := slices.BinarySearchFunc(vs, key, compareTargetHealth); ok {
		return vs[i].State
	}
	return Unknown
}
