package weights

import (
	"encoding/binary"
	"slices"

	"github.com/meridian-gtm/meridian/model"
)

// Routes are built in two steps. The shape of a service's routes (each
// bucket's priorities with their loads and panic flags, its mode, and which
// groups carry load) depends only on the service's layout (which cluster
// each group is, and how many hosts and healthy hosts it has) and policy.
// Services with the same shape share it, so a Solve computes each shape
// once. Shares depend on weights too and are computed per service, only for
// the groups that carry load.

// groupFacts is what route building needs of each group of one service.
type groupFacts struct {
	cluster int   // index in the inventory's clusters; -1 when missing
	region  int32 // region id (see solveCtx.region)
	zone    int32 // zone id, -1 without a zone
	hosts   levelHosts
	// units is the group's capacity as capacity spill counts it (see
	// capacityUnits): healthy and expected pods at weightPerPod each.
	units    levelHosts
	healthyW uint64 // sum of the weights of its healthy targets
	allW     uint64 // sum of the weights of all its hosts
}

// routeShape is everything about a service's routes except the shares.
type routeShape struct {
	// hash covers the whole shape; service hashes include it.
	hash uint64
	// One row per distinct route: every bucket for geo, one for the others.
	rows        int
	gp          []uint8          // per row, per group: priority
	prios       []model.Priority // the rows' priorities, final
	prioStart   []int32          // row r's priorities are prios[prioStart[r]:prioStart[r+1]]
	modes       []model.RouteMode
	loaded      []int32 // per row: the groups whose priority has load, in group order
	loadedStart []int32
}

// routes decides every bucket's route.
func (c *solveCtx) routes(s *model.ServicePlan) {
	c.gatherFacts(s)
	sh := c.cachedShape(s)
	c.shapeHash = sh.hash
	s.Routes = make([]model.Route, len(c.sites)+1+len(c.netLists)+len(s.Policy.Map))
	s.Listed = len(c.netLists)
	shares := make([]model.Share, 0, c.shareEstimate(s, sh))
	for b := range s.Routes {
		row := 0
		if sh.rows > 1 {
			row = b
		}
		if sh.rows == 1 && b > 0 {
			s.Routes[b] = s.Routes[0]
			continue
		}
		r := model.Route{
			Mode:          sh.modes[row],
			Priorities:    sh.prios[sh.prioStart[row]:sh.prioStart[row+1]:sh.prioStart[row+1]],
			GroupPriority: sh.gp[row*len(s.Groups) : (row+1)*len(s.Groups) : (row+1)*len(s.Groups)],
		}
		start := len(shares)
		shares = c.appendShares(shares, s, &r, sh.loaded[sh.loadedStart[row]:sh.loadedStart[row+1]])
		if n := len(shares); n > start {
			r.Shares = shares[start:n:n]
		}
		s.Routes[b] = r
	}
}

// appendShares shares each loaded priority's load among the hosts it uses
// (its healthy hosts, or all of them in panic), by weight.
func (c *solveCtx) appendShares(shares []model.Share, s *model.ServicePlan, r *model.Route, loaded []int32) []model.Share {
	// total[p] sums priority p's weights; only the loaded priorities'
	// entries are used, and they are cleared first.
	total := &c.shareTotal
	for _, gi := range loaded {
		total[r.GroupPriority[gi]] = 0
	}
	for _, gi := range loaded {
		p := r.GroupPriority[gi]
		if r.Priorities[p].Panic {
			total[p] += c.facts[gi].allW
		} else {
			total[p] += c.facts[gi].healthyW
		}
	}
	for _, gi := range loaded {
		p := r.GroupPriority[gi]
		pr := &r.Priorities[p]
		if total[p] == 0 {
			continue
		}
		g := &s.Groups[gi]
		for i := g.First; i < g.First+g.N; i++ {
			t := &s.Targets[i]
			if t.Status == model.Healthy || (pr.Panic && t.Status == model.Unhealthy) {
				// Written in place: shareEstimate leaves room.
				if len(shares) < cap(shares) {
					shares = shares[:len(shares)+1]
				} else {
					shares = append(shares, model.Share{})
				}
				sh := &shares[len(shares)-1]
				sh.Target, sh.Fraction = i, float64(pr.Load)/100*float64(t.Weight)/float64(total[p])
			}
		}
	}
	return shares
}

