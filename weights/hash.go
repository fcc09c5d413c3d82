package weights

import (
	"hash"
	"hash/fnv"
	"math"

	"github.com/meridian-gtm/meridian/model"
)

// planHash hashes everything a Plan decides, so that a Plan with the same
// content always has the same version and any change gives a new one.
func planHash(p *model.Plan) uint64 {
	h := hasher{fnv.New64a()}
	h.int(len(p.Sites))
	for _, s := range p.Sites {
		h.str(s.Cluster)
		h.float(s.Location.Lat)
		h.float(s.Location.Lon)
	}
	h.int(len(p.Services))
	for _, s := range p.Services {
		h.str(s.Name)
		h.str(string(s.Policy))
		h.int(len(s.Targets))
		for _, t := range s.Targets {
			h.str(t.Cluster)
			h.str(t.Locality.Region)
			h.str(t.Locality.Zone)
			b, _ := t.Address.MarshalBinary()
			h.bytes(b)
			h.int(int(t.Weight))
			h.int(int(t.Health))
		}
		h.int(len(s.Routes))
		for _, r := range s.Routes {
			h.str(r.Reason)
			h.int(len(r.Shares))
			for _, sh := range r.Shares {
				h.int(sh.Target)
				h.float(sh.Fraction)
			}
		}
	}
	return h.Sum64()
}

// hasher writes length-prefixed fields, so that no two different Plans
// serialise to the same bytes.
type hasher struct{ hash.Hash64 }

func (h hasher) int(v int) {
	var b [8]byte
	for i := range b {
		b[i] = byte(uint64(v) >> (8 * i))
	}
	h.Write(b[:])
}

func (h hasher) float(f float64) { h.int(int(math.Float64bits(f))) }

func (h hasher) bytes(b []byte) {
	h.int(len(b))
	h.Write(b)
}

func (h hasher) str(s string) { h.bytes([]byte(s)) }
