package model

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Explanation says, for one service and one client location, which targets
// get traffic and why, in words a human can read. It is computed on demand
// from a Plan, so the engine spends no time on words.
type Explanation struct {
	Service string
	Policy  PolicyKind
	// Site is the cluster whose bucket the client falls in; empty when the
	// client's location is unknown or an entry placed it.
	Site string
	// Entry names the operator's entry that placed the client, when one
	// did: "subnet list entry 198.51.100.0/24 (nets.txt:3)", "map entry
	// continent EU (fence) at meridian.conf:40".
	Entry string
	// Note warns that the client was not placed as described: an xDS
	// node's zone or region that no located cluster is in.
	Note    string
	Mode    RouteMode
	Summary string
	// Capacity says, with capacity spill, how much of its traffic each
	// cluster of the route keeps and why, for every cluster that lost
	// ingress addresses or pods ("eu-west keeps 70%: 3 of 6 pods ready");
	// the Summary ends with the same sentences.
	Capacity   []string
	Priorities []ExplainedPriority
	// Targets lists every target: those with traffic first, by share, then
	// by priority, cluster and address.
	Targets []ExplainedTarget
}

// ExplainedPriority is one priority of the route.
type ExplainedPriority struct {
	Tier           string
	Hosts, Healthy int
	Health, Load   int
	Panic          bool
}

// ExplainedTarget is one target and the reasons for its share.
type ExplainedTarget struct {
	Cluster  string
	Address  string
	Priority int // -1 when the target is not a host in this route
	Weight   uint32
	Share    float64
	Status   string
	Reasons  []string
}

// Explain explains the route of service for client, placed as DNS and
// xDS place it. It reports false when the Plan has no such service.
func (p *Plan) Explain(service string, client Client) (Explanation, bool) {
	s, ok := p.Service(service)
	if !ok {
		return Explanation{}, false
	}
	pl := p.Place(client)
	if e := s.Entry(pl); e >= 0 {
		return p.explain(s, s.EntryRoute(e), -1, describeEntry(s.Policy.Map[e]))
	}
	entry := ""
	if pl.Net >= 0 {
		n := p.Nets[pl.Net]
		entry = "subnet list entry " + n.Prefix.String()
		if n.Source != "" {
			entry += " (" + n.Source + ")"
		}
	}
	e, ok := p.explain(s, pl.Bucket, pl.Bucket, entry)
	e.Note = p.localityNote(client.Locality)
	return e, ok
}

// localityNote says when no located cluster is in a declared locality, so
// that a typo in a node's zone does not pass for a placement.
func (p *Plan) localityNote(l Locality) string {
	if l.Region == "" {
		return ""
	}
	region, zone := false, l.Zone == ""
	for _, s := range p.Sites {
		if s.Locality.Region == l.Region {
			region = true
			zone = zone || s.Locality.Zone == l.Zone
		}
	}
	switch {
	case !region:
		return fmt.Sprintf("no located cluster is in region %s: the nodes are of unknown location", l.Region)
	case !zone:
		return fmt.Sprintf("no located cluster is in zone %s of region %s: the nodes are placed by their region", l.Zone, l.Region)
	}
	return ""
}

// describeEntry names a map entry and where it was written.
func describeEntry(m MapEntry) string {
	if m.Source == "" {
		return m.Describe()
	}
	return m.Describe() + " at " + m.Source
}

// ExplainBucket explains the route of service for the clients of one
// bucket, or with a map, of one route (an index in ServicePlan.Routes).
func (p *Plan) ExplainBucket(service string, bucket int) (Explanation, bool) {
	s, ok := p.Service(service)
	if !ok {
		return Explanation{}, false
	}
	entry := ""
	if j := bucket - len(p.Sites) - 1; j >= 0 && j < len(p.NetLists) {
		entry = "subnet list entries to " + strings.Join(p.NetLists[j], " ")
	}
	if e := bucket - (len(s.Routes) - len(s.Policy.Map)); e >= 0 && e < len(s.Policy.Map) {
		entry = describeEntry(s.Policy.Map[e])
	}
	return p.explain(s, bucket, bucket, entry)
}

