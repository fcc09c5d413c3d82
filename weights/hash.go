package weights

import (
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/meridian-gtm/meridian/model"
)

// service hashes everything a ServicePlan decides, re-using h's buffer;
// shapeHash stands for the shape of its routes. facts are the service's
// groups' (gatherFacts), and clusterHash[ci] is what groupHead appends for
// a group of cluster ci.
func (h *hashBuf) service(s *model.ServicePlan, shapeHash uint64, facts []groupFacts, clusterHash [][]byte) uint64 {
	h.b = h.b[:0]
	h.str(s.Name)
	h.str(string(s.Policy.Kind))
	h.int(len(s.Policy.Order))
	for _, o := range s.Policy.Order {
		h.str(o)
	}
	h.int(len(s.Policy.Weights))
	for _, w := range s.Policy.Weights {
		h.str(w.Cluster)
		h.int(int(w.Weight))
	}
	h.int(int(s.Policy.Overprovisioning))
	h.int(int(s.Policy.PanicThreshold))
	h.bool(s.Policy.FailClosed)
	h.str(string(s.Policy.SpillMode()))
	h.int(len(s.Policy.Map))
	for _, e := range s.Policy.Map {
		h.int(int(e.Match))
		h.int(len(e.Subnets))
		for _, p := range e.Subnets {
			h.str(p.String())
		}
		h.int(len(e.Codes))
		for _, c := range e.Codes {
			h.str(c)
		}
		h.int(len(e.Clusters))
		for _, c := range e.Clusters {
			h.str(c)
		}
		h.bool(e.Fence)
		h.str(e.Source)
	}
	h.int(s.PolicyOverride)
	h.int(len(s.Groups))
	for gi := range s.Groups {
		g := &s.Groups[gi]
		if ci := facts[gi].cluster; ci >= 0 {
			h.b = append(h.b, clusterHash[ci]...)
		} else {
			h.groupHead(g)
		}
		h.int(g.ReadyPods)
		h.int(g.NotReadyPods)
		// HealthyPods and ExpectedPods follow from what is hashed here.
		h.int(len(g.ZonePods))
		for _, z := range g.ZonePods {
			h.str(z.Zone)
			h.int(z.ReadyPods)
		}
		h.int(len(g.IngressZones))
		for _, z := range g.IngressZones {
			a := z.Addr.As16()
			h.b = append(h.b, a[:]...)
			h.str(z.Zone)
		}
		h.int(len(g.PodIPs))
		for _, a := range g.PodIPs {
			b := a.As16()
			h.b = append(h.b, b[:]...)
		}
		h.int(g.First)
		h.int(g.N)
		h.bool(g.Stale)
		h.int(int(g.LostAt.UnixNano()))
	}
	h.int(len(s.Targets))
	const rec = 16 + 8 + 8 + 3 + 8
	n := len(h.b)
	h.b = slices.Grow(h.b, rec*len(s.Targets))[:n+rec*len(s.Targets)]
	out := h.b[n:]
	for i := range s.Targets {
		t, r := &s.Targets[i], out[i*rec:(i+1)*rec:(i+1)*rec]
		a := t.Address.As16()
		copy(r[:16], a[:])
		binary.LittleEndian.PutUint64(r[16:], uint64(t.Group))
		binary.LittleEndian.PutUint64(r[24:], uint64(t.Weight))
		r[32], r[33], r[34] = byte(t.Health), byte(t.Status), byte(t.Cause)
		binary.LittleEndian.PutUint64(r[35:], uint64(t.Override))
	}
	// The routes: their shape, hashed once per shape, and their shares.
	h.int(int(shapeHash))
	h.int(len(s.Routes))
	for ri := range s.Routes {
		r := &s.Routes[ri]
		h.int(len(r.Shares))
		n := len(h.b)
		h.b = slices.Grow(h.b, 16*len(r.Shares))[:n+16*len(r.Shares)]
		out := h.b[n:]
		for i, sh := range r.Shares {
			binary.LittleEndian.PutUint64(out[16*i:], uint64(sh.Target))
			binary.LittleEndian.PutUint64(out[16*i+8:], math.Float64bits(sh.Fraction))
		}
	}
	return xxhash.Sum64(h.b)
}

// groupHead appends what a group takes from its cluster: its name,
// locality and location.
func (h *hashBuf) groupHead(g *model.Group) {
	h.str(g.Cluster)
	h.str(g.Locality.Region)
	h.str(g.Locality.Zone)
	p, ok := g.Location.Point()
	h.float(p.Lat)
	h.float(p.Lon)
	h.bool(ok)
}

