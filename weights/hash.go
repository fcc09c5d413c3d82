package weights

import (
	"encoding/binary"
	"math"

	"github.com/cespare/xxhash/v2"

	"github.com/meridian-gtm/meridian/model"
)

// service hashes everything a ServicePlan decides, re-using h's buffer;
// shapeHash stands for the shape of its routes.
func (h *hashBuf) service(s *model.ServicePlan, shapeHash uint64) uint64 {
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
		h.str(g.Cluster)
		h.str(g.Locality.Region)
		h.str(g.Locality.Zone)
		h.float(g.Location.Lat)
		h.float(g.Location.Lon)
		h.bool(g.HasLocation)
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
	for i := range s.Targets {
		t := &s.Targets[i]
		var rec [16 + 8 + 8 + 3 + 8]byte
		a := t.Address.As16()
		copy(rec[:16], a[:])
		binary.LittleEndian.PutUint64(rec[16:], uint64(t.Group))
		binary.LittleEndian.PutUint64(rec[24:], uint64(t.Weight))
		rec[32], rec[33], rec[34] = byte(t.Health), byte(t.Status), byte(t.Cause)
		binary.LittleEndian.PutUint64(rec[35:], uint64(t.Override))
		h.b = append(h.b, rec[:]...)
	}
	// The routes: their shape, hashed once per shape, and their shares.
	h.int(int(shapeHash))
	h.int(len(s.Routes))
	for ri := range s.Routes {
		r := &s.Routes[ri]
		h.int(len(r.Shares))
		for _, sh := range r.Shares {
			var rec [16]byte
			binary.LittleEndian.PutUint64(rec[:], uint64(sh.Target))
			binary.LittleEndian.PutUint64(rec[8:], math.Float64bits(sh.Fraction))
			h.b = append(h.b, rec[:]...)
		}
	}
	return xxhash.Sum64(h.b)
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
	for i := range sh.prios {
		p := &sh.prios[i]
		var rec [4 + 4*4]byte
		rec[0], rec[1], rec[2] = byte(p.Tier), p.Health, p.Load
		if p.Panic {
			rec[3] = 1
		}
		binary.LittleEndian.PutUint32(rec[4:], uint32(p.Group))
		binary.LittleEndian.PutUint32(rec[8:], math.Float32bits(p.DistanceKm))
		binary.LittleEndian.PutUint32(rec[12:], uint32(p.Hosts))
		binary.LittleEndian.PutUint32(rec[16:], uint32(p.Healthy))
		h.b = append(h.b, rec[:]...)
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
	for _, o := range p.Overrides {
		h.str(o.Describe())
		h.int(int(o.Created.UnixNano()))
	}
	h.int(len(p.Services))
	for _, s := range p.Services {
		h.int(int(s.Hash))
	}
	return xxhash.Sum64(h.b)
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

func (h *hashBuf) str(s string) {
	h.int(len(s))
	h.b = append(h.b, s...)
}