// explain explains route (an index in s.Routes) for the clients of a
// bucket (-1: those of a map entry), placed by entry when not empty.
func (p *Plan) explain(s *ServicePlan, route, bucket int, entry string) (Explanation, bool) {
	r := s.Route(route)
	e := Explanation{Service: s.Name, Policy: s.Policy.Kind, Mode: r.Mode, Entry: entry}
	if bucket >= 0 && bucket < len(p.Sites) {
		e.Site = p.Sites[bucket].Cluster
	}
	for _, pr := range r.Priorities {
		e.Priorities = append(e.Priorities, ExplainedPriority{
			Tier: s.tierLabel(pr), Hosts: int(pr.Hosts), Healthy: int(pr.Healthy), Health: int(pr.Health), Load: int(pr.Load), Panic: pr.Panic,
		})
	}
	share := make(map[int]float64, len(r.Shares))
	for _, sh := range r.Shares {
		share[sh.Target] = sh.Fraction
	}
	for i, t := range s.Targets {
		prio := -1
		if gp := r.GroupPriority; int(t.Group) < len(gp) && gp[t.Group] != NoPriority && t.Status != Excluded {
			prio = int(gp[t.Group])
		}
		e.Targets = append(e.Targets, ExplainedTarget{
			Cluster: s.Groups[t.Group].Cluster, Address: t.Address.String(), Priority: prio, Weight: t.Weight,
			Share: share[i], Status: t.Status.String(), Reasons: p.targetReasons(s, t),
		})
	}
	slices.SortStableFunc(e.Targets, func(a, b ExplainedTarget) int {
		return cmp.Or(cmp.Compare(b.Share, a.Share), cmp.Compare(uint(a.Priority), uint(b.Priority)))
	})
	e.Summary = p.summary(s, r, e.Site, entry)
	if s.Policy.SpillMode() == SpillCapacity && r.Mode != NoTargets && r.Mode != FailedClosed {
		e.Capacity = s.capacityReasons(r)
		if len(e.Capacity) > 0 {
			e.Summary += "; " + strings.Join(e.Capacity, "; ")
		}
	}
	return e, true
}

// capacityReasons explains capacity spill for each group of the route that
// lost addresses or pods: the share of its traffic it keeps, min(100,
// overprovisioning*healthy/expected pods), and what it lost.
func (s *ServicePlan) capacityReasons(r *Route) []string {
	var out []string
	for p := range r.Priorities {
		for gi, g := range s.Groups {
			if gi >= len(r.GroupPriority) || int(r.GroupPriority[gi]) != p || g.ExpectedPods == 0 {
				continue
			}
			hosts, live, down := 0, 0, 0
			for _, t := range s.Targets[g.First : g.First+g.N] {
				switch {
				case t.Status == Excluded:
					continue
				case t.Status == Healthy:
					live++
				case t.Cause == CauseDown:
					down++
				}
				hosts++
			}
			if down == 0 && g.HealthyPods == g.ExpectedPods {
				continue
			}
			lost := lostCapacity(g, hosts, live, down)
			if r.Priorities[p].Panic {
				// Its level is below the panic threshold: what it keeps
				// no longer decides, as all its hosts take traffic.
				out = append(out, fmt.Sprintf("%s panics: %s, so its targets get traffic healthy or not", g.Cluster, lost))
				continue
			}
			out = append(out, fmt.Sprintf("%s keeps %d%%: %s", g.Cluster, keeps(s.Policy.SpillOverprovisioning(), g), lost))
		}
	}
	return out
}

// keeps is min(100, overprovisioning*healthy/expected pods) of one group.
func keeps(overprovisioning uint32, g Group) uint64 {
	const most = 1 << 40 // as the engine bounds pods, so the product fits
	return min(100, uint64(overprovisioning)*uint64(min(g.HealthyPods, most))/uint64(min(g.ExpectedPods, most)))
}

// lostCapacity says what a group lost: "1 of 2 ingress addresses down, 6
// of 6 pods ready behind the other", or "3 of 6 pods ready".
func lostCapacity(g Group, hosts, live, down int) string {
	pods := fmt.Sprintf("%d of %d pods ready", g.HealthyPods, g.ExpectedPods)
	switch {
	case live == 0 && down > 0:
		return fmt.Sprintf("%d of %d ingress addresses down, none left to reach its %s", down, hosts, readyPods(g.ReadyPods))
	case live == 0:
		return pods
	case down == 0:
		return pods
	}
	behind := "the other"
	if live > 1 {
		behind = fmt.Sprintf("the other %d", live)
	}
	if len(g.IngressZones) > 0 && g.HealthyPods < g.ReadyPods {
		pods = fmt.Sprintf("%d of %d pods ready in zones with a healthy address,", g.HealthyPods, g.ExpectedPods)
	}
	return fmt.Sprintf("%d of %d ingress addresses down, %s behind %s", down, hosts, pods, behind)
}

func (s *ServicePlan) tierLabel(pr Priority) string {
	if pr.Group < 0 || int(pr.Group) >= len(s.Groups) {
		return "no clusters"
	}
	g := s.Groups[pr.Group]
	switch pr.Tier {
	case TierZone:
		return "same zone " + g.Locality.Zone
	case TierRegion:
		return "same region " + g.Locality.Region
	case TierDistance:
		name := g.Locality.Region
		if name == "" {
			name = "cluster " + g.Cluster
		}
		if g.Location.Known() {
			return fmt.Sprintf("%s, %.0f km", name, pr.DistanceKm)
		}
		return name + ", location unknown"
	case TierOrder:
		return "failover to " + g.Cluster
	case TierListed:
		return "listed cluster " + g.Cluster
	case TierOther:
		return "every other cluster"
	default:
		return "all clusters"
	}
}

