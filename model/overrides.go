package model

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// OverrideKind says what an operator's override does.
type OverrideKind uint8

const (
	// Drain takes a cluster out of service for one service, or for all
	// services when Service is empty.
	Drain OverrideKind = iota + 1
	// Disable takes one target address out of service.
	Disable
	// Weight pins the capacity weight of every target of a (service, cluster).
	Weight
)

func (k OverrideKind) String() string {
	switch k {
	case Drain:
		return "drain"
	case Disable:
		return "disable"
	case Weight:
		return "weight"
	default:
		return "invalid"
	}
}

// Override is one decision an operator imposed on the engine, with who made
// it, why, and until when.
type Override struct {
	Kind    OverrideKind
	Service string     // empty: every service (Drain only)
	Cluster string     // Drain, Weight
	Address netip.Addr // Disable
	Weight  uint32     // Weight
	Reason  string
	Author  string
	// Expires is when the override stops applying; zero means never.
	Expires time.Time
}

// ActiveAt reports whether the override applies at time t.
func (o Override) ActiveAt(t time.Time) bool {
	return o.Expires.IsZero() || t.Before(o.Expires)
}

// Overrides is the set of overrides in force, judged at time At: the engine
// has no clock, so the moment that decides expiry travels with the value.
type Overrides struct {
	At    time.Time
	items []Override // sorted canonically
}

// NewOverrides returns the overrides judged at time at, copied and sorted.
func NewOverrides(at time.Time, items []Override) Overrides {
	its := slices.Clone(items)
	for i := range its {
		its[i].Address = its[i].Address.Unmap()
	}
	slices.SortStableFunc(its, func(a, b Override) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Service, b.Service),
			cmp.Compare(a.Cluster, b.Cluster), a.Address.Compare(b.Address))
	})
	return Overrides{At: at, items: its}
}

// Items returns every override, active or not, in canonical order.
func (o Overrides) Items() []Override { return o.items }

// Active returns the overrides that apply at o.At.
func (o Overrides) Active() []Override {
	var out []Override
	for _, it := range o.items {
		if it.ActiveAt(o.At) {
			out = append(out, it)
		}
	}
	return out
}