func (c *solveCtx) shareEstimate(s *model.ServicePlan, sh *routeShape) int {
	n := 0
	for row := range sh.rows {
		for _, gi := range sh.loaded[sh.loadedStart[row]:sh.loadedStart[row+1]] {
			n += s.Groups[gi].N
		}
	}
	return n
}

func (c *solveCtx) gatherFacts(s *model.ServicePlan) {
	c.facts = slices.Grow(c.facts[:0], len(s.Groups))[:len(s.Groups)]
	if len(c.groupOf) != len(c.clusters) {
		c.groupOf = make([]int, len(c.clusters))
	}
	for i := range c.groupOf {
		c.groupOf[i] = -1
	}
	ci := 0 // groups and clusters both sort by name: walk them together
	for gi, g := range s.Groups {
		for ci < len(c.clusters) && c.clusters[ci].Name < g.Cluster {
			ci++
		}
		f := groupFacts{cluster: -1, zone: -1, region: int32(len(c.regionKey) + gi)}
		if ci < len(c.clusters) && c.clusters[ci].Name == g.Cluster {
			f.cluster, f.region, f.zone = ci, c.region[ci], c.zone[ci]
			c.groupOf[ci] = gi
		}
		for _, t := range s.Targets[g.First : g.First+g.N] {
			switch t.Status {
			case model.Healthy:
				f.hosts.hosts++
				f.hosts.healthy++
				f.healthyW += uint64(t.Weight)
				f.allW += uint64(t.Weight)
			case model.Unhealthy:
				f.hosts.hosts++
				f.allW += uint64(t.Weight)
			}
		}
		f.units = capacityUnits(g, f.hosts)
		c.facts[gi] = f
	}
	c.hostGroup = slices.Grow(c.hostGroup[:0], len(c.clusters))[:len(c.clusters)]
	c.regionCnt = resizeInt(c.regionCnt, len(c.regionKey))
	c.regionHosts = resizeLevels(c.regionHosts, len(c.regionKey))
	c.regionUnits = resizeLevels(c.regionUnits, len(c.regionKey))
	c.zoneCnt = resizeInt(c.zoneCnt, c.nZones)
	c.zoneHosts = resizeLevels(c.zoneHosts, c.nZones)
	c.zoneUnits = resizeLevels(c.zoneUnits, c.nZones)
	// groupRegion is each group's region id, or for a group without hosts
	// or without a cluster the last slot of rank, which stays NoPriority.
	none := int32(len(c.regionKey))
	if len(c.rank) != len(c.regionKey)+1 {
		c.rank = make([]uint8, len(c.regionKey)+1)
	}
	c.rank[none] = model.NoPriority
	c.groupRegion = slices.Grow(c.groupRegion[:0], len(c.facts))[:len(c.facts)]
	c.lost = c.lost[:0]
	for gi := range c.facts {
		f := &c.facts[gi]
		c.groupRegion[gi] = none
		switch {
		case f.hosts.hosts == 0:
		case f.cluster < 0:
			c.lost = append(c.lost, int32(gi))
		default:
			c.groupRegion[gi] = f.region
		}
	}
	for ci, gi := range c.groupOf {
		c.hostGroup[ci] = -1
		if gi < 0 || c.facts[gi].hosts.hosts == 0 {
			continue
		}
		c.hostGroup[ci] = int32(gi)
		f := &c.facts[gi]
		r := c.region[ci]
		c.regionCnt[r]++
		c.regionHosts[r].add(f.hosts)
		c.regionUnits[r].add(f.units)
		if z := c.zone[ci]; z >= 0 {
			c.zoneCnt[z]++
			c.zoneHosts[z].add(f.hosts)
			c.zoneUnits[z].add(f.units)
		}
	}
}

// maxCapacityPods bounds the pods one group counts for, so that sums of
// capacity units cannot overflow; no real cluster comes near.
const maxCapacityPods = 1 << 40

