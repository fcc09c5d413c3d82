package model

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestDisagreements(t *testing.T) {
	now := time.Unix(1000, 0)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	since := time.Unix(900, 0)
	down := func(svc string, addr netip.Addr, reason string) TargetHealth {
		return TargetHealth{Service: svc, Cluster: "c", Address: addr, State: Down, Since: since, Reason: reason}
	}
	unknown := func(svc string, addr netip.Addr) TargetHealth {
		return TargetHealth{Service: svc, Cluster: "c", Address: addr, State: Unknown}
	}
	report := func(name string, expires time.Time, notUp ...TargetHealth) ReplicaReport {
		return ReplicaReport{ProbeReport: NewProbeReport(name, since, notUp, []string{"s", "t"}), Heartbeat: now, Expires: expires}
	}
	live, dead := now.Add(time.Minute), now
	up := func(name string) ReplicaVerdict { return ReplicaVerdict{Replica: name, State: Up} }
	dv := func(name, reason string) ReplicaVerdict {
		return ReplicaVerdict{Replica: name, State: Down, Since: since, Reason: reason}
	}
	for _, tc := range []struct {
		name    string
		reports []ReplicaReport
		want    []Disagreement
	}{
		{name: "no reports"},
		{name: "one replica sees a target down: nobody disagrees with it",
			reports: []ReplicaReport{report("r1", live, down("s", a, "refused"))}},
		{name: "all agree it is down",
			reports: []ReplicaReport{report("r1", live, down("s", a, "refused")), report("r2", live, down("s", a, "timeout"))}},
		{name: "all agree, nothing listed",
			reports: []ReplicaReport{report("r1", live), report("r2", live)}},
		{name: "a replica not listing a target sees it up",
			reports: []ReplicaReport{report("r2", live), report("r1", live, down("s", a, "refused"))},
			want:    []Disagreement{{Service: "s", Cluster: "c", Address: a, Verdicts: []ReplicaVerdict{dv("r1", "refused"), up("r2")}}}},
		{name: "unknown and down differ",
			reports: []ReplicaReport{report("r1", live, down("s", a, "refused")), report("r2", live, unknown("s", a))},
			want: []Disagreement{{Service: "s", Cluster: "c", Address: a, Verdicts: []ReplicaVerdict{dv("r1", "refused"),
				{Replica: "r2", State: Unknown}}}}},
		{name: "an expired report does not count",
			reports: []ReplicaReport{report("r1", live, down("s", a, "refused")), report("r2", dead), report("r3", live, down("s", a, "reset"))}},
		{name: "an expired report's verdicts do not count",
			reports: []ReplicaReport{report("r1", live), report("r2", dead, down("s", a, "refused"))}},
		{name: "sorted by service, cluster, address; one verdict per live replica",
			reports: []ReplicaReport{
				report("r3", live, down("t", a, "x"), down("s", b, "y")),
				report("r1", live, unknown("s", b)),
				report("r2", dead, down("s", a, "z")),
			},
			want: []Disagreement{
				{Service: "s", Cluster: "c", Address: b, Verdicts: []ReplicaVerdict{{Replica: "r1", State: Unknown}, dv("r3", "y")}},
				{Service: "t", Cluster: "c", Address: a, Verdicts: []ReplicaVerdict{up("r1"), dv("r3", "x")}},
			}},
		{name: "a replica that does not probe the service has no verdict",
			reports: []ReplicaReport{
				report("r1", live, down("s", a, "refused")),
				{ProbeReport: NewProbeReport("r2", since, nil, []string{"t"}), Heartbeat: now, Expires: live},
				report("r3", live),
			},
			want: []Disagreement{{Service: "s", Cluster: "c", Address: a, Verdicts: []ReplicaVerdict{dv("r1", "refused"), up("r3")}}}},
		{name: "of two reports of one replica the latest heartbeat counts",
			reports: []ReplicaReport{
				report("r1", live, down("s", a, "refused")),
				{ProbeReport: NewProbeReport("r2", since, nil, []string{"s"}), Heartbeat: now.Add(-time.Second), Expires: live},
				{ProbeReport: NewProbeReport("r2", since, []TargetHealth{down("s", a, "refused")}, nil), Heartbeat: now, Expires: live},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Disagreements(tc.reports, now)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// disagreementsReference is the obvious O(targets × replicas) version:
// every target any live replica lists, asked of every live replica.
func disagreementsReference(reports []ReplicaReport, now time.Time) []Disagreement {
	var live []ReplicaReport
	for _, r := range reports {
		if r.Live(now) {
			live = append(live, r)
		}
	}
	slices.SortFunc(live, func(a, b ReplicaReport) int { return cmp.Compare(a.Replica, b.Replica) })
	var targets []TargetHealth
	for _, r := range live {
		targets = append(targets, r.NotUp...)
	}
	targets = canonicalVerdicts(targets)
	var out []Disagreement
	for _, t := range targets {
		d := Disagreement{Service: t.Service, Cluster: t.Cluster, Address: t.Address}
		states := map[State]bool{}
		for _, r := range live {
			if !r.ProbesService(t.Service) {
				continue
			}
			v := r.Verdict(t.Service, t.Cluster, t.Address)
			states[v.State] = true
			d.Verdicts = append(d.Verdicts, ReplicaVerdict{Replica: r.Replica, State: v.State, Since: v.Since, Reason: v.Reason})
		}
		if len(states) > 1 {
			out = append(out, d)
		}
	}
	return out
}

// TestDisagreementsMatchesReference checks Disagreements against the
// obvious version on random reports.
func TestDisagreementsMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Unix(1000, 0)
	for i := range 500 {
		var reports []ReplicaReport
		for r := range 1 + rng.IntN(5) {
			var notUp []TargetHealth
			for range rng.IntN(8) {
				notUp = append(notUp, TargetHealth{
					Service: fmt.Sprintf("s%d", rng.IntN(2)), Cluster: fmt.Sprintf("c%d", rng.IntN(2)),
					Address: netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(3))}),
					State:   []State{Down, Unknown}[rng.IntN(2)], Since: time.Unix(int64(rng.IntN(3)), 0), Reason: fmt.Sprint(rng.IntN(2)),
				})
			}
			var probes []string
			for s := range 3 {
				if rng.IntN(4) > 0 {
					probes = append(probes, fmt.Sprintf("s%d", s))
				}
			}
			reports = append(reports, ReplicaReport{ProbeReport: NewProbeReport(fmt.Sprintf("r%d", r), now, notUp, probes),
				Expires: now.Add(time.Duration(rng.IntN(3)-1) * time.Second)})
		}
		rng.Shuffle(len(reports), func(i, j int) { reports[i], reports[j] = reports[j], reports[i] })
		got, want := Disagreements(reports, now), disagreementsReference(reports, now)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d: reports %+v\ngot  %+v\nwant %+v", i, reports, got, want)
		}
	}
}