// shape hashes a route shape: every row's priorities, group priorities,
// mode and loaded groups.
func (h *hashBuf) shape(sh *routeShape) uint64 {
	h.b = h.b[:0]
	h.int(sh.rows)
	h.b = append(h.b, sh.gp...)
	for _, m := range sh.modes {
		h.b = append(h.b, byte(m))
	}
	for _, v := range sh.prioStart {
		h.b = binary.LittleEndian.AppendUint32(h.b, uint32(v))
	}
	const rec = 4 + 4*4
	n := len(h.b)
	h.b = slices.Grow(h.b, rec*len(sh.prios))[:n+rec*len(sh.prios)]
	out := h.b[n:]
	for i := range sh.prios {
		p, r := &sh.prios[i], out[i*rec:(i+1)*rec:(i+1)*rec]
		r[0], r[1], r[2], r[3] = byte(p.Tier), p.Health, p.Load, 0
		if p.Panic {
			r[3] = 1
		}
		binary.LittleEndian.PutUint32(r[4:], uint32(p.Group))
		binary.LittleEndian.PutUint32(r[8:], math.Float32bits(p.DistanceKm))
		binary.LittleEndian.PutUint32(r[12:], uint32(p.Hosts))
		binary.LittleEndian.PutUint32(r[16:], uint32(p.Healthy))
	}
	return xxhash.Sum64(h.b)
}

// planVersion combines the services' hashes with the sites and the active
// overrides, which explanations quote.
func planVersion(p *model.Plan) uint64 {
	var h hashBuf
	h.int(len(p.Sites))
	for _, s := range p.Sites {
		h.str(s.Cluster)
		h.str(s.Locality.Region)
		h.str(s.Locality.Zone)
		h.float(s.Location.Lat)
		h.float(s.Location.Lon)
		h.int(s.Bias)
	}
	h.int(len(p.Nets))
	for _, n := range p.Nets {
		h.str(n.Prefix.String())
		h.str(n.Source)
		h.int(n.List)
	}
	h.int(len(p.MapNets))
	for _, n := range p.MapNets {
		h.str(n.String())
	}
	h.int(len(p.NetLists))
	for _, l := range p.NetLists {
		h.int(len(l))
		for _, c := range l {
			h.str(c)
		}
	}
	h.int(len(p.Overrides))
	for i := range p.Overrides {
		h.override(&p.Overrides[i])
	}
	h.int(len(p.Services))
	for _, s := range p.Services {
		h.int(int(s.Hash))
	}
	return xxhash.Sum64(h.b)
}

// override appends every field of o: explanations and the API quote them
// all (ID and author included), so a change of any is a new Plan.
func (h *hashBuf) override(o *model.Override) {
	h.str(o.ID)
	h.int(int(o.Kind))
	h.str(o.Service)
	h.str(o.Cluster)
	h.addr(o.Address)
	h.int(int(o.Weight))
	h.int(len(o.Order))
	for _, c := range o.Order {
		h.str(c)
	}
	h.str(o.Reason)
	h.str(o.Author)
	h.time(o.Created)
	h.time(o.Expires)
}

// hashBuf collects length-prefixed fields, so that no two different
// contents serialise to the same bytes.
type hashBuf struct{ b []byte }

func (h *hashBuf) int(v int)       { h.b = binary.LittleEndian.AppendUint64(h.b, uint64(v)) }
func (h *hashBuf) float(f float64) { h.b = binary.LittleEndian.AppendUint64(h.b, math.Float64bits(f)) }
func (h *hashBuf) bool(v bool) {
	if v {
		h.b = append(h.b, 1)
	} else {
		h.b = append(h.b, 0)
	}
}

// addr appends a, telling apart the invalid address, IPv4 and IPv6, and zones.
func (h *hashBuf) addr(a netip.Addr) {
	b := a.As16()
	h.b = append(h.b, b[:]...)
	h.bool(a.IsValid())
	h.bool(a.Is4())
	h.str(a.Zone())
}

// time appends t to the nanosecond, the zero time included.
func (h *hashBuf) time(t time.Time) {
	h.int(int(t.Unix()))
	h.int(t.Nanosecond())
}

func (h *hashBuf) str(s string) {
	h.int(len(s))
	h.b = append(h.b, s...)
}