// capacityUnits is a group's capacity for capacity spill, as a level of
// Envoy's arithmetic counts hosts: healthy = HealthyPods*10, hosts =
// ExpectedPods*10. A group with a healthy target but no pods (an address
// an operator enabled, or a stale cluster's last state) counts one unit,
// healthy, so that an override that forces traffic is obeyed as in hosts
// spill; expected never falls below healthy.
func capacityUnits(g model.Group, hosts levelHosts) levelHosts {
	u := levelHosts{
		healthy: min(g.HealthyPods, maxCapacityPods) * weightPerPod,
		hosts:   min(g.ExpectedPods, maxCapacityPods) * weightPerPod,
	}
	if hosts.healthy > 0 && u.healthy == 0 {
		u.healthy = 1
	}
	u.hosts = max(u.hosts, u.healthy)
	return u
}

// cachedShape returns the shape of the current service's routes, computing
// it on first use in this Solve.
func (c *solveCtx) cachedShape(s *model.ServicePlan) *routeShape {
	key := append(c.shapeKey[:0], s.Policy.Kind...)
	key = binary.LittleEndian.AppendUint32(key, s.Policy.Overprovisioning)
	key = binary.LittleEndian.AppendUint32(key, s.Policy.PanicThreshold)
	if s.Policy.FailClosed {
		key = append(key, 1)
	}
	key = append(key, 0)
	// Capacity spill depends on the groups' capacity units, but only where
	// some group lacks capacity: when every group has all it expects, each
	// level is fully healthy (or empty) whatever its size, so the shape
	// depends only on which groups have capacity, and services of any pod
	// counts share it, as hosts spill's do.
	capacity := s.Policy.SpillMode() == model.SpillCapacity
	full := true
	if capacity {
		for _, f := range c.facts {
			full = full && f.units.healthy == f.units.hosts
		}
		key = append(key, 1)
		if full {
			key = append(key, 1)
		}
	}
	key = append(key, 0)
	for _, name := range s.Policy.Order {
		key = append(key, name...)
		key = append(key, 0)
	}
	key = append(key, 0)
	for _, e := range s.Policy.Map {
		for _, name := range e.Clusters {
			key = append(key, name...)
			key = append(key, 0)
		}
		if e.Fence {
			key = append(key, 1)
		}
		key = append(key, 2)
	}
	key = append(key, 0)
	for _, f := range c.facts {
		key = binary.LittleEndian.AppendUint32(key, uint32(f.cluster))
		key = binary.LittleEndian.AppendUint32(key, uint32(f.hosts.hosts))
		key = binary.LittleEndian.AppendUint32(key, uint32(f.hosts.healthy))
		switch {
		case capacity && full && f.units.hosts > 0:
			key = append(key, 1)
		case capacity && full:
			key = append(key, 0)
		case capacity:
			key = binary.LittleEndian.AppendUint64(key, uint64(f.units.hosts))
			key = binary.LittleEndian.AppendUint64(key, uint64(f.units.healthy))
		}
	}
	c.shapeKey = key
	if sh, ok := c.shapes[string(key)]; ok {
		return sh
	}
	sh := c.shape(s)
	c.shapes[string(key)] = sh
	return sh
}

