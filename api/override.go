package api

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/meridian-gtm/meridian/internal/duration"
	"github.com/meridian-gtm/meridian/model"
)

// OverrideSpec is what an override does, as JSON: the fields a client
// writes and the stores keep.
type OverrideSpec struct {
	Kind    string   `json:"kind"`
	Service string   `json:"service,omitempty"`
	Cluster string   `json:"cluster,omitempty"`
	Address string   `json:"address,omitempty"`
	Weight  *uint32  `json:"weight,omitempty"`
	Order   []string `json:"order,omitempty"`
	Reason  string   `json:"reason"`
}

// Override is an override as the API and the stores write it in JSON.
type Override struct {
	ID string `json:"id"`
	OverrideSpec
	Author  string     `json:"author,omitempty"`
	Created time.Time  `json:"created"`
	Expires *time.Time `json:"expires,omitempty"`
}

// OverrideRequest is the body of PUT /api/v1/overrides/{id}: an override
// without the fields the server fills in. Expires and For (a duration
// from now, such as "2h") are alternatives.
type OverrideRequest struct {
	OverrideSpec
	Expires *time.Time `json:"expires,omitempty"`
	For     string     `json:"for,omitempty"`
}

// fieldError is invalid input, naming the field at fault.
type fieldError struct {
	field, msg string
}

func (e *fieldError) Error() string {
	if e.field == "" {
		return e.msg
	}
	return e.field + ": " + e.msg
}

