package model

import (
	"net/netip"
	"slices"
	"time"
)

// ProbeReport is what one replica's probes see, as it shares it with the
// other replicas through the store. It lists only the targets the replica
// does not see up, so that a report stays small however many targets are
// probed: every other target the replica probes, it sees up. Readiness is
// not in it; every replica reads that from the same Inventory.
type ProbeReport struct {
	Replica string
	// At is when the replica's probe verdicts last changed, on its clock.
	At time.Time
	// NotUp holds the targets the replica's probes see down, and those it
	// has no verdict on yet (Unknown), sorted by service, cluster and
	// address, one entry per target.
	NotUp []TargetHealth
	// Probes names the services the replica probes, sorted: it votes only
	// on their targets, so that a replica whose config lacks a service
	// (a rollout under way) does not vote it up.
	Probes []string
	// Quorum is the replica's health_quorum rule, so that replicas whose
	// rules differ (and may serve different Plans) can say so.
	Quorum string
}

// NewProbeReport returns a report holding sorted copies of notUp and
// probes; entries that are Up are dropped, a later entry on a target
// replaces an earlier one, and the services of the entries are probed.
func NewProbeReport(replica string, at time.Time, notUp []TargetHealth, probes []string) ProbeReport {
	vs := canonicalVerdicts(notUp)
	vs = slices.DeleteFunc(vs, func(v TargetHealth) bool { return v.State == Up })
	ps := slices.Clone(probes)
	for _, v := range vs {
		ps = append(ps, v.Service)
	}
	slices.Sort(ps)
	return ProbeReport{Replica: replica, At: at, NotUp: vs, Probes: slices.Compact(ps)}
}

// ProbesService reports whether the replica probes service, and so votes
// on its targets.
func (r ProbeReport) ProbesService(service string) bool {
	_, ok := slices.BinarySearch(r.Probes, service)
	return ok
}

// Verdict returns what the report says of one target: its entry, or an Up
// verdict without a reason when the target is not listed.
func (r ProbeReport) Verdict(service, cluster string, addr netip.Addr) TargetHealth {
	key := TargetHealth{Service: service, Cluster: cluster, Address: addr.Unmap()}
	if i, ok := slices.BinarySearchFunc(r.NotUp, key, compareTargetHealth); ok {
		return r.NotUp[i]
	}
	key.State = Up
	return key
}

// ReplicaReport is a replica's ProbeReport as this replica sees it in the
// store, with its heartbeat. Heartbeat and Expires are on this replica's
// clock: a renewal counts from when it was observed, so clocks that
// disagree between replicas do not make reports live or dead.
type ReplicaReport struct {
	ProbeReport
	// Self marks this replica's own report.
	Self bool
	// Heartbeat is when the replica's last heartbeat was observed here, and
	// Expires when its report stops counting unless another one comes.
	Heartbeat time.Time
	Expires   time.Time
	// Conflict, on this replica's own report, is the incarnation of
	// another process seen writing this replica's Leases lately: two
	// Meridian processes with one `replica` name, which overwrite each
	// other's report. Empty when none was.
	Conflict string
	// StoreUnreachableSince, on this replica's own report, is when it
	// last wrote to the store while it cannot now; zero while it can.
	// Meanwhile the other replicas' reports that were live then stay
	// live: their Expires are on a clock stopped when the store was lost.
	StoreUnreachableSince time.Time
}

// Live reports whether the report still counts at now.
func (r ReplicaReport) Live(now time.Time) bool { return now.Before(r.Expires) }