// shape computes the current service's route shape.
func (c *solveCtx) shape(s *model.ServicePlan) *routeShape {
	sh := &routeShape{rows: 1}
	buckets := len(c.sites) + 1 + len(c.netLists)
	if s.Policy.Kind == model.Geo {
		sh.rows = buckets + len(s.Policy.Map)
	}
	n := len(s.Groups)
	// The rows are built in scratch slices, reused between shapes, and
	// copied out at the end into slices of their exact sizes, which need no
	// zeroing first.
	sc := &c.shapeScratch
	sc.gp = slices.Grow(sc.gp[:0], sh.rows*n)[:sh.rows*n]
	prios, loaded := sc.prios[:0], sc.loaded[:0]
	prioStart, loadedStart, modes := sc.prioStart[:0], sc.loadedStart[:0], sc.modes[:0]
	for row := range sh.rows {
		prioStart = append(prioStart, int32(len(prios)))
		loadedStart = append(loadedStart, int32(len(loaded)))
		gp := sc.gp[row*n : (row+1)*n]
		start := len(prios)
		counted := false
		switch {
		case s.Policy.Kind == model.Geo && row < len(c.sites):
			prios, counted = c.geoTiers(s, row, gp, prios), true
		case s.Policy.Kind == model.Geo && row >= buckets:
			e := &s.Policy.Map[row-buckets]
			prios = c.listedTiers(s, e.Clusters, e.Fence, gp, prios)
		case s.Policy.Kind == model.Geo && row > len(c.sites):
			prios = c.listedTiers(s, c.netLists[row-len(c.sites)-1], false, gp, prios)
		case s.Policy.Kind == model.Failover:
			prios = c.orderTiers(s, s.Policy.Order, model.TierOrder, gp, prios)
		default:
			prios = c.oneTier(gp, prios)
		}
		fence := s.Policy.Kind == model.Geo && row >= buckets && s.Policy.Map[row-buckets].Fence
		if !counted {
			c.countRow(s, gp, prios[start:])
		}
		mode := c.spillRow(s, prios[start:], fence)
		modes = append(modes, mode)
		if mode != model.FailedClosed {
			// hasLoad[p]: priority p has load; NoPriority never has. Entries
			// past this row's priorities are stale but never read.
			hasLoad := &c.hasLoad
			hasLoad[model.NoPriority] = false
			for i, p := range prios[start:] {
				hasLoad[i] = p.Load > 0
			}
			for gi, p := range gp {
				if hasLoad[p] {
					loaded = append(loaded, int32(gi))
				}
			}
		}
	}
	prioStart = append(prioStart, int32(len(prios)))
	loadedStart = append(loadedStart, int32(len(loaded)))
	sc.prios, sc.loaded, sc.prioStart, sc.loadedStart, sc.modes = prios, loaded, prioStart, loadedStart, modes

	// Never nil, even when empty, whichever scratch a Solver has.
	sh.gp = append([]uint8{}, sc.gp...)
	sh.prios = append([]model.Priority{}, prios...)
	sh.modes = append([]model.RouteMode{}, modes...)
	ints := make([]int32, 0, len(loaded)+len(prioStart)+len(loadedStart))
	ints = append(ints, loaded...)
	ints = append(ints, prioStart...)
	ints = append(ints, loadedStart...)
	i, j := len(loaded), len(loaded)+len(prioStart)
	sh.loaded, sh.prioStart, sh.loadedStart = ints[:i:i], ints[i:j:j], ints[j:]
	sh.hash = c.hash.shape(sh)
	return sh
}

// countRow counts each of a row's priorities' hosts into c.counts and what
// its spill mode counts into c.levels.
func (c *solveCtx) countRow(s *model.ServicePlan, gp []uint8, prios []model.Priority) {
	// Hosts spill counts a level's hosts, capacity spill its capacity
	// units; the arithmetic is the same (see spill.go).
	capacity := s.Policy.SpillMode() == model.SpillCapacity
	levels, counts := c.levels[:0], c.counts[:0]
	for range prios {
		levels, counts = append(levels, levelHosts{}), append(counts, levelHosts{})
	}
	for gi, p := range gp {
		if p != model.NoPriority {
			f := &c.facts[gi]
			counts[p].hosts += f.hosts.hosts
			counts[p].healthy += f.hosts.healthy
			if capacity {
				levels[p].hosts += f.units.hosts
				levels[p].healthy += f.units.healthy
			}
		}
	}
	if !capacity {
		copy(levels, counts)
	}
	c.levels, c.counts = levels, counts
}