func (p *Plan) summary(s *ServicePlan, r *Route, site, entry string) string {
	who := "clients of unknown location"
	switch {
	case entry != "":
		who = "clients of " + entry
	case site != "":
		who = "clients nearest " + site
	}
	fence := strings.HasSuffix(entry, "(fence)") || strings.Contains(entry, "(fence) at ")
	switch r.Mode {
	case NoTargets:
		if fence {
			return who + ": no target in the fence can be used (drained, disabled or absent), and the fence fails closed: no answer"
		}
		return who + ": no target can be used (drained, disabled or absent): no answer"
	case FailedClosed:
		if fence {
			return who + ": no healthy target in the fence, which fails closed: no answer"
		}
		return who + ": no healthy target, and the policy fails closed: no answer"
	case FailedOpen:
		return who + ": no healthy target, so the service fails open: every target"
	}
	var parts []string
	for i, pr := range r.Priorities {
		if pr.Load == 0 {
			continue
		}
		part := fmt.Sprintf("%d%% to priority %d (%s)", pr.Load, i, s.tierLabel(pr))
		if pr.Panic {
			part += " in panic, healthy or not"
		}
		parts = append(parts, part)
	}
	out := who + ": " + strings.Join(parts, ", ")
	if r.Mode == TotalPanic {
		if s.Policy.SpillMode() == SpillCapacity {
			out += "; every priority panics, so load follows expected capacity"
		} else {
			out += "; every priority panics, so load follows host counts"
		}
	}
	return out
}

// targetReasons says why a target has its status and weight.
func (p *Plan) targetReasons(s *ServicePlan, t Target) []string {
	g := s.Groups[t.Group]
	var out []string
	if t.Override >= 0 && int(t.Override) < len(p.Overrides) {
		out = append(out, p.Overrides[t.Override].Describe())
	}
	switch t.Cause {
	case CauseDown:
		out = append(out, "health check: down")
	case CauseNoPods:
		if z := s.addressZone(g, t); z != "" {
			out = append(out, "no ready pods in zone "+z+" of "+g.Cluster)
		} else {
			out = append(out, "no ready pods in "+g.Cluster)
		}
	case CauseZonal:
		z := s.addressZone(g, t)
		out = append(out, fmt.Sprintf("%s in zone %s of %s", readyPods(zonePods(g, z)), z, g.Cluster))
	case CauseNotListed:
		out = append(out, g.Cluster+" is not listed by the service's "+string(s.Policy.Kind)+" policy")
	case CauseStale:
		out = append(out, fmt.Sprintf("discovery lost %s at %s; past the grace period its targets count as unknown",
			g.Cluster, g.LostAt.UTC().Format(time.RFC3339)))
	case CauseExplicitWeight:
		out = append(out, "explicit weight of "+g.Cluster+" spread over its addresses")
	case CauseNone:
		if t.Status == Healthy {
			out = append(out, fmt.Sprintf("%s in %s", readyPods(g.ReadyPods), g.Cluster))
			if live, hosts := s.liveAddresses(g); s.Policy.SpillMode() == SpillCapacity && live < hosts {
				out = append(out, fmt.Sprintf("carried by %d of its %d ingress addresses", live, hosts))
			}
		}
	}
	return out
}

// liveAddresses counts a group's healthy targets and its hosts.
func (s *ServicePlan) liveAddresses(g Group) (live, hosts int) {
	for _, t := range s.Targets[g.First : g.First+g.N] {
		if t.Status != Excluded {
			hosts++
		}
		if t.Status == Healthy {
			live++
		}
	}
	return live, hosts
}

// addressZone returns the zone of a target's address, "" when unknown.
func (s *ServicePlan) addressZone(g Group, t Target) string {
	i, ok := slices.BinarySearchFunc(g.IngressZones, t.Address, func(z AddrZone, a netip.Addr) int { return z.Addr.Compare(a) })
	if !ok {
		return ""
	}
	return g.IngressZones[i].Zone
}

func zonePods(g Group, zone string) int {
	for _, z := range g.ZonePods {
		if z.Zone == zone {
			return z.ReadyPods
		}
	}
	return 0
}

// Describe says what the override does, who made it, until when and why:
// "drain of eu-west by alice until 2026-11-25T14:00:00Z: maintenance".
func (o Override) Describe() string {
	var what string
	switch o.Kind {
	case Drain:
		what = "drain of " + o.Cluster
	case Disable:
		what = "disable of " + o.Address.String()
	case Enable:
		what = "enable of " + o.Address.String()
	case Weight:
		what = fmt.Sprintf("weight %d for %s", o.Weight, o.Cluster)
	case ForceFailover:
		what = "failover order " + strings.Join(o.Order, ", ")
	default:
		what = o.Kind.String()
	}
	if o.Service != "" {
		what += " for " + o.Service
	}
	if o.Author != "" {
		what += " by " + o.Author
	}
	if !o.Expires.IsZero() {
		what += " until " + o.Expires.UTC().Format(time.RFC3339)
	}
	if o.Reason != "" {
		what += ": " + o.Reason
	}
	return what
}

// readyPods counts ready pods in English: "1 ready pod", "3 ready pods".
func readyPods(n int) string {
	if n == 1 {
		return "1 ready pod"
	}
	return fmt.Sprintf("%d ready pods", n)
}
