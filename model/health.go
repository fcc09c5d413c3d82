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

// Health holds the verdicts on targets. A target without a verdict is Unknown.
type Health struct {
	targets []TargetHealth // sorted by key, keys unique
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
}

// NewHealth returns a Health holding sorted copies of the verdicts; a later
// verdict on the same target replaces an earlier one.
func NewHealth(verdicts []TargetHealth) Health {
	ts := slices.Clone(verdicts)
	for i := range ts {
		ts[i].Address = ts[i].Address.Unmap()
	}
	slices.SortStableFunc(ts, compareTargetHealth)
	return Health{targets: keepLast(ts, func(a, b TargetHealth) bool { return compareTargetHealth(a, b) == 0 })}
}

func compareTargetHealth(a, b TargetHealth) int {
	return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Cluster, b.Cluster), a.Address.Compare(b.Address))
}

// Targets returns every verdict, sorted by service, cluster and address.
func (h Health) Targets() []TargetHealth { return h.targets }

// State returns the verdict on one target, Unknown when there is none.
func (h Health) State(service, cluster string, addr netip.Addr) State {
	key := TargetHealth{Service: service, Cluster: cluster, Address: addr.Unmap()}
	if i, ok := slices.BinarySearchFunc(h.targets, key, compareTargetHealth); ok {
		return h.targets[i].State
	}
	return Unknown
}
