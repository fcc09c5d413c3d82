package weights

import "math"

// weightPerPod is the base weight of one ready pod or VM.
const weightPerPod = 10

// CapacityWeight is the weight of one ingress address that leads to
// readyPods pods through addresses addresses, by the production recipe
// Meridian generalises: max(1, floor(readyPods*10/addresses)). An address
// with no pods behind it, or no addresses at all, carries no traffic: 0.
// The weight saturates at the largest uint32 rather than wrapping.
func CapacityWeight(readyPods, addresses int) uint32 {
	if readyPods <= 0 || addresses <= 0 {
		return 0
	}
	if readyPods > math.MaxInt/weightPerPod {
		return math.MaxUint32
	}
	return uint32(min(max(1, readyPods*weightPerPod/addresses), math.MaxUint32))
}
