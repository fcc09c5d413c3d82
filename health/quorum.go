package health

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/meridian-gtm/meridian/model"
)

// Quorum is the rule that turns the probe verdicts of every live replica
// on one target into the one verdict they all serve, so that no single
// vantage point fails a cluster over. Only replicas with a verdict vote: a
// replica still awaiting its first probes abstains.
type Quorum struct {
	Rule QuorumRule
	// Percent is the share of voters that must see a target down under
	// QuorumPercent, 1 to 100.
	Percent int
}

// QuorumRule names a Quorum's rule.
type QuorumRule uint8

const (
	// QuorumMajority: down when more than half of the voters see it down.
	QuorumMajority QuorumRule = iota
	// QuorumAny: down when any voter sees it down (each replica alone, as
	// before replicas shared verdicts, but the same for all of them).
	QuorumAny
	// QuorumAll: down only when every voter sees it down.
	QuorumAll
	// QuorumPercent: down when at least Percent% of the voters see it
	// down. Route 53 keeps a target healthy while more than 18% of its
	// checkers see it healthy: 82%.
	QuorumPercent
)

// Down reports whether a target that down of voters replicas see down is
// down. With no voters it is not.
func (q Quorum) Down(down, voters int) bool {
	if voters == 0 || down == 0 {
		return false
	}
	switch q.Rule {
	case QuorumAny:
		return true
	case QuorumAll:
		return down >= voters
	case QuorumPercent:
		return down*100 >= q.Percent*voters
	default:
		return 2*down > voters
	}
}

// String spells the rule as health_quorum takes it.
func (q Quorum) String() string {
	switch q.Rule {
	case QuorumAny:
		return "any"
	case QuorumAll:
		return "all"
	case QuorumPercent:
		return strconv.Itoa(q.Percent) + "%"
	default:
		return "majority"
	}
}

// peerVotes indexes the live peers' reports by target, so that judging a
// target costs one map lookup and a look at each peer's services.
type peerVotes struct {
	reports []model.ProbeReport     // every live peer's: each votes on the services it probes
	listed  map[voteKey][]peerEntry // the peers' entries on targets they do not see up
}

type voteKey struct {
	service, cluster string
	addr             netip.Addr
}

type peerEntry struct {
	replica string
	model.TargetHealth
}

func newPeerVotes(reports []model.ProbeReport) peerVotes {
	pv := peerVotes{reports: reports, listed: map[voteKey][]peerEntry{}}
	for _, r := range reports {
		for _, v := range r.NotUp {
			k := voteKey{v.Service, v.Cluster, v.Address}
			pv.listed[k] = append(pv.listed[k], peerEntry{r.Replica, v})
		}
	}
	return pv
}

// decide is the verdict every replica serves on one target: the local
// probe verdict counted with the peers' by q. Every live replica that
// probes the target's service votes, one still awaiting its first probes
// as "not down": so a lone replica that sees a target down cannot decide
// for others that have not probed it yet. Without peers it is the local
// verdict, unchanged. The reason says how the replicas voted when any of
// them dissents.
func (pv peerVotes) decide(q Quorum, k voteKey, local Verdict) Verdict {
	if len(pv.reports) == 0 {
		return local
	}
	voters, down, known := 1, 0, local.State != model.Unknown
	var firstDown string // why: this replica's reason first, else the first peer's
	if local.State == model.Down {
		down, firstDown = 1, local.Reason
	}
	listed := pv.listed[k]
	for _, r := range pv.reports {
		if r.ProbesService(k.service) {
			voters++
		}
	}
	unknown := 0
	for _, e := range listed {
		switch e.State {
		case model.Down:
			down++
			if firstDown == "" {
				firstDown = e.replica + ": " + e.Reason
			}
		default:
			unknown++
		}
	}
	known = known || voters-1 > unknown // a peer that probes it sees it up or down
	v := local
	switch {
	case !known:
		v.State, v.Reason = model.Unknown, "awaiting the first probes of every replica"
	case q.Down(down, voters):
		v.State = model.Down
		if down < voters || local.State != model.Down {
			v.Reason = fmt.Sprintf("%d of %d replicas see it down (quorum %s): %s", down, voters, q, firstDown)
		}
	default:
		v.State = model.Up
		switch {
		case down > 0:
			v.Reason = fmt.Sprintf("%d of %d replicas see it down, short of quorum %s: %s", down, voters, q, firstDown)
		case local.State != model.Up:
			v.Reason = fmt.Sprintf("%d of %d replicas see it up", voters-unknown-1, voters)
		}
	}
	return v
}
