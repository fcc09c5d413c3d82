package weights

import (
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/meridian-gtm/meridian/model"
)

// service decides one service's plan.
func (c *solveCtx) service(sp model.ServicePolicy, backends []model.Backend, verdicts []model.TargetHealth) *model.ServicePlan {
	s := &model.ServicePlan{Name: sp.Service, Policy: sp, PolicyOverride: -1}
	if i, ok := c.failover[sp.Service]; ok {
		s.Policy.Kind, s.Policy.Order, s.PolicyOverride = model.Failover, c.active[i].Order, i
	}
	if s.Policy.Kind != model.Geo {
		s.Policy.Map = nil // a map places clients for distance: geo only
	}
	c.compileMap(s)
	if s.Policy.Overprovisioning == 0 {
		s.Policy.Overprovisioning = model.DefaultOverprovisioning
	}
	c.targets(s, backends, verdicts)
	c.routes(s)
	s.Hash = c.hash.service(s, c.shapeHash, c.facts, c.clusterHash)
	return s
}

// compileMap indexes the service's map for model.ServicePlan.Entry: per
// prefix of the Plan's MapNets, the service's longest subnet entry that
// holds it (every prefix of the service that holds an address holds the
// longest of the Plan's that does, so it is the one to use); per country
// and continent, its entry.
//
// Services that share a map (a zone's) share its index, compiled once per
// worker and world.
func (c *solveCtx) compileMap(s *model.ServicePlan) {
	s.Map = model.MapIndex{Default: -1}
	if len(s.Policy.Map) == 0 {
		return
	}
	id := mapID{&s.Policy.Map[0], len(s.Policy.Map)}
	if m, ok := c.maps[id]; ok {
		s.Map = m
		return
	}
	// Each of the Plan's map prefixes looks up its own prefixes at the
	// lengths the map's subnets have, longest first: a few map lookups
	// each, where comparing with every subnet made a zone map of 5,000
	// subnets cost seconds per service.
	entryOf := map[netip.Prefix]int32{}
	var lengths []int
	for e, m := range s.Policy.Map {
		for _, p := range m.Subnets {
			if _, dup := entryOf[p]; !dup {
				entryOf[p] = int32(e)
			}
			lengths = append(lengths, p.Bits())
		}
	}
	slices.Sort(lengths)
	lengths = slices.Compact(lengths)
	slices.Reverse(lengths)
	s.Map.Nets = make([]int32, len(c.mapNets))
	for i, n := range c.mapNets {
		s.Map.Nets[i] = -1
		for _, l := range lengths {
			if l > n.Bits() {
				continue
			}
			if e, ok := entryOf[netip.PrefixFrom(n.Addr(), l).Masked()]; ok {
				s.Map.Nets[i] = e
				break
			}
		}
	}
	for e, m := range s.Policy.Map {
		switch m.Match {
		case model.MatchCountry, model.MatchContinent, model.MatchSubdivision:
			dst := &s.Map.Countries
			switch m.Match {
			case model.MatchContinent:
				dst = &s.Map.Continents
			case model.MatchSubdivision:
				dst = &s.Map.Subdivisions
			}
			if *dst == nil {
				*dst = map[string]int32{}
			}
			for _, code := range m.Codes {
				if _, dup := (*dst)[code]; !dup {
					(*dst)[code] = int32(e)
				}
			}
		case model.MatchDefault:
			if s.Map.Default < 0 {
				s.Map.Default = int32(e)
			}
		}
	}
	c.maps[id] = s.Map
}

// mapID is a map's identity: services that share the slice share it.
type mapID struct {
	first *model.MapEntry
	n     int
}

