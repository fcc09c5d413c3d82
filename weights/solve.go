package weights

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/meridian-gtm/meridian/model"
)

// Solve decides the Plan for every service that has a policy.
//
// Each ingress address of a service in a cluster is a target. A target that
// is down, disabled, or in a drained cluster carries nothing; the others
// share the cluster's capacity by CapacityWeight over the usable addresses,
// or by the weight an operator pinned. Under the geo policy each bucket of
// clients goes to the nearest cluster, seen from the bucket's site, that has
// capacity; clients of unknown location are spread over every cluster with
// capacity by weight.
func Solve(inv model.Inventory, health model.Health, ovr model.Overrides, pol model.Policies) *model.Plan {
	p := &model.Plan{}
	for _, c := range inv.Clusters() {
		if c.HasLocation {
			p.Sites = append(p.Sites, model.Site{Cluster: c.Name, Location: c.Location})
		}
	}
	active := ovr.Active()
	for _, sp := range pol.Services() {
		p.Services = append(p.Services, solveService(inv, health, active, sp, p.Sites))
	}
	p.Version = planHash(p)
	return p
}

// clusterTargets is one cluster's slice of a service's targets.
type clusterTargets struct {
	cluster  model.Cluster
	first    int    // index of the cluster's first target
	n        int    // number of targets
	capacity uint64 // sum of the targets' weights
	why      string // why the capacity is 0, for explanations
}

func solveService(inv model.Inventory, health model.Health, active []model.Override, sp model.ServicePolicy, sites []model.Site) model.ServicePlan {
	s := model.ServicePlan{Name: sp.Service, Policy: sp.Kind}
	var groups []clusterTargets
	for _, b := range inv.BackendsOf(sp.Service) {
		c, ok := inv.Cluster(b.Cluster)
		if !ok {
			c = model.Cluster{Name: b.Cluster}
		}
		g := clusterTargets{cluster: c, first: len(s.Targets), n: len(b.Ingress)}
		drained, pinned, pinnedWeight := clusterOverrides(active, sp.Service, b.Cluster)
		usable := 0
		for _, addr := range b.Ingress {
			h := health.State(sp.Service, b.Cluster, addr)
			if h != model.Down && !disabled(active, addr) {
				usable++
			}
			s.Targets = append(s.Targets, model.Target{Cluster: b.Cluster, Locality: c.Locality, Address: addr, Health: h})
		}
		w := CapacityWeight(b.ReadyPods, usable)
		switch {
		case drained != nil:
			w, g.why = 0, fmt.Sprintf("drained by %s: %s", drained.Author, drained.Reason)
		case pinned:
			w = pinnedWeight
		case b.ReadyPods == 0:
			g.why = "no ready pods"
		case usable == 0:
			g.why = "no usable ingress address"
		}
		for i := g.first; i < g.first+g.n; i++ {
			t := &s.Targets[i]
			if t.Health != model.Down && !disabled(active, t.Address) {
				t.Weight = w
				g.capacity += uint64(w)
			}
		}
		if g.capacity == 0 && g.why == "" {
			g.why = "weight pinned to 0"
		}
		groups = append(groups, g)
	}
	for _, site := range sites {
		s.Routes = append(s.Routes, nearestRoute(s.Targets, groups, site))
	}
	s.Routes = append(s.Routes, spreadRoute(s.Targets, groups))
	return s
}

// clusterOverrides finds the drain and the pinned weight that apply to one
// (service, cluster); a drain for the service wins over one for all services.
func clusterOverrides(active []model.Override, service, cluster string) (drain *model.Override, pinned bool, weight uint32) {
	for i, o := range active {
		if o.Cluster != cluster || (o.Service != "" && o.Service != service) {
			continue
		}
		switch o.Kind {
		case model.Drain:
			if drain == nil || o.Service != "" {
				drain = &active[i]
			}
		case model.Weight:
			if o.Service == service {
				pinned, weight = true, o.Weight
			}
		}
	}
	return drain, pinned, weight
}

func disabled(active []model.Override, addr netip.Addr) bool {
	for _, o := range active {
		if o.Kind == model.Disable && o.Address == addr {
			return true
		}
	}
	return false
}

// nearestRoute sends the bucket of site to the cluster nearest the site that
// has capacity; clusters without a location rank last, ties by name.
func nearestRoute(targets []model.Target, groups []clusterTargets, site model.Site) model.Route {
	order := make([]int, len(groups))
	dist := make([]float64, len(groups))
	for i, g := range groups {
		order[i] = i
		dist[i] = -1
		if g.cluster.HasLocation {
			dist[i] = site.Location.DistanceKm(g.cluster.Location)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int {
		da, db := dist[a], dist[b]
		if (da < 0) != (db < 0) { // unlocated last
			if da < 0 {
				return 1
			}
			return -1
		}
		return cmp.Compare(da, db) // equal distance: stable, so by name
	})
	var skipped []string
	for _, i := range order {
		g := groups[i]
		if g.capacity == 0 {
			skipped = append(skipped, fmt.Sprintf("%s: %s", g.cluster.Name, g.why))
			continue
		}
		r := model.Route{Shares: shares(targets, g.first, g.n, g.capacity)}
		r.Reason = fmt.Sprintf("nearest cluster with capacity to clients near %s: %s", site.Cluster, g.cluster.Name)
		if dist[i] >= 0 {
			r.Reason += fmt.Sprintf(" (%.0f km)", dist[i])
		}
		if len(skipped) > 0 {
			r.Reason += "; skipped " + joinSemi(skipped)
		}
		return r
	}
	return model.Route{Reason: noCapacity(skipped)}
}

// spreadRoute shares the traffic of clients of unknown location over every
// target by weight.
func spreadRoute(targets []model.Target, groups []clusterTargets) model.Route {
	var total uint64
	var skipped []string
	for _, g := range groups {
		total += g.capacity
		if g.capacity == 0 {
			skipped = append(skipped, fmt.Sprintf("%s: %s", g.cluster.Name, g.why))
		}
	}
	if total == 0 {
		return model.Route{Reason: noCapacity(skipped)}
	}
	r := model.Route{Shares: shares(targets, 0, len(targets), total), Reason: "client location unknown: every cluster with capacity, by weight"}
	if len(skipped) > 0 {
		r.Reason += "; skipped " + joinSemi(skipped)
	}
	return r
}

// shares gives each target in targets[first:first+n] with weight its part of total.
func shares(targets []model.Target, first, n int, total uint64) []model.Share {
	var out []model.Share
	for i := first; i < first+n; i++ {
		if w := targets[i].Weight; w > 0 {
			out = append(out, model.Share{Target: i, Fraction: float64(w) / float64(total)})
		}
	}
	return out
}

func noCapacity(skipped []string) string {
	if len(skipped) == 0 {
		return "no cluster serves this service"
	}
	return "no cluster has capacity: " + joinSemi(skipped)
}

func joinSemi(s []string) string { return strings.Join(s, "; ") }