func invalid(field, format string, args ...any) *fieldError {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

var idPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// checkID accepts names an operator can type and a Kubernetes object can
// hold as a key: lower-case letters, digits, '.', '_' and '-', at most 63.
func checkID(id string) error {
	if !idPattern.MatchString(id) {
		return invalid("id", "%q: use 1 to 63 lower-case letters, digits, '.', '_' or '-', starting and ending with a letter or digit", id)
	}
	return nil
}

// MaxWeight is the largest weight a weight override may pin: the config's
// bound on explicit weights, so that the engine's sums stay far from
// overflowing.
const MaxWeight = 1_000_000

// maxExpiry bounds how far ahead an override may expire; an override
// meant to last for ever has no expiry.
const maxExpiry = 100 * 365 * 24 * time.Hour

// Known is what an override may name: the services and clusters Meridian
// knows, and the target addresses of each (service, cluster).
type Known struct {
	Services map[string]bool
	Clusters map[string]bool
	Targets  []KnownTarget
}

// KnownTarget is one address traffic can go to.
type KnownTarget struct {
	Service, Cluster string
	Address          netip.Addr
}

// checkTarget refuses an address that is not a target (of service and
// cluster when they are given), naming the addresses that are: a typo must
// not be accepted and silently do nothing.
func (k Known) checkTarget(addr netip.Addr, service, cluster string) error {
	var known []string
	for _, t := range k.Targets {
		if (service != "" && t.Service != service) || (cluster != "" && t.Cluster != cluster) {
			continue
		}
		if t.Address == addr {
			return nil
		}
		known = append(known, t.Cluster+" "+t.Address.String())
	}
	slices.Sort(known)
	known = slices.Compact(known)
	where := "any service"
	switch {
	case cluster != "" && service != "":
		where = "service " + service + " in cluster " + cluster
	case cluster != "":
		where = "cluster " + cluster
	case service != "":
		where = "service " + service
	}
	if len(known) == 0 {
		return invalid("address", "%s is not a target of %s, which has none", addr, where)
	}
	const most = 32
	more := ""
	if len(known) > most {
		more = fmt.Sprintf(" and %d more", len(known)-most)
		known = known[:most]
	}
	return invalid("address", "%s is not a target of %s; known: %s%s", addr, where, strings.Join(known, ", "), more)
}

// parseFor reads the for field as the config reads durations (300, 30s,
// 5m, 2h, 1d, 1w, 1h30m): one parser for the config, the API and the CLI.
func parseFor(s string) (time.Duration, bool) {
	d, ok := duration.Parse(s)
	return d, ok && d > 0
}

// toModel checks a request and turns it into an override made by author at
// now. Names are compared as the config compares them: case-insensitive,
// with or without the final dot.
func (r OverrideRequest) toModel(id, author string, now time.Time, known Known) (model.Override, error) {
	kind, ok := model.ParseOverrideKind(r.Kind)
	if !ok {
		return model.Override{}, invalid("kind", "%q: expected drain, disable, enable, weight or failover", r.Kind)
	}
	o := model.Override{ID: id, Kind: kind, Service: model.CanonicalName(r.Service), Cluster: model.CanonicalName(r.Cluster), Reason: r.Reason,
		Author: author, Created: now}
	if strings.TrimSpace(r.Reason) == "" {
		return o, invalid("reason", "say why: operators at 3 a.m. will want to know")
	}
	if o.Service != "" && !known.Services[o.Service] {
		return o, invalid("service", "%q is not a global service", r.Service)
	}
	if o.Cluster != "" && !known.Clusters[o.Cluster] {
		return o, invalid("cluster", "%q is not a cluster", r.Cluster)
	}
	if r.Address != "" {
		a, err := netip.ParseAddr(r.Address)
		if err != nil {
			return o, invalid("address", "%q is not an IP address", r.Address)
		}
		o.Address = a.Unmap()
	}
	if len(r.Order) > 0 {
		seen := map[string]bool{}
		for _, c := range r.Order {
			c = model.CanonicalName(c)
			if !known.Clusters[c] {
				return o, invalid("order", "%q is not a cluster", c)
			}
			if seen[c] {
				return o, invalid("order", "%q is named twice", c)
			}
			seen[c] = true
			o.Order = append(o.Order, c)
		}
	}
	needs := func(field string, have bool) error {
		if !have {
			return invalid(field, "a %s override needs it", r.Kind)
		}
		return nil
	}
	// takes lists the fields each kind reads; any other is refused rather
	// than stored to do nothing.
	takes := map[model.OverrideKind]string{
		model.Drain:         "service cluster",
		model.Disable:       "service cluster address",
		model.Enable:        "service cluster address",
		model.Weight:        "service cluster weight",
		model.ForceFailover: "service order",
	}[kind]
	for _, f := range []struct {
		name string
		set  bool
	}{{"cluster", r.Cluster != ""}, {"address", r.Address != ""}, {"weight", r.Weight != nil}, {"order", r.Order != nil}} {
		if f.set && !slices.Contains(strings.Fields(takes), f.name) {
			return o, invalid(f.name, "a %s override takes no %s", r.Kind, f.name)
		}
	}
	var err error
	switch kind {
	case model.Drain:
		err = needs("cluster", r.Cluster != "")
	case model.Disable, model.Enable:
		if err = needs("address", o.Address.IsValid()); err == nil {
			err = known.checkTarget(o.Address, o.Service, o.Cluster)
		}
	case model.Weight:
		if err = needs("service", r.Service != ""); err == nil {
			if err = needs("cluster", r.Cluster != ""); err == nil {
				err = needs("weight", r.Weight != nil)
			}
		}
		if err == nil && *r.Weight > MaxWeight {
			err = invalid("weight", "%d: expected a whole number from 0 (drain) to %d", *r.Weight, MaxWeight)
		}
		if r.Weight != nil {
			o.Weight = *r.Weight
		}
	case model.ForceFailover:
		if err = needs("service", r.Service != ""); err == nil {
			err = needs("order", len(r.Order) > 0)
		}
	}
	if err != nil {
		return o, err
	}
	switch {
	case r.Expires != nil && r.For != "":
		return o, invalid("for", "give expires or for, not both")
	case r.Expires != nil:
		if !r.Expires.After(now) {
			return o, invalid("expires", "%v is in the past", r.Expires.Format(time.RFC3339))
		}
		if r.Expires.Sub(now) > maxExpiry {
			return o, invalid("expires", "at most 100 years ahead; leave expires out for an override without end")
		}
		o.Expires = *r.Expires
	case r.For != "":
		d, ok := parseFor(r.For)
		if !ok {
			return o, invalid("for", "%q: expected a duration such as 30m, 2h, 1d or 1w", r.For)
		}
		if d > maxExpiry {
			return o, invalid("for", "at most 100 years; leave for out for an override without end")
		}
		o.Expires = now.Add(d)
	}
	return o, nil
}

// OverrideOf writes an override for JSON.
func OverrideOf(o model.Override) Override {
	out := Override{ID: o.ID, OverrideSpec: OverrideSpec{Kind: o.Kind.String(), Service: o.Service, Cluster: o.Cluster, Order: o.Order,
		Reason: o.Reason}, Author: o.Author, Created: o.Created.UTC()}
	if o.Address.IsValid() {
		out.Address = o.Address.String()
	}
	if o.Kind == model.Weight {
		w := o.Weight
		out.Weight = &w
	}
	if !o.Expires.IsZero() {
		e := o.Expires.UTC()
		out.Expires = &e
	}
	return out
}

// Model reads an override written by OverrideOf.
func (o Override) Model() (model.Override, error) {
	kind, ok := model.ParseOverrideKind(o.Kind)
	if !ok {
		return model.Override{}, fmt.Errorf("override %q: unknown kind %q", o.ID, o.Kind)
	}
	m := model.Override{ID: o.ID, Kind: kind, Service: o.Service, Cluster: o.Cluster, Order: o.Order,
		Reason: o.Reason, Author: o.Author, Created: o.Created}
	if o.Address != "" {
		a, err := netip.ParseAddr(o.Address)
		if err != nil {
			return m, fmt.Errorf("override %q: %w", o.ID, err)
		}
		m.Address = a
	}
	if o.Weight != nil {
		m.Weight = *o.Weight
	}
	if o.Expires != nil {
		m.Expires = *o.Expires
	}
	return m, nil
}