// targets builds the service's groups and targets: status, cause and weight.
func (c *solveCtx) targets(s *model.ServicePlan, backends []model.Backend, verdicts []model.TargetHealth) {
	n := 0
	for _, b := range backends {
		n += len(b.Ingress)
	}
	s.Groups = make([]model.Group, 0, len(backends))
	s.Targets = make([]model.Target, 0, n)
	v := 0   // cursor in verdicts, which sort like the targets
	cur := 0 // cursor in clusters, which sort by name like the backends
	// The probe state of a target without a verdict.
	pending := s.Policy.VerdictPending()
	for _, b := range backends {
		g := model.Group{Cluster: b.Cluster, ReadyPods: b.ReadyPods, NotReadyPods: b.NotReadyPods, ZonePods: b.ZonePods, IngressZones: b.IngressZones, PodIPs: b.PodIPs,
			First: len(s.Targets), N: len(b.Ingress)}
		for cur < len(c.clusters) && c.clusters[cur].Name < b.Cluster {
			cur++
		}
		ci := cur
		if ci == len(c.clusters) || c.clusters[ci].Name != b.Cluster {
			ci = c.clusterIndex(b.Cluster)
		}
		if ci >= 0 {
			cl := &c.clusters[ci]
			g.Locality, g.Location, g.LostAt, g.Stale = cl.Locality, cl.Location, cl.LostAt, c.stale[ci]
		}
		gi := len(s.Groups)
		s.Groups = append(s.Groups, g)

		groupOverride, groupCause, excluded := c.groupDecision(s, b.Cluster)
		outsidePolicy := excluded && groupCause == model.CauseNotListed
		pinned, hasPin := uint32(0), false
		if groupOverride >= 0 && c.active[groupOverride].Kind == model.Weight {
			pinned, hasPin = c.active[groupOverride].Weight, true
		}
		for _, addr := range b.Ingress {
			for v < len(verdicts) && lessTarget(verdicts[v], b.Cluster, addr) {
				v++
			}
			state := pending
			if v < len(verdicts) && verdicts[v].Cluster == b.Cluster && verdicts[v].Address == addr {
				state = verdicts[v].State
			}
			// Readiness is decided here, from the Inventory, and nowhere
			// else: the verdicts are the probes' only.
			state = model.ReadyState(state, b.ReadyPods)
			t := model.Target{Group: int32(gi), Address: addr, Health: state, Override: int32(groupOverride), Cause: groupCause}
			if excluded {
				t.Status = model.Excluded
			}
			// An address override beats the cluster's overrides, but cannot
			// bring a cluster into a policy that leaves it out.
			if ai := c.addressOverride(s.Name, addr); ai >= 0 && !outsidePolicy {
				t.Override = int32(ai)
				if c.active[ai].Kind == model.Disable {
					t.Status, t.Cause = model.Excluded, model.CauseDisabled
				} else {
					t.Status, t.Cause = model.Healthy, model.CauseEnabled
				}
			}
			if g.Stale && t.Status != model.Excluded && t.Cause != model.CauseEnabled {
				t.Health, t.Cause = model.Unknown, model.CauseStale
			}
			s.Targets = append(s.Targets, t)
		}

		// One weight for every address of the group: its capacity spread
		// over all its ingress addresses, as the formula says, or the weight
		// an operator or the policy fixed. Health does not change weights:
		// a down address loses its share without raising its peers', so
		// losing capacity can never win a cluster traffic, panic or not.
		// Where every address's zone and that zone's pods are known, an
		// address carries its own zone's pods (zonal ingress, such as nodes
		// or load balancers that do not cross zones).
		w := CapacityWeight(b.ReadyPods, len(b.Ingress))
		explicit := s.Policy.Kind == model.Weighted && len(s.Policy.Weights) > 0
		zonal := !hasPin && !explicit && c.zonalPods(b)
		switch {
		case hasPin:
			w = pinned
		case explicit:
			w = uint32(uint64(explicitWeight(s.Policy.Weights, b.Cluster)) * explicitWeightScale / uint64(max(len(b.Ingress), 1)))
		}
		live, hosts := 0, 0 // healthy targets, and targets that are hosts
		for i := g.First; i < g.First+g.N; i++ {
			t := &s.Targets[i]
			pods, tw := b.ReadyPods, w
			if zonal {
				j := i - g.First
				pods, tw = c.zonePods[j], CapacityWeight(c.zonePods[j], c.zoneAddrs[j])
			}
			switch {
			case t.Status == model.Excluded:
				t.Weight = 0
				continue
			case t.Cause == model.CauseEnabled || t.Cause == model.CauseStale:
				t.Status = model.Healthy
			case pods == 0:
				t.Status, t.Cause = model.Unhealthy, model.CauseNoPods
			case t.Health == model.Down:
				t.Status, t.Cause = model.Unhealthy, model.CauseDown
			default:
				t.Status = model.Healthy
			}
			if zonal && t.Cause == model.CauseNone {
				t.Cause = model.CauseZonal
			}
			t.Weight = max(tw, 1) // every host has a weight, for panic
			hosts++
			if t.Status == model.Healthy {
				live++
			}
		}
		gr, mine := &s.Groups[gi], s.Targets[g.First:g.First+g.N]
		gr.HealthyPods, gr.ExpectedPods = c.capacity(b, mine, zonal, live, hosts)
		// With capacity spill the healthy addresses carry the pods of the
		// others; when every address is healthy the weights are the same.
		if s.Policy.SpillMode() == model.SpillCapacity && live > 0 && live < len(b.Ingress) {
			budget, fixed := fixedBudget(b, hasPin, pinned, explicit, s.Policy.Weights)
			c.carryCapacity(mine, b, zonal, fixed, budget, live)
		}
	}
}