// spillRow runs Envoy's arithmetic over one row's priorities, counted in
// c.counts and c.levels, filling in their counts, health, load and panic
// flags, and returns the route's mode. A fence's row fails closed whatever
// the policy says.
func (c *solveCtx) spillRow(s *model.ServicePlan, prios []model.Priority, fence bool) model.RouteMode {
	if len(prios) == 0 {
		return model.NoTargets
	}
	levels, counts := c.levels, c.counts
	sr := &c.spill
	spill(levels, s.Policy.SpillOverprovisioning(), s.Policy.PanicThreshold, sr) // xDS sends the same factor
	mode := model.Normal
	switch {
	case sr.noneHealthy && (s.Policy.FailClosed || fence):
		for i := range sr.load {
			sr.load[i], sr.panic[i] = 0, false
		}
		mode = model.FailedClosed
	case sr.noneHealthy:
		// Fail open: every host, load by host count, as in Envoy's total
		// panic, even when panic is disabled. Hosts, not capacity, in
		// either spill: a cluster whose pods are all gone still gets its
		// part when nothing is healthy anywhere.
		totalPanicLoad(counts, sr.load)
		for i := range sr.panic {
			sr.panic[i] = true
		}
		mode = model.FailedOpen
	case sr.totalPanic:
		mode = model.TotalPanic
	case slices.Contains(sr.panic, true):
		mode = model.Panic
	}
	for i := range prios {
		p := &prios[i]
		p.Hosts, p.Healthy = int32(counts[i].hosts), int32(counts[i].healthy)
		p.Health, p.Load, p.Panic = uint8(sr.health[i]), uint8(sr.load[i]), sr.panic[i]
	}
	return mode
}

// geoTiers ranks the groups for clients nearest site b: the site's zone,
// then its region, then every other region by the distance from the site to
// its nearest cluster with hosts, ties by region name. Groups without hosts
// are left out. Each region's nearest cluster with hosts comes from its run
// of the site's walk (c.runs), usually the run's first cluster, in which
// case the runs are already in tier order; a priority's counts are its
// region's or zone's sums (gatherFacts), since a tier of another region
// holds all of that region. It fills gp, appends the priorities to prios,
// and fills c.counts and c.levels as countRow would.
func (c *solveCtx) geoTiers(s *model.ServicePlan, b int, gp []uint8, prios []model.Priority) []model.Priority {
	capacity := s.Policy.SpillMode() == model.SpillCapacity
	levels, counts := c.levels[:0], c.counts[:0]
	start := len(prios)
	site := c.siteOf[b]
	siteRegion, siteZone, siteHasRegion := c.region[site], c.zone[site], c.hasRegion[site]
	// The zone and region tiers come first when non-empty. The site's zone
	// lies in its region.
	zoneP, regionP := -1, -1
	zoneN, zoneH, zoneU := 0, levelHosts{}, levelHosts{}
	if siteZone >= 0 {
		zoneN, zoneH, zoneU = c.zoneCnt[siteZone], c.zoneHosts[siteZone], c.zoneUnits[siteZone]
	}
	if zoneN > 0 {
		zoneP = 0
		prios = append(prios, model.Priority{Tier: model.TierZone, Group: -1})
		levels, counts = append(levels, zoneU), append(counts, zoneH)
	}
	if siteHasRegion && c.regionCnt[siteRegion] > zoneN {
		regionP = len(prios) - start
		prios = append(prios, model.Priority{Tier: model.TierRegion, Group: -1})
		h, u := c.regionHosts[siteRegion], c.regionUnits[siteRegion]
		levels = append(levels, levelHosts{hosts: u.hosts - zoneU.hosts, healthy: u.healthy - zoneU.healthy})
		counts = append(counts, levelHosts{hosts: h.hosts - zoneH.hosts, healthy: h.healthy - zoneH.healthy})
	}
	walk, runPos, hostGroup := c.walk[b], c.runPos[b], c.hostGroup
	hits, inOrder := c.hits[:0], true
	for _, r := range c.runs[b] {
		if c.regionCnt[r.cls] == 0 {
			continue
		}
		for k := r.start; k < r.end; k++ {
			w := walk[runPos[k]]
			if gi := hostGroup[w.ci]; gi >= 0 {
				inOrder = inOrder && k == r.start
				hits = append(hits, runHit{pos: runPos[k], gi: gi, ci: w.ci, cls: r.cls})
				break
			}
		}
	}
	if !inOrder {
		slices.SortFunc(hits, func(x, y runHit) int { return int(x.pos - y.pos) })
	}
	c.hits = hits
	// rank is each region id's priority in this row; the last slot, for
	// groups without hosts or without a cluster, none.
	dist, rank := c.distKm[b], c.rank
	if siteHasRegion {
		rank[siteRegion] = uint8(regionP)
	}
	// The priorities are written field by field: a composite literal
	// appended here was built on the stack and copied, which stalled.
	first := len(prios)
	prios = slices.Grow(prios, len(hits))[:first+len(hits)]
	for i, h := range hits {
		rank[h.cls] = uint8(first + i - start)
		p := &prios[first+i]
		p.Tier, p.Group, p.DistanceKm = model.TierDistance, h.gi, float32(dist[h.ci])
		p.Hosts, p.Healthy, p.Health, p.Load, p.Panic = 0, 0, 0, 0, false
		levels, counts = append(levels, c.regionUnits[h.cls]), append(counts, c.regionHosts[h.cls])
	}
	for gi, r := range c.groupRegion {
		gp[gi] = rank[r]
	}
	// The zone's groups, and the zone and region tiers' names: their
	// nearest group.
	for _, w := range c.nearTiers[b] {
		gi := hostGroup[w.ci]
		if gi < 0 {
			continue
		}
		p := regionP
		if w.cls == classZone {
			p = zoneP
			gp[gi] = uint8(zoneP)
		}
		if pr := &prios[start+p]; pr.Group < 0 {
			pr.Group = gi
		}
	}
	// Groups whose cluster the inventory lacks come last, each a region of
	// its own, in group order.
	for _, gi := range c.lost {
		f := &c.facts[gi]
		gp[gi] = uint8(len(prios) - start)
		prios = append(prios, model.Priority{Tier: model.TierDistance, Group: gi, DistanceKm: -1})
		levels, counts = append(levels, f.units), append(counts, f.hosts)
	}
	if !capacity {
		copy(levels, counts)
	}
	c.levels, c.counts = levels, counts
	return prios
}

