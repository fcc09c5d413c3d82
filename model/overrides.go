package model

import (
	"cmp"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// OverrideKind says what an operator's override does.
type OverrideKind uint8

const (
	// Drain takes a cluster out of service for one service, or for every
	// service when Service is empty. A drained target never gets traffic,
	// not even when the service fails open.
	Drain OverrideKind = iota + 1
	// Disable takes one target address out of service, for one service or,
	// when Service is empty, for every service.
	Disable
	// Enable forces one target address into service whatever its health
	// verdict, and wins over a drain of its cluster.
	Enable
	// Weight pins the weight of each target of a (service, cluster); 0
	// drains them.
	Weight
	// ForceFailover forces a service into the failover policy with Order
	// as the list of clusters.
	ForceFailover
)

var overrideKindNames = [...]string{Drain: "drain", Disable: "disable", Enable: "enable", Weight: "weight", ForceFailover: "failover"}

// ParseOverrideKind returns the kind named s, or false.
func ParseOverrideKind(s string) (OverrideKind, bool) {
	for k, name := range overrideKindNames {
		if name != "" && name == s {
			return OverrideKind(k), true
		}
	}
	return 0, false
}

func (k OverrideKind) String() string {
	if int(k) < len(overrideKindNames) && overrideKindNames[k] != "" {
		return overrideKindNames[k]
	}
	return "invalid"
}

// Override is one decision an operator imposed on the engine, with who made
// it, why, and until when.
//
// When several overrides touch the same target, the most specific wins: an
// override of the address (Enable, Disable; one naming the service before
// one for all services), then of the (service, cluster) (Drain, Weight), then
// of the whole cluster (Drain with no service). Among equally specific
// overrides the newest (Created) wins; if they were created at the same
// instant, the kind that sends less traffic wins (Drain, Disable before
// Weight, Enable). Failover overrides act on the service's policy; the
// newest wins.
type Override struct {
	// ID names the override for the API and its store: unique among the
	// overrides of one source ("config/..." for those of the config file).
	ID      string
	Kind    OverrideKind
	Service string     // empty: every service (Drain, Disable)
	Cluster string     // Drain, Weight
	Address netip.Addr // Disable, Enable
	Weight  uint32     // Weight
	Order   []string   // ForceFailover: clusters, most preferred first
	Reason  string
	Author  string
	Created time.Time
	// Expires is when the override stops applying; zero means never.
	Expires time.Time
}

// ActiveAt reports whether the override applies at time t.
func (o Override) ActiveAt(t time.Time) bool {
	return o.Expires.IsZero() || t.Before(o.Expires)
}

// Equal reports whether two overrides are the same in every field.
func (o Override) Equal(p Override) bool {
	return o.ID == p.ID && o.Kind == p.Kind && o.Service == p.Service && o.Cluster == p.Cluster && o.Address == p.Address &&
		o.Weight == p.Weight && slices.Equal(o.Order, p.Order) && o.Reason == p.Reason && o.Author == p.Author &&
		o.Created.Equal(p.Created) && o.Expires.Equal(p.Expires)
}

// LogValue is how logs show an override: its id, kind, service (empty:
// every service), cluster, reason and expiry (never, or RFC 3339 in UTC)
// always, so that a log search for any of them finds every change; the
// address, weight, order and author when the kind has them.
func (o Override) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("id", o.ID), slog.String("kind", o.Kind.String()),
		slog.String("service", o.Service), slog.String("cluster", o.Cluster)}
	if o.Address.IsValid() {
		attrs = append(attrs, slog.String("address", o.Address.String()))
	}
	switch o.Kind {
	case Weight:
		attrs = append(attrs, slog.Uint64("weight", uint64(o.Weight)))
	case ForceFailover:
		attrs = append(attrs, slog.String("order", strings.Join(o.Order, " ")))
	}
	expires := "never"
	if !o.Expires.IsZero() {
		expires = o.Expires.UTC().Format(time.RFC3339)
	}
	attrs = append(attrs, slog.String("reason", o.Reason), slog.String("expires", expires))
	if o.Author != "" {
		attrs = append(attrs, slog.String("author", o.Author))
	}
	return slog.GroupValue(attrs...)
}

// Overrides is the set of overrides operators have made, active or not.
type Overrides struct {
	items []Override // sorted canonically
}

// NewOverrides returns the overrides copied and sorted canonically.
func NewOverrides(items []Override) Overrides {
	its := slices.Clone(items)
	for i := range its {
		its[i].Address = its[i].Address.Unmap()
		its[i].Order = slices.Clone(its[i].Order)
	}
	slices.SortStableFunc(its, func(a, b Override) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Service, b.Service),
			cmp.Compare(a.Cluster, b.Cluster), a.Address.Compare(b.Address), a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return Overrides{items: its}
}

// Items returns a copy of every override, active or not, in canonical
// order.
func (o Overrides) Items() []Override { return o.activeAt(time.Time{}, true) }

// ActiveAt returns copies of the overrides that apply at time t.
func (o Overrides) ActiveAt(t time.Time) []Override { return o.activeAt(t, false) }

// activeAt returns copies of the overrides active at t, or of all; the
// copies are deep (Order), so that no write to them can change o.
func (o Overrides) activeAt(t time.Time, all bool) []Override {
	var out []Override
	for _, it := range o.items {
		if all || it.ActiveAt(t) {
			it.Order = slices.Clone(it.Order)
			out = append(out, it)
		}
	}
	return out
}