// capacity returns the group's healthy and expected pods (see model.Group):
// the pods behind at least one healthy address, and the pods it should
// have. Excluded targets count in neither; a group without hosts has none.
// Zonal ingress reaches only its own zone's pods, so a zone counts as
// healthy only with a healthy address of its own, and a zone without any
// address was never expected to serve; not-ready pods, which discovery
// does not count per zone, are expected wherever they are. live and hosts
// count the group's healthy targets and its hosts.
func (c *solveCtx) capacity(b model.Backend, targets []model.Target, zonal bool, live, hosts int) (healthy, expected int) {
	switch {
	case hosts == 0:
		return 0, 0
	case !zonal && live > 0:
		return b.ReadyPods, b.ReadyPods + b.NotReadyPods
	case !zonal:
		return 0, b.ReadyPods + b.NotReadyPods
	}
	c.countZones(b, targets)
	for k, z := range b.ZonePods {
		if c.zoneHost[k] > 0 {
			expected += z.ReadyPods
		}
		if c.zoneLive[k] > 0 {
			healthy += z.ReadyPods
		}
	}
	return healthy, expected + b.NotReadyPods
}

// countZones fills c.zoneLive and c.zoneHost with, per zone of b, its
// healthy addresses and its addresses that are hosts (healthy or not).
// c.zoneIdx must hold each address's zone (zonalPods does).
func (c *solveCtx) countZones(b model.Backend, targets []model.Target) {
	c.zoneLive = slices.Grow(c.zoneLive[:0], len(b.ZonePods))[:len(b.ZonePods)]
	c.zoneHost = slices.Grow(c.zoneHost[:0], len(b.ZonePods))[:len(b.ZonePods)]
	clear(c.zoneLive)
	clear(c.zoneHost)
	for j, t := range targets {
		k := c.zoneIdx[j]
		switch t.Status {
		case model.Healthy:
			c.zoneLive[k]++
			c.zoneHost[k]++
		case model.Unhealthy:
			c.zoneHost[k]++
		}
	}
}

// fixedBudget is the weight an operator fixed for a group's addresses
// together, before it is spread over them: an explicit cluster weight, or
// a pinned per-address weight times the addresses. It reports false when
// the weight is the group's capacity.
func fixedBudget(b model.Backend, hasPin bool, pinned uint32, explicit bool, ws []model.ClusterWeight) (uint64, bool) {
	switch {
	case hasPin:
		return uint64(pinned) * uint64(len(b.Ingress)), true
	case explicit:
		return uint64(explicitWeight(ws, b.Cluster)) * explicitWeightScale, true
	}
	return 0, false
}

