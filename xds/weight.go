package xds

import (
	"math"
	"math/bits"
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
