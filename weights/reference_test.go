package weights

import (
	"math"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// referenceShares is a deliberately simple re-derivation of one route's
// shares: per-target lookups through the public model accessors, overrides
// by a linear scan in precedence order, tiers by sorting, maps everywhere.
// Only Envoy's integer arithmetic (spill, table-tested on its own) is shared.
// It returns the fraction per "cluster address".
func referenceShares(at time.Time, inv model.Inventory, health model.Health, ovr model.Overrides, pol model.Policies,
	sp model.ServicePolicy, site *model.Site) map[string]float64 {

	active := ovr.ActiveAt(at)
	kind, order := sp.Kind, sp.Order
	var failover *model.Override
	for i, o := range active {
		if o.Kind == model.ForceFailover && o.Service == sp.Service && (failover == nil || preferred(o, *failover)) {
			failover = &active[i]
		}
	}
	if failover != nil {
		kind, order = model.Failover, failover.Order
	}
	type target struct {
		cluster  string
		addr     netip.Addr
		weight   float64
		healthy  bool
		host     bool
		locality model.Locality
		point    model.Point
		hasPoint bool
	}
	// A group is one backend's hosts, with its capacity in pods.
	type group struct {
		first, n          int // its targets
		healthy, expected int
	}
	var groups []group
	capacity := sp.SpillMode() == model.SpillCapacity
	var targets []target
	for _, b := range inv.Backends() {
		if b.Service != sp.Service {
			continue
		}
		c, _ := inv.Cluster(b.Cluster)
		stale := !c.LostAt.IsZero() && at.Sub(c.LostAt) >= pol.StaleGrace
		w := float64(CapacityWeight(b.ReadyPods, len(b.Ingress)))
		excluded, outsidePolicy := false, false
		if kind == model.Failover && !slices.Contains(order, b.Cluster) {
			outsidePolicy = true
		}
		if kind == model.Weighted && len(sp.Weights) > 0 {
			cw := explicitWeight(sp.Weights, b.Cluster)
			outsidePolicy = cw == 0
			w = math.Floor(float64(cw) * explicitWeightScale / float64(len(b.Ingress)))
		}
		if outsidePolicy {
			continue
		}
		// Cluster-level rules, most specific first.
		var scoped, clusterWide *model.Override
		for i, o := range active {
			if o.Cluster != b.Cluster {
				continue
			}
			switch {
			case (o.Kind == model.Drain || o.Kind == model.Weight) && o.Service == sp.Service:
				if scoped == nil || preferred(o, *scoped) {
					scoped = &active[i]
				}
			case o.Kind == model.Drain && o.Service == "":
				if clusterWide == nil || preferred(o, *clusterWide) {
					clusterWide = &active[i]
				}
			}
		}
		if !excluded {
			switch {
			case scoped != nil && scoped.Kind == model.Drain:
				excluded = true
			case scoped != nil:
				w, excluded = float64(scoped.Weight), scoped.Weight == 0
			case clusterWide != nil:
				excluded = true
			}
		}
		// Zonal weights: only when every address's zone has a pod count.
		zonePods := map[netip.Addr]int{}
		zoneAddrs := map[string]int{}
		zonal := len(b.IngressZones) > 0 && !(kind == model.Weighted && len(sp.Weights) > 0) && (scoped == nil || scoped.Kind != model.Weight)
		for _, a := range b.Ingress {
			zone, pods, ok := "", 0, false
			for _, az := range b.IngressZones {
				if az.Addr == a {
					zone = az.Zone
				}
			}
			for _, zp := range b.ZonePods {
				if zp.Zone == zone && zone != "" {
					pods, ok = zp.ReadyPods, true
				}
			}
			zonal = zonal && ok
			zonePods[a] = pods
			zoneAddrs[zone]++
		}
		zoneOf := func(a netip.Addr) string {
			for _, az := range b.IngressZones {
				if az.Addr == a {
					return az.Zone
				}
			}
			return ""
		}
		start := len(targets)
		for _, a := range b.Ingress {
			p, ok := c.Location.Point()
			t := target{cluster: b.Cluster, addr: a, locality: c.Locality, point: p, hasPoint: ok}
			pods, w := b.ReadyPods, w
			if zonal {
				pods = zonePods[a]
				w = float64(CapacityWeight(pods, zoneAddrs[zoneOf(a)]))
			}
			exc := excluded
			var addrO *model.Override
			for i, o := range active {
				if (o.Kind != model.Enable && o.Kind != model.Disable) || o.Address != a || (o.Service != "" && o.Service != sp.Service) {
					continue
				}
				better := addrO == nil
				if !better {
					scoped, curScoped := o.Service != "", addrO.Service != ""
					if scoped != curScoped {
						better = scoped // an override naming the service wins
					} else {
						better = preferred(o, *addrO)
					}
				}
				if better {
					addrO = &active[i]
				}
			}
			enabled := false
			if addrO != nil {
				exc, enabled = addrO.Kind == model.Disable, addrO.Kind == model.Enable
			}
			if exc {
				continue
			}
			t.host = true
			t.weight = max(w, 1)
			switch {
			case enabled || stale:
				t.healthy = true
			default:
				// No ready pods in the cluster is down whatever the probes
				// say; pods is the address's own zone's when zonal.
				t.healthy = pods > 0 && b.ReadyPods > 0 && health.State(sp.Service, b.Cluster, a) != model.Down
			}
			targets = append(targets, t)
		}
		mine := targets[start:]
		if len(mine) == 0 {
			continue
		}
		// Capacity: which pods stand behind a healthy address, and the
		// healthy addresses share them out.
		g := group{first: start, n: len(mine)}
		live := 0
		for _, t := range mine {
			if t.healthy {
				live++
			}
		}
		if zonal {
			zoneSeen, zoneLive := map[string]bool{}, map[string]int{}
			for _, t := range mine {
				zoneSeen[zoneOf(t.addr)] = true
				if t.healthy {
					zoneLive[zoneOf(t.addr)]++
				}
			}
			for _, zp := range b.ZonePods {
				if zoneSeen[zp.Zone] {
					g.expected += zp.ReadyPods
				}
				if zoneLive[zp.Zone] > 0 {
					g.healthy += zp.ReadyPods
				}
			}
			g.expected += b.NotReadyPods
			if capacity {
				for i := range mine {
					if mine[i].healthy {
						mine[i].weight = max(1, float64(CapacityWeight(zonePods[mine[i].addr], zoneLive[zoneOf(mine[i].addr)])))
					}
				}
			}
		} else {
			if live > 0 {
				g.healthy = b.ReadyPods
			}
			g.expected = b.ReadyPods + b.NotReadyPods
			if capacity && live < len(b.Ingress) {
				cw := max(1, float64(CapacityWeight(b.ReadyPods, live)))
				switch {
				case scoped != nil && scoped.Kind == model.Weight:
					cw = max(1, math.Floor(float64(scoped.Weight)*float64(len(b.Ingress))/float64(live)))
				case kind == model.Weighted && len(sp.Weights) > 0:
					cw = max(1, math.Floor(float64(explicitWeight(sp.Weights, b.Cluster))*explicitWeightScale/float64(live)))
				}
				for i := range mine {
					if mine[i].healthy {
						mine[i].weight = cw
					}
				}
			}
		}
		groups = append(groups, g)
	}

	// Tiers: a key per target, ordered.
	tierOf := func(t target) (rank int, dist float64, key string) {
		switch {
		case kind == model.Failover:
			return slices.Index(order, t.cluster), 0, t.cluster
		case kind != model.Geo || site == nil:
			return 0, 0, ""
		case site.Locality.Zone != "" && t.locality.Zone == site.Locality.Zone && t.locality.Region == site.Locality.Region:
			return 0, 0, ""
		case site.Locality.Region != "" && t.locality.Region == site.Locality.Region:
			return 1, 0, ""
		}
		key = t.locality.Region
		if key == "" {
			key = "\x00" + t.cluster
		}
		return 2, 0, key
	}
	// Distance of a region tier: its nearest target's cluster.
	regionDist := map[string]float64{}
	for _, t := range targets {
		if r, _, key := tierOf(t); kind == model.Geo && site != nil && r == 2 {
			d := math.Inf(1)
			if t.hasPoint {
				d = site.Location.DistanceKm(t.point)
			}
			if old, ok := regionDist[key]; !ok || d < old {
				regionDist[key] = d
			}
		}
	}
	type tierID struct {
		rank int
		dist float64
		key  string
	}
	var ids []tierID
	idOf := func(t target) tierID {
		r, _, key := tierOf(t)
		return tierID{r, regionDist[key], key}
	}
	for _, t := range targets {
		if id := idOf(t); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := ids[i], ids[j]
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		if a.dist != b.dist {
			return a.dist < b.dist
		}
		return a.key < b.key
	})
	levels := make([]levelHosts, len(ids))
	for _, t := range targets {
		l := &levels[slices.Index(ids, idOf(t))]
		l.hosts++
		if t.healthy {
			l.healthy++
		}
	}
	hostLevels := slices.Clone(levels)
	if capacity {
		clear(levels)
		for _, g := range groups {
			l := &levels[slices.Index(ids, idOf(targets[g.first]))]
			healthy, expected := 10*g.healthy, 10*g.expected
			anyHealthy := slices.ContainsFunc(targets[g.first:g.first+g.n], func(t target) bool { return t.healthy })
			if anyHealthy && healthy == 0 {
				healthy = 1 // forced into service with no pods
			}
			l.healthy += healthy
			l.hosts += max(expected, healthy)
		}
	}
	out := map[string]float64{}
	if len(ids) == 0 {
		return out
	}
	of := sp.Overprovisioning
	if kind == model.Failover {
		of = model.FailoverOverprovisioning
	}
	var r spillResult
	spill(levels, of, sp.PanicThreshold, &r)
	if r.noneHealthy {
		if sp.FailClosed {
			return out
		}
		totalPanicLoad(hostLevels, r.load)
		for i := range r.panic {
			r.panic[i] = true
		}
	}
	for li := range ids {
		inUse := func(t target) bool {
			return slices.Index(ids, idOf(t)) == li && (t.healthy || r.panic[li])
		}
		total := 0.0
		for _, t := range targets {
			if inUse(t) {
				total += t.weight
			}
		}
		for _, t := range targets {
			if inUse(t) && r.load[li] > 0 {
				out[t.cluster+" "+t.addr.String()] += float64(r.load[li]) / 100 * t.weight / total
			}
		}
	}
	return out
}
