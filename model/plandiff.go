package model

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// RouteChange is how the traffic of one service, for one set of clients,
// moved from one Plan to the next: what `-log-level debug` logs for each
// new Plan.
type RouteChange struct {
	Service string
	// Clients says whose route it is, as Explain's summary names them:
	// "clients nearest eu-west", "clients of unknown location", "clients of
	// subnet list entries to us-east eu-west", "clients of map entry ...".
	Clients       string
	Before, After RouteMode
	// Moves are the clusters whose share changed, sorted by cluster.
	Moves []ShareMove
	// Summary is Explain's summary of the new route (of the old one when
	// the service is gone): why the shares are what they are now.
	Summary string
}

// ShareMove is one cluster's share of a route before and after, with the
// reasons its targets have in the Plan that decided the new share (the old
// Plan's when the cluster left the service).
type ShareMove struct {
	Cluster       string
	Before, After float64
	Reasons       []string
}

// String spells a move as logs show it: "eu-west 50% → 0% (drain of
// eu-west by alice: maintenance)".
func (m ShareMove) String() string {
	s := fmt.Sprintf("%s %s → %s", m.Cluster, percent(m.Before), percent(m.After))
	if len(m.Reasons) > 0 {
		s += " (" + strings.Join(m.Reasons, "; ") + ")"
	}
	return s
}

func percent(f float64) string {
	s := fmt.Sprintf("%.1f", f*100)
	return strings.TrimSuffix(s, ".0") + "%"
}

// PlanChanges compares two Plans route by route and returns, for every
// service and set of clients whose per-cluster shares or mode changed,
// what moved and why, sorted by service and then in route order. Routes
// are matched by the clients they serve, not by index, so a new site
// does not shift every other route. Services whose Hash is the same in
// both Plans are skipped unexplained, which keeps the cost proportional to
// what changed. prev may be nil (every route is new).
func PlanChanges(prev, next *Plan) []RouteChange {
	if prev == nil {
		prev = &Plan{}
	}
	var out []RouteChange
	names := map[string]bool{}
	for _, s := range prev.Services {
		names[s.Name] = true
	}
	for _, s := range next.Services {
		names[s.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		a, inPrev := prev.Service(name)
		b, inNext := next.Service(name)
		if inPrev && inNext && a.Hash == b.Hash {
			continue
		}
		before, after := prev.routeViews(a), next.routeViews(b)
		done := map[string]bool{}
		emit := func(v routeView) {
			if done[v.clients] {
				return
			}
			done[v.clients] = true
			old, now := before.find(v.clients), after.find(v.clients)
			c := RouteChange{Service: name, Clients: v.clients, Before: old.mode, After: now.mode, Summary: now.summary}
			if now.shares == nil {
				c.Summary = old.summary
			}
			for _, cl := range slices.Sorted(maps.Keys(union(old.shares, now.shares))) {
				if d := old.shares[cl] - now.shares[cl]; d > 1e-9 || d < -1e-9 {
					reasons := now.reasons[cl]
					if _, ok := now.reasons[cl]; !ok { // the cluster left the service
						reasons = old.reasons[cl]
					}
					c.Moves = append(c.Moves, ShareMove{Cluster: cl, Before: old.shares[cl], After: now.shares[cl], Reasons: reasons})
				}
			}
			if len(c.Moves) > 0 || c.Before != c.After {
				out = append(out, c)
			}
		}
		for _, v := range after {
			emit(v)
		}
		for _, v := range before {
			emit(v)
		}
	}
	return out
}

// routeView is one route of a service as PlanChanges compares it.
type routeView struct {
	clients string
	mode    RouteMode
	summary string
	shares  map[string]float64  // by cluster, for the clusters with a share
	reasons map[string][]string // by cluster, every cluster of the service
}

type routeViews []routeView

// find returns the route of clients; a route that does not exist sends
// nothing anywhere (NoTargets, no shares).
func (vs routeViews) find(clients string) routeView {
	for _, v := range vs {
		if v.clients == clients {
			return v
		}
	}
	return routeView{mode: NoTargets}
}

// routeViews explains every route of s (nil: none).
func (p *Plan) routeViews(s *ServicePlan) routeViews {
	if s == nil {
		return nil
	}
	out := make(routeViews, 0, len(s.Routes))
	for i := range s.Routes {
		e, _ := p.ExplainBucket(s.Name, i)
		clients, _, _ := strings.Cut(e.Summary, ": ")
		v := routeView{clients: clients, mode: e.Mode, summary: e.Summary, shares: map[string]float64{}, reasons: map[string][]string{}}
		for _, t := range e.Targets {
			if t.Share > 0 {
				v.shares[t.Cluster] += t.Share
			}
			if _, ok := v.reasons[t.Cluster]; !ok {
				v.reasons[t.Cluster] = nil
			}
			for _, r := range t.Reasons {
				if !slices.Contains(v.reasons[t.Cluster], r) {
					v.reasons[t.Cluster] = append(v.reasons[t.Cluster], r)
				}
			}
		}
		out = append(out, v)
	}
	return out
}

func union(a, b map[string]float64) map[string]bool {
	out := make(map[string]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}