// carryCapacity re-weights the healthy targets of one group for capacity
// spill: the seed formula over the healthy addresses only, so the remaining
// ones take the share of a failed one and the group keeps its weight,
// max(1, floor(readyPods*10/healthyAddresses)) (or the explicit or pinned
// budget spread alike). A zonal group spreads each zone's pods over that
// zone's healthy addresses, since its ingress does not cross zones.
// Unhealthy targets keep the weight they would have with every address up,
// for panic, which uses every host. live counts the group's healthy
// targets, at least one; a zonal group's weights are never fixed
// (zonalPods is not consulted for explicit or pinned weights).
func (c *solveCtx) carryCapacity(targets []model.Target, b model.Backend, zonal, fixed bool, budget uint64, live int) {
	if zonal {
		// countZones ran in capacity.
		for j := range targets {
			if t := &targets[j]; t.Status == model.Healthy {
				t.Weight = max(1, CapacityWeight(b.ZonePods[c.zoneIdx[j]].ReadyPods, c.zoneLive[c.zoneIdx[j]]))
			}
		}
		return
	}
	w := max(1, CapacityWeight(b.ReadyPods, live)) // the seed formula, saturating as it does
	if fixed {
		w = uint32(min(max(1, budget/uint64(live)), math.MaxUint32))
	}
	for j := range targets {
		if t := &targets[j]; t.Status == model.Healthy {
			t.Weight = w
		}
	}
}

// groupDecision returns the override or policy rule that decides a whole
// (service, cluster): its override index (-1 for none), the cause, and
// whether its targets are excluded.
func (c *solveCtx) groupDecision(s *model.ServicePlan, cluster string) (override int, cause model.Cause, excluded bool) {
	switch s.Policy.Kind {
	case model.Failover:
		if !slices.Contains(s.Policy.Order, cluster) {
			return s.PolicyOverride, model.CauseNotListed, true
		}
	case model.Weighted:
		if len(s.Policy.Weights) > 0 {
			if w := explicitWeight(s.Policy.Weights, cluster); w == 0 {
				return -1, model.CauseNotListed, true
			}
			cause = model.CauseExplicitWeight
		}
	}
	// The (service, cluster) override is more specific than the cluster's.
	if i, ok := c.scoped[scopeKey{s.Name, cluster}]; ok {
		o := c.active[i]
		if o.Kind == model.Drain {
			return i, model.CauseDrained, true
		}
		if o.Weight == 0 {
			return i, model.CauseWeight, true
		}
		return i, model.CauseWeight, false
	}
	if i, ok := c.clusterDrain[cluster]; ok {
		return i, model.CauseDrained, true
	}
	return -1, cause, false
}

// zonalPods fills c.zonePods and c.zoneAddrs with, per ingress address of
// b, its zone's ready pods and the number of b's addresses in that zone. It
// reports false, leaving the cluster-wide formula in force, unless every
// address has a zone whose pods are counted.
func (c *solveCtx) zonalPods(b model.Backend) bool {
	if len(b.IngressZones) == 0 || len(b.ZonePods) == 0 {
		return false
	}
	c.zonePods, c.zoneAddrs = c.zonePods[:0], c.zoneAddrs[:0]
	for _, a := range b.Ingress {
		j, found := slices.BinarySearchFunc(b.IngressZones, a, func(z model.AddrZone, a netip.Addr) int { return z.Addr.Compare(a) })
		if !found {
			return false
		}
		k, found := slices.BinarySearchFunc(b.ZonePods, b.IngressZones[j].Zone, func(z model.ZonePods, n string) int { return strings.Compare(z.Zone, n) })
		if !found {
			return false
		}
		c.zonePods = append(c.zonePods, b.ZonePods[k].ReadyPods)
		c.zoneAddrs = append(c.zoneAddrs, k) // zone index for now; counted below
	}
	c.zoneIdx = append(c.zoneIdx[:0], c.zoneAddrs...)
	var perZone [64]int
	counts := perZone[:0]
	if len(b.ZonePods) > len(perZone) {
		counts = make([]int, 0, len(b.ZonePods))
	}
	counts = counts[:len(b.ZonePods)]
	for _, k := range c.zoneAddrs {
		counts[k]++
	}
	for i, k := range c.zoneAddrs {
		c.zoneAddrs[i] = counts[k]
	}
	return true
}

func explicitWeight(ws []model.ClusterWeight, cluster string) uint32 {
	for _, w := range ws {
		if w.Cluster == cluster {
			return w.Weight
		}
	}
	return 0
}

// lessTarget reports whether verdict v sorts before the target (cluster, addr).
func lessTarget(v model.TargetHealth, cluster string, addr netip.Addr) bool {
	if v.Cluster != cluster {
		return v.Cluster < cluster
	}
	return v.Address.Less(addr)
}
