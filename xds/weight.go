package xds

import (
	"cmp"
	"math"
	"math/bits"
	"slices"

	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// maxWeightSum is the most Envoy accepts for a locality or endpoint weight,
// and for the sum of the locality weights of one priority or of the
// endpoint weights of one locality.
const maxWeightSum = math.MaxUint32

// fitWeights writes into out the weights ws scaled by one common factor so
// that each is at least 1 and they sum to at most maxWeightSum, keeping
// their proportions as closely as integers allow. Weights that already fit
// are kept as they are (a 0 becomes 1, as Envoy wants every weight
// positive). Sums are exact: 128 bits, never wrapped.
func fitWeights(ws []uint64, out []uint32) {
	var hi, lo uint64
	for _, w := range ws {
		var c uint64
		lo, c = bits.Add64(lo, max(w, 1), 0)
		hi += c
	}
	if hi == 0 && lo <= maxWeightSum {
		for i, w := range ws {
			out[i] = uint32(max(w, 1))
		}
		return
	}
	// Too big: scale w*target/sum, rounding down, then raise zeros to 1.
	// target leaves room for those raises, so the sum stays within bounds.
	n := uint64(len(ws))
	target := uint64(maxWeightSum) - min(n, maxWeightSum/2)
	// A sum beyond 64 bits is first shifted into 64; floor(a/2^k) summed is
	// at most floor(sum/2^k), so the shifted sum fits.
	shift := uint(bits.Len64(hi))
	var sum uint64
	for _, w := range ws {
		sum += w >> shift
	}
	if sum == 0 {
		for i := range out[:len(ws)] {
			out[i] = 1
		}
		return
	}
	for i, w := range ws {
		ph, pl := bits.Mul64(w>>shift, target)
		q, _ := bits.Div64(ph, pl, sum) // w>>shift <= sum, so q <= target: no overflow
		out[i] = uint32(max(q, 1))
	}
}

// rawLocality is a locality being built, with its weights in 64 bits
// before they are fitted into Envoy's bounds.
type rawLocality struct {
	loc *endpoint.LocalityLbEndpoints
	// endpoints holds the weight of each of loc's LbEndpoints.
	endpoints []uint64
	// weight is the locality's weight; 0: the sum of its endpoints' fitted
	// weights.
	weight uint64
}

// setLocalities sorts locs by priority, then cluster, and makes them the
// load assignment's localities with weights within Envoy's bounds. Each
// priority is scaled as a whole, by one factor for its endpoints and one
// for its localities, so that proportions hold across its localities: the
// endpoints of a priority sum to at most maxWeightSum, and so do its
// localities.
func setLocalities(cla *endpoint.ClusterLoadAssignment, locs []rawLocality) {
	slices.SortFunc(locs, func(a, b rawLocality) int {
		return cmp.Or(cmp.Compare(a.loc.Priority, b.loc.Priority), cmp.Compare(a.loc.Locality.SubZone, b.loc.Locality.SubZone))
	})
	var ws []uint64
	var out []uint32
	for start := 0; start < len(locs); {
		end := start
		for end < len(locs) && locs[end].loc.Priority == locs[start].loc.Priority {
			end++
		}
		prio := locs[start:end]
		ws = ws[:0]
		for _, l := range prio {
			ws = append(ws, l.endpoints...)
		}
		out = slices.Grow(out[:0], len(ws))[:len(ws)]
		fitWeights(ws, out)
		// The weights of a priority's endpoints and localities, in one
		// allocation each.
		weights := make([]wrapperspb.UInt32Value, len(ws))
		ws = ws[:0]
		for _, l := range prio {
			var sum uint64
			for _, e := range l.loc.LbEndpoints {
				weights[0].Value = out[0]
				e.LoadBalancingWeight = &weights[0]
				sum += uint64(out[0])
				out, weights = out[1:], weights[1:]
			}
			ws = append(ws, cmp.Or(l.weight, sum))
		}
		out = slices.Grow(out[:0], len(ws))[:len(ws)]
		fitWeights(ws, out)
		weights = make([]wrapperspb.UInt32Value, len(prio))
		for i, l := range prio {
			weights[i].Value = out[i]
			l.loc.LoadBalancingWeight = &weights[i]
		}
		start = end
	}
	cla.Endpoints = cla.Endpoints[:0]
	for _, l := range locs {
		cla.Endpoints = append(cla.Endpoints, l.loc)
	}
}