// listedTiers ranks the groups for the clients of a map entry or a
// subnet-list entry: each listed cluster with hosts a priority, in order;
// then, unless the entry is a fence, every other group with hosts in one
// last priority, so that the entry's clients leave its clusters only as
// they fail, and a service that runs in none of them still answers.
func (c *solveCtx) listedTiers(s *model.ServicePlan, clusters []string, fence bool, gp []uint8, prios []model.Priority) []model.Priority {
	start := len(prios)
	prios = c.orderTiers(s, clusters, model.TierListed, gp, prios)
	if fence {
		return prios
	}
	other := -1
	for gi, f := range c.facts {
		if gp[gi] != model.NoPriority || f.hosts.hosts == 0 {
			continue
		}
		if other < 0 {
			other = len(prios) - start
			prios = append(prios, model.Priority{Tier: model.TierOther, Group: int32(gi)})
		}
		gp[gi] = uint8(other)
	}
	return prios
}

// oneTier puts every group with hosts in one priority.
func (c *solveCtx) oneTier(gp []uint8, prios []model.Priority) []model.Priority {
	start := len(prios)
	for gi, f := range c.facts {
		gp[gi] = model.NoPriority
		if f.hosts.hosts > 0 {
			if len(prios) == start {
				prios = append(prios, model.Priority{Tier: model.TierAll, Group: int32(gi)})
			}
			gp[gi] = 0
		}
	}
	return prios
}

// orderTiers gives each cluster of an ordered list (the failover policy's,
// or an entry's) that has hosts its own priority of tier, in list order.
// Clusters not listed get no traffic.
func (c *solveCtx) orderTiers(s *model.ServicePlan, order []string, tier model.Tier, gp []uint8, prios []model.Priority) []model.Priority {
	for gi := range gp {
		gp[gi] = model.NoPriority
	}
	start := len(prios)
	for _, name := range order {
		gi := slices.IndexFunc(s.Groups, func(g model.Group) bool { return g.Cluster == name })
		if gi < 0 || c.facts[gi].hosts.hosts == 0 || gp[gi] != model.NoPriority {
			continue
		}
		gp[gi] = uint8(len(prios) - start)
		prios = append(prios, model.Priority{Tier: tier, Group: int32(gi)})
	}
	return prios
}

func (l *levelHosts) add(o levelHosts) {
	l.hosts += o.hosts
	l.healthy += o.healthy
}

func resizeInt(s []int, n int) []int {
	s = slices.Grow(s[:0], n)[:n]
	clear(s)
	return s
}

func resizeLevels(s []levelHosts, n int) []levelHosts {
	s = slices.Grow(s[:0], n)[:n]
	clear(s)
	return s
}
