package weights

import "math/bits"

// This file reproduces Envoy's priority load arithmetic
// (source/extensions/load_balancing_policies/common/load_balancer_impl.cc:
// recalculatePerPriorityState, distributeLoad, recalculatePerPriorityPanic,
// isHostSetInPanic and recalculateLoadInTotalPanic) with the same integer
// operations, so that DNS clients, gRPC clients and Envoy split traffic alike.
// Degraded hosts are not modelled: Meridian never reports a target degraded.
//
// Envoy's documentation (panic_threshold.rst) disagrees with its code in
// three rows of its second table; the code is the oracle here:
//
//	P0 healthy  P1 healthy  doc      code
//	50%         60%         50/50    70/30
//	25%         100%        25/75    35/65
//	5%          65%         7/93     8/92  (remainder goes to P0)

// levelHosts is what the arithmetic needs to know of one priority level:
// its hosts and healthy hosts, as Envoy counts them. Capacity spill
// (model.SpillCapacity) runs the same arithmetic over capacity units
// instead, a level's expected and healthy pods at weightPerPod each (see
// capacityUnits), so that both spill modes share one implementation.
type levelHosts struct {
	hosts, healthy int
}

// spillResult is the outcome for a set of priority levels.
type spillResult struct {
	health []uint32 // per level: min(100, overprovisioning*healthy/hosts)
	load   []uint32 // per level: percentage of traffic; sums to 100
	panic  []bool   // per level: use all hosts, healthy or not
	// totalPanic is set when every level panics and load follows host
	// counts instead of health.
	totalPanic bool
	// noneHealthy is set when no level has a healthy host.
	noneHealthy bool
}

// spill computes Envoy's per-priority health, load and panic flags. With no
// healthy host and panic disabled (threshold 0) Envoy sends everything to
// P0 and fails each request; spill reports noneHealthy and leaves the
// decision (fail open or closed) to the caller.
func spill(levels []levelHosts, overprovisioning, panicThreshold uint32, out *spillResult) {
	n := len(levels)
	out.health = resize(out.health, n)
	out.load = resize(out.load, n)
	out.panic = resizeBool(out.panic, n)
	out.totalPanic, out.noneHealthy = false, false

	var sum uint32
	for i, l := range levels {
		out.health[i] = levelHealth(l, overprovisioning)
		h := out.health[i]
		sum += h
	}
	normalized := min(sum, 100)

	if normalized == 0 {
		out.noneHealthy = true
		if panicThreshold == 0 {
			if n > 0 {
				out.load[0] = 100
			}
			return
		}
		// Every level's healthy share is 0%, below any threshold: total panic.
		for i := range out.panic {
			out.panic[i] = true
		}
		out.totalPanic = true
		totalPanicLoad(levels, out.load)
		return
	}

	// distributeLoad over healthy availability; degraded hosts do not exist.
	remaining := uint32(100)
	firstHealthy := -1
	for i, h := range out.health {
		if firstHealthy < 0 && h > 0 {
			firstHealthy = i
		}
		l := min(remaining, h*100/normalized)
		out.load[i] = l
		remaining -= l
	}
	out.load[firstHealthy] += remaining // rounding remainder to the first available level

	// recalculatePerPriorityPanic: no panic while the levels together can
	// take all the traffic.
	if normalized == 100 {
		return
	}
	total := true
	for i, l := range levels {
		out.panic[i] = inPanic(l, panicThreshold)
		total = total && out.panic[i]
	}
	if total {
		out.totalPanic = true
		totalPanicLoad(levels, out.load)
	}
}

// levelHealth is min(100, overprovisioning*healthy/hosts) in integers, as
// Envoy computes it, 0 for an empty level. The product takes 128 bits:
// capacity units times a failover factor of 2^20 exceed 64.
func levelHealth(l levelHosts, overprovisioning uint32) uint32 {
	if l.hosts <= 0 || l.healthy <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(overprovisioning), uint64(l.healthy))
	if hi >= uint64(l.hosts) {
		return 100 // the quotient exceeds 64 bits, let alone 100
	}
	q, _ := bits.Div64(hi, lo, uint64(l.hosts))
	return uint32(min(100, q))
}

// inPanic is isHostSetInPanic: fewer healthy hosts, in percent, than the
// threshold. An empty level counts as 0% healthy.
func inPanic(l levelHosts, threshold uint32) bool {
	pct := 0.0
	if l.hosts > 0 {
		pct = 100.0 * float64(l.healthy) / float64(l.hosts)
	}
	return pct < float64(min(threshold, 100))
}

// totalPanicLoad is recalculateLoadInTotalPanic: load by host count, the
// remainder to the first level with hosts.
func totalPanicLoad(levels []levelHosts, load []uint32) {
	total := 0
	for _, l := range levels {
		total += l.hosts
	}
	for i := range load {
		load[i] = 0
	}
	if total == 0 {
		if len(load) > 0 {
			load[0] = 100
		}
		return
	}
	remaining := uint32(100)
	first := -1
	for i, l := range levels {
		if first < 0 && l.hosts > 0 {
			first = i
		}
		load[i] = uint32(100 * l.hosts / total)
		remaining -= load[i]
	}
	load[first] += remaining
}

func resize(s []uint32, n int) []uint32 {
	if cap(s) < n {
		return make([]uint32, n)
	}
	s = s[:n]
	clear(s)
	return s
}

func resizeBool(s []bool, n int) []bool {
	if cap(s) < n {
		return make([]bool, n)
	}
	s = s[:n]
	clear(s)
	return s
}
