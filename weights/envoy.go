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
