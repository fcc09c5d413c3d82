package model

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// Disagreement is a target on which the live replicas' probes differ.
type Disagreement struct {
	Service, Cluster string
	Address          netip.Addr
	Verdicts         []ReplicaVerdict // one per live replica, sorted by replica name
}

// ReplicaVerdict is one replica's verdict on a target. A replica that
// probes the target's service but does not list the target sees it Up,
// with no Since and no Reason.
type ReplicaVerdict struct {
	Replica string
	State   State
	Since   time.Time
	Reason  string
}

// Disagreements returns the targets on which the replicas whose reports
// are live at now do not all see the same state, sorted by service,
// cluster and address. A replica that probes a target's service but does
// not list the target sees it Up (one that does not probe it has no verdict),
// so a target only one replica lists is a disagreement as soon as another
// replica is live, and a target no replica lists is never one. Of two
// live reports of the same replica, the one whose heartbeat came last
// counts.
//
// Only the listed entries are looked at, never the targets the replicas
// probe: the cost is O(E log E) in the E NotUp entries of the live
// reports, plus the verdicts returned.
func Disagreements(reports []ReplicaReport, now time.Time) []Disagreement {
	live := make([]ReplicaReport, 0, len(reports))
	for _, r := range reports {
		if r.Live(now) {
			live = append(live, r)
		}
	}
	slices.SortStableFunc(live, func(a, b ReplicaReport) int {
		return cmp.Or(cmp.Compare(a.Replica, b.Replica), b.Heartbeat.Compare(a.Heartbeat))
	})
	live = slices.CompactFunc(live, func(a, b ReplicaReport) bool { return a.Replica == b.Replica })

	// Every listed entry with the index of its replica, sorted by target
	// and then replica: the entries on one target are adjacent.
	type entry struct {
		TargetHealth
		replica int
	}
	var entries []entry
	for i, r := range live {
		for _, v := range r.NotUp {
			v.Address = v.Address.Unmap()
			entries = append(entries, entry{v, i})
		}
	}
	slices.SortStableFunc(entries, func(a, b entry) int {
		return cmp.Or(compareTargetHealth(a.TargetHealth, b.TargetHealth), cmp.Compare(a.replica, b.replica))
	})

	var out []Disagreement
	for len(entries) > 0 {
		n := 1
		for n < len(entries) && compareTargetHealth(entries[0].TargetHealth, entries[n].TargetHealth) == 0 {
			n++
		}
		group := entries[:n]
		entries = entries[n:]
		// A replica listing a target twice: its last entry counts.
		group = keepLast(group, func(a, b entry) bool { return a.replica == b.replica })
		t := group[0].TargetHealth
		probing := 0 // the live replicas that probe its service: the others have no verdict
		for _, r := range live {
			if r.ProbesService(t.Service) {
				probing++
			}
		}
		agree := len(group) == probing // else some replica does not list it: it sees it Up
		for _, e := range group[1:] {
			agree = agree && e.State == group[0].State
		}
		if agree {
			continue
		}
		d := Disagreement{Service: t.Service, Cluster: t.Cluster, Address: t.Address}
		listed := map[int]entry{}
		for _, e := range group {
			listed[e.replica] = e
		}
		for i, r := range live {
			if e, ok := listed[i]; ok {
				d.Verdicts = append(d.Verdicts, ReplicaVerdict{Replica: r.Replica, State: e.State, Since: e.Since, Reason: e.Reason})
			} else if r.ProbesService(t.Service) {
				d.Verdicts = append(d.Verdicts, ReplicaVerdict{Replica: r.Replica, State: Up})
			}
		}
		out = append(out, d)
	}
	return out
}
