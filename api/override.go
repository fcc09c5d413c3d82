package api

import (
	"fmt"
	"net/netip"
	"regexp"
	"time"

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

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

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

// Known is what an override may name: the services and clusters Meridian
// knows.
type Known struct {
	Services map[string]bool
	Clusters map[string]bool
}

// toModel checks a request and turns it into an override made by author at
// now.
func (r OverrideRequest) toModel(id, author string, now time.Time, known Known) (model.Override, error) {
	kind, ok := model.ParseOverrideKind(r.Kind)
	if !ok {
		return model.Override{}, invalid("kind", "%q: expected drain, disable, enable, weight or failover", r.Kind)
	}
	o := model.Override{ID: id, Kind: kind, Service: r.Service, Cluster: r.Cluster, Order: r.Order, Reason: r.Reason, Author: author, Created: now}
	if r.Reason == "" {
		return o, invalid("reason", "say why: operators at 3 a.m. will want to know")
	}
	if r.Service != "" && !known.Services[r.Service] {
		return o, invalid("service", "%q is not a global service", r.Service)
	}
	if r.Cluster != "" && !known.Clusters[r.Cluster] {
		return o, invalid("cluster", "%q is not a cluster", r.Cluster)
	}
	if r.Address != "" {
		a, err := netip.ParseAddr(r.Address)
		if err != nil {
			return o, invalid("address", "%q is not an IP address", r.Address)
		}
		o.Address = a.Unmap()
	}
	needs := func(field string, have bool) error {
		if !have {
			return invalid(field, "a %s override needs it", r.Kind)
		}
		return nil
	}
	var err error
	switch kind {
	case model.Drain:
		err = needs("cluster", r.Cluster != "")
	case model.Disable, model.Enable:
		err = needs("address", o.Address.IsValid())
	case model.Weight:
		if err = needs("service", r.Service != ""); err == nil {
			if err = needs("cluster", r.Cluster != ""); err == nil {
				err = needs("weight", r.Weight != nil)
			}
		}
		if r.Weight != nil {
			o.Weight = *r.Weight
		}
	case model.ForceFailover:
		if err = needs("service", r.Service != ""); err == nil {
			err = needs("order", len(r.Order) > 0)
		}
		for _, c := range r.Order {
			if !known.Clusters[c] {
				return o, invalid("order", "%q is not a cluster", c)
			}
		}
	}
	if err != nil {
		return o, err
	}
	if kind != model.Weight && r.Weight != nil {
		return o, invalid("weight", "only a weight override takes a weight")
	}
	switch {
	case r.Expires != nil && r.For != "":
		return o, invalid("for", "give expires or for, not both")
	case r.Expires != nil:
		if !r.Expires.After(now) {
			return o, invalid("expires", "%v is in the past", r.Expires.Format(time.RFC3339))
		}
		o.Expires = *r.Expires
	case r.For != "":
		d, err := time.ParseDuration(r.For)
		if err != nil || d <= 0 {
			return o, invalid("for", "%q: expected a duration such as 30m or 2h", r.For)
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
