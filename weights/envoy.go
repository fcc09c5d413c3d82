package weights

// EnvoyPriorityLoad is Envoy's priority arithmetic (see spill.go) for
// tests outside this package that check what an Envoy would do with the
// resources they were sent: given each priority's host and healthy host
// counts, the overprovisioning factor and the panic threshold, the
// percentage of traffic each priority receives and whether it panics
// (uses all its hosts, healthy or not). With no healthy host at all it
// answers as Envoy does: total panic, or everything to P0 when panic is
// disabled.
func EnvoyPriorityLoad(hosts, healthy []int, overprovisioning, panicThreshold uint32) (load []uint32, panic []bool) {
	levels := make([]levelHosts, len(hosts))
	for i := range hosts {
		levels[i] = levelHosts{hosts: hosts[i], healthy: healthy[i]}
	}
	var r spillResult
	spill(levels, overprovisioning, panicThreshold, &r)
	return r.load, r.panic
}

// EnvoyLocalityWeight is the effective weight Envoy's locality-weighted
// balancing gives one locality of a priority (HostSetImpl::
// effectiveLocalityWeight in source/common/upstream/upstream_impl.cc): its
// weight times min(1, overprovisioning/100 * healthy/hosts), 0 for a
// locality without hosts. Envoy then picks a locality among a priority's
// by these weights, and a healthy host of that locality by endpoint weight;
// only when no locality of the priority has an effective weight does a
// panicking priority fall back to all its hosts.
func EnvoyLocalityWeight(weight uint32, hosts, healthy int, overprovisioning uint32) float64 {
	if hosts <= 0 {
		return 0
	}
	return float64(weight) * min(1, float64(overprovisioning)/100*float64(healthy)/float64(hosts))
}
