package weights

import (
	"cmp"
	"maps"
	"math"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// explicitWeightScale keeps an explicit cluster weight divisible over a few
// addresses without losing precision in integer target weights.
const explicitWeightScale = 1000

// Solve decides the Plan for every service that has a policy, as of time at.
// It is a pure function: no I/O, no clock, no randomness, and the same
// inputs give the same Plan, byte for byte.
func Solve(at time.Time, inv model.Inventory, health model.Health, ovr model.Overrides, pol model.Policies) *model.Plan {
	var s Solver
	return s.Solve(at, inv, health, ovr, pol)
}

// Solver solves like Solve, and remembers its last inputs so that the next
// Solve re-solves only the services whose inputs changed. Its result always
// equals Solve's. A Solver is not safe for concurrent use.
//
// It tells what changed by the IDs of the model's lists (model.ListID),
// which change with the list, and whose lists nobody can write: every
// model accessor returns copies. What the model does not identify (the
// overrides, the bias and the subnet list) it compares by content with
// copies of its own.
type Solver struct {
	key     globalKey
	cache   map[string]cachedService
	ctx     solveCtx
	workers []*solveCtx // the other workers of a parallel solve (solveEach)
	procs   int         // the most workers of a parallel solve; 0 is GOMAXPROCS
	// policies is a copy of the policies of key.policies, taken when
	// that list changes: the plans share its maps.
	policies []model.ServicePolicy
	// backends and verdicts hold copies of the backends and verdicts of
	// the services being solved (Inventory.AppendBackendsOf,
	// Health.AppendOf), buffers re-used between solves: the plans keep
	// nothing of them but the backends' slices (a Group's ZonePods...),
	// which the copies made anew.
	backends []model.Backend
	verdicts []model.TargetHealth
}

// globalKey is what every service's plan depends on; when it changes,
// everything is re-solved.
type globalKey struct {
	clusters model.ListID
	stale    []bool
	policies model.ListID
	grace    time.Duration
	active   []model.Override // copies (Overrides.ActiveAt)
	bias     map[string]int   // a copy, once kept
	nets     []model.Net      // a copy, once kept
}

func (k *globalKey) equal(o *globalKey) bool {
	return k.clusters == o.clusters && k.policies == o.policies &&
		k.grace == o.grace && maps.Equal(k.bias, o.bias) && slices.EqualFunc(k.nets, o.nets, netEqual) && slices.Equal(k.stale, o.stale) && slices.EqualFunc(k.active, o.active, model.Override.Equal)
}

// keep makes k's bias and nets copies, so that a caller's write to the
// maps and slices of its Policies is a change the next Solve sees.
func (k *globalKey) keep() {
	k.bias = maps.Clone(k.bias)
	k.nets = slices.Clone(k.nets)
	for i := range k.nets {
		k.nets[i].Clusters = slices.Clone(k.nets[i].Clusters)
	}
}

func netEqual(a, b model.Net) bool {
	return a.Prefix == b.Prefix && a.Source == b.Source && a.List == b.List && slices.Equal(a.Clusters, b.Clusters)
}

// cachedService is a service's plan and the identity of the inputs it came from.
type cachedService struct {
	backends model.ListID
	verdicts model.ListID
	plan     *model.ServicePlan
}

func first[T any](s []T) *T {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}

// Solve decides the Plan as of time at, re-using the plans of services whose
// backends, health verdicts and everything global are unchanged since the
// previous call.
func (s *Solver) Solve(at time.Time, inv model.Inventory, health model.Health, ovr model.Overrides, pol model.Policies) *model.Plan {
	clusters := inv.Clusters()
	grace := pol.StaleGrace
	key := globalKey{
		clusters: inv.ClustersID(), policies: pol.ServicesID(),
		grace: grace, active: ovr.ActiveAt(at),
		bias: pol.Bias, nets: pol.Nets,
	}
	for _, c := range clusters {
		key.stale = append(key.stale, !c.LostAt.IsZero() && !at.Before(c.LostAt.Add(grace)))
	}
	if s.cache == nil || !key.equal(&s.key) {
		if s.cache == nil || key.policies != s.key.policies {
			s.policies = pol.Services()
		}
		s.cache = map[string]cachedService{}
		key.keep()
		s.key = key
		s.ctx.reset(clusters, key.stale, key.active, s.policies, key.bias, key.nets)
	}

	p := &model.Plan{At: at, Sites: s.ctx.sites, Nets: s.ctx.nets, NetLists: s.ctx.netLists, MapNets: s.ctx.mapNets, NetIndex: s.ctx.netIndex, Overrides: key.active}
	policies := s.policies
	p.Services = make([]*model.ServicePlan, len(policies))
	var todo []serviceJob
	need, needVerdicts := 0, 0
	for i, sp := range policies {
		id, verdicts := inv.BackendsID(sp.Service), health.VerdictsID(sp.Service)
		if c, ok := s.cache[sp.Service]; ok && c.backends == id && c.verdicts == verdicts {
			p.Services[i] = c.plan
			continue
		}
		todo = append(todo, serviceJob{index: i, policy: sp, id: id, verdictsID: verdicts})
		need += id.Len()
		needVerdicts += verdicts.Len()
	}
	s.backends = slices.Grow(s.backends[:0], need)
	s.verdicts = slices.Grow(s.verdicts[:0], needVerdicts)
	for k := range todo {
		from := len(s.backends)
		s.backends = inv.AppendBackendsOf(s.backends, todo[k].policy.Service)
		todo[k].backends = s.backends[from:len(s.backends):len(s.backends)]
		from = len(s.verdicts)
		s.verdicts = health.AppendOf(s.verdicts, todo[k].policy.Service)
		todo[k].verdicts = s.verdicts[from:len(s.verdicts):len(s.verdicts)]
	}
	s.solveEach(todo, p.Services)
	for _, j := range todo {
		s.cache[j.policy.Service] = cachedService{backends: j.id, verdicts: j.verdictsID, plan: p.Services[j.index]}
	}
	if len(s.cache) > len(p.Services) {
		for name := range s.cache {
			if _, ok := p.Service(name); !ok {
				delete(s.cache, name)
			}
		}
	}
	p.Version = planVersion(p)
	return p
}

// serviceJob is one service to solve, and its place in Plan.Services.
type serviceJob struct {
	index      int
	policy     model.ServicePolicy
	id         model.ListID // of backends, in the Inventory
	verdictsID model.ListID // in the Health
	backends   []model.Backend
	verdicts   []model.TargetHealth
}

// parallelMin is the number of services each worker must have before Solve
// solves in parallel: one EndpointSlice change re-solves one service, which
// a goroutine would only delay, while a fresh solve of thousands of
// services takes about half as long on two cores.
const parallelMin = 128

// solveChunk is how many services a worker takes at a time.
const solveChunk = 16

// solveEach solves the jobs into out, in parallel on up to GOMAXPROCS
// workers when there are enough of them. Each worker has its own scratch
// and shape cache and shares the world, which is read-only, so the Plan
// is the same byte for byte however the work was split.
func (s *Solver) solveEach(jobs []serviceJob, out []*model.ServicePlan) {
	procs := s.procs
	if procs == 0 {
		procs = runtime.GOMAXPROCS(0)
	}
	n := min(procs, len(jobs)/parallelMin)
	if n <= 1 {
		for _, j := range jobs {
			out[j.index] = s.ctx.service(j.policy, j.backends, j.verdicts)
		}
		return
	}
	for len(s.workers) < n-1 {
		s.workers = append(s.workers, &solveCtx{})
	}
	var next atomic.Int64
	work := func(c *solveCtx) {
		for {
			from := int(next.Add(solveChunk)) - solveChunk
			if from >= len(jobs) {
				return
			}
			for _, j := range jobs[from:min(from+solveChunk, len(jobs))] {
				out[j.index] = c.service(j.policy, j.backends, j.verdicts)
			}
		}
	}
	var wg sync.WaitGroup
	for _, c := range s.workers[:n-1] {
		if c.solveWorld != s.ctx.solveWorld {
			c.solveWorld, c.shapes, c.maps = s.ctx.solveWorld, map[string]*routeShape{}, map[mapID]model.MapIndex{}
		}
		wg.Go(func() { work(c) })
	}
	work(&s.ctx)
	wg.Wait()
}

// solveWorld is what every service of one Solve shares: the clusters,
// their sites and distances, and the active overrides indexed for lookup.
// It is built by reset and only read afterwards, so that workers solving
// services in parallel share it.
type solveWorld struct {
	clusters []model.Cluster
	stale    []bool
	sites    []model.Site
	nets     []model.Net     // the subnet list, sorted by prefix
	netLists [][]string      // its distinct cluster lists, each a bucket after the sites'
	mapNets  []netip.Prefix  // every map's subnet prefixes, sorted, unique
	netIndex *model.NetIndex // nets and mapNets indexed, built with them
	siteOf   []int           // per site: index of its cluster
	distKm   [][]float64     // per site, per cluster: distance, -1 when the cluster has no location
	// walk lists, per site, every cluster index from the nearest to the
	// farthest (unlocated last), ties by region name, then cluster name,
	// each with its tier class for the site's clients: classZone,
	// classRegion, or its region id. Walking it visits each region first at
	// its nearest cluster, in tier order, so geo tiering needs no sorting
	// per bucket.
	walk      [][]walkStep
	nearTiers [][]walkStep // per site: its zone's and region's clusters, nearest first
	// runs lists, per site, the other regions in the order of their nearest
	// clusters; run r's clusters, nearest first, are the walk positions
	// runPos[b][r.start:r.end].
	runs   [][]classRun
	runPos [][]int32
	nZones int
	// clusterHash is, per cluster, what hashBuf.groupHead appends for a
	// group of that cluster.
	clusterHash [][]byte
	active      []model.Override

	clusterDrain map[string]int   // cluster -> override index (drain for every service)
	scoped       map[scopeKey]int // (service, cluster) -> drain or weight override index
	byAddr       map[netip.Addr][]int
	failover     map[string]int // service -> failover override index

	// Regions and zones as small integers, so that per-bucket work compares
	// numbers: region[i] is cluster i's region id (a cluster without a region
	// is a region of its own), zone[i] its zone id or -1, regionKey the names.
	region    []int32
	hasRegion []bool
	zone      []int32
	regionKey []string
}

// solveCtx solves services one at a time: the shared world, and scratch
// space reused between services and buckets. Each worker of a parallel
// Solve has its own.
type solveCtx struct {
	*solveWorld

	facts     []groupFacts
	zonePods  []int   // per address of the current backend: its zone's ready pods
	zoneAddrs []int   // per address of the current backend: addresses in its zone
	zoneIdx   []int   // per address of the current backend: its zone's index in ZonePods
	zoneLive  []int   // per zone of the current backend: its healthy addresses
	zoneHost  []int   // per zone of the current backend: its addresses that are hosts
	groupOf   []int   // per cluster index: the current service's group, -1 if none
	hostGroup []int32 // per cluster index: the current service's group if it has hosts, else -1
	// Per region id and per zone id, over the current service's groups
	// with hosts: how many, and their hosts and capacity units summed.
	regionCnt, zoneCnt     []int
	regionHosts, zoneHosts []levelHosts
	regionUnits, zoneUnits []levelHosts
	hits                   []runHit
	groupRegion            []int32 // per group: its region id, or len(regionKey) for none
	rank                   []uint8 // per region id: its priority in the current row
	lost                   []int32 // the groups with hosts whose cluster the inventory lacks
	hasLoad                [model.NoPriority + 1]bool
	shareTotal             [model.NoPriority]uint64
	shapeScratch           routeShape   // rows under construction (see shape)
	levels                 []levelHosts // per priority of a row: what the spill arithmetic counts
	counts                 []levelHosts // per priority of a row: its hosts
	spill                  spillResult
	hash                   hashBuf
	shapeKey               []byte
	shapeHash              uint64                   // of the current service's route shape
	shapes                 map[string]*routeShape   // by layout and policy, within one world
	maps                   map[mapID]model.MapIndex // compiled maps, within one world
}

type scopeKey struct{ service, cluster string }

// walkStep is one cluster of a site's walk from the nearest: its index and
// its tier class for the site's clients.
type walkStep struct{ ci, cls int32 }

// classRun is one region of a site's walk (see solveCtx.runs).
type classRun struct{ cls, start, end int32 }

// runHit is a region's nearest cluster with hosts for one bucket.
type runHit struct{ pos, gi, ci, cls int32 }

const (
	classZone   = -1 // in the site's zone
	classRegion = -2 // in the site's region, outside its zone
)

// reset builds the world of a Solve: the Solver's copies of the policies,
// bias and subnet list, which the Plan may share.
func (c *solveCtx) reset(clusters []model.Cluster, stale []bool, active []model.Override, policies []model.ServicePolicy, bias map[string]int, nets []model.Net) {
	c.solveWorld = &solveWorld{clusters: clusters, stale: stale, active: active,
		clusterDrain: map[string]int{}, scoped: map[scopeKey]int{}, byAddr: map[netip.Addr][]int{}, failover: map[string]int{}}
	c.shapes, c.maps = map[string]*routeShape{}, map[mapID]model.MapIndex{}

	regions, zones := map[string]int32{}, map[model.Locality]int32{}
	for _, cl := range clusters {
		key := cl.Locality.Region
		if key == "" {
			key = "\x00" + cl.Name
		}
		id, ok := regions[key]
		if !ok {
			id = int32(len(c.regionKey))
			regions[key] = id
			c.regionKey = append(c.regionKey, key)
		}
		zid := int32(-1)
		if cl.Locality.Zone != "" {
			z, ok := zones[cl.Locality]
			if !ok {
				z = int32(len(zones))
				zones[cl.Locality] = z
			}
			zid = z
		}
		c.region = append(c.region, id)
		c.hasRegion = append(c.hasRegion, cl.Locality.Region != "")
		c.zone = append(c.zone, zid)
	}
	for i, cl := range clusters {
		if p, ok := cl.Location.Point(); ok {
			c.sites = append(c.sites, model.Site{Cluster: cl.Name, Locality: cl.Locality, Location: p, Bias: bias[cl.Name]})
			c.siteOf = append(c.siteOf, i)
		}
	}
	c.nets, c.netLists = compileNets(nets)
	for _, sp := range policies {
		for _, e := range sp.Map {
			for _, n := range e.Subnets {
				c.mapNets = append(c.mapNets, n.Masked())
			}
		}
	}
	slices.SortFunc(c.mapNets, comparePrefix)
	c.mapNets = slices.Compact(c.mapNets)
	c.netIndex = model.NewNetIndex(c.nets, c.mapNets)
	for _, si := range c.siteOf {
		row := make([]float64, len(clusters))
		site, _ := clusters[si].Location.Point()
		for j, cl := range clusters {
			row[j] = -1
			if p, ok := cl.Location.Point(); ok {
				row[j] = site.DistanceKm(p)
			}
		}
		c.distKm = append(c.distKm, row)
	}
	seen, stamp := make([]uint32, len(c.regionKey)), uint32(0) // per region id: stamp when seen in this pass
	// One slab for every site's walk, another for the zone and region
	// clusters, which are fewer.
	order := make([]int32, len(clusters))
	walks := make([]walkStep, len(c.sites)*len(clusters))
	var nears []walkStep
	c.walk, c.nearTiers = make([][]walkStep, len(c.sites)), make([][]walkStep, len(c.sites))
	nearStart := make([]int, len(c.sites)+1)
	for b := range c.sites {
		for i := range order {
			order[i] = int32(i)
		}
		dist := c.distKm[b]
		key := func(i int32) float64 {
			if dist[i] < 0 {
				return math.Inf(1)
			}
			return dist[i]
		}
		slices.SortStableFunc(order, func(x, y int32) int {
			if d := cmp.Compare(key(x), key(y)); d != 0 {
				return d
			}
			return cmp.Compare(c.regionKey[c.region[x]], c.regionKey[c.region[y]])
		})
		site := c.siteOf[b]
		walk := walks[b*len(clusters) : (b+1)*len(clusters) : (b+1)*len(clusters)]
		for k, ci := range order {
			cls := c.region[ci]
			switch {
			case c.zone[site] >= 0 && c.zone[ci] == c.zone[site]:
				cls = classZone
			case c.hasRegion[site] && c.region[ci] == c.region[site]:
				cls = classRegion
			}
			walk[k] = walkStep{ci: ci, cls: cls}
			if cls < 0 {
				nears = append(nears, walk[k])
			}
		}
		c.walk[b] = walk
		nearStart[b+1] = len(nears)
	}
	for b := range c.sites {
		c.nearTiers[b] = nears[nearStart[b]:nearStart[b+1]:nearStart[b+1]]
	}
	c.nZones = len(zones)
	var heads hashBuf
	size := 0
	for _, cl := range clusters {
		size += 6*8 + 1 + len(cl.Name) + len(cl.Locality.Region) + len(cl.Locality.Zone)
	}
	heads.b = make([]byte, 0, size)
	headEnd := make([]int, len(clusters))
	for i, cl := range clusters {
		heads.groupHead(&model.Group{Cluster: cl.Name, Locality: cl.Locality, Location: cl.Location})
		headEnd[i] = len(heads.b)
	}
	c.clusterHash = make([][]byte, len(clusters))
	for i := range clusters {
		from := 0
		if i > 0 {
			from = headEnd[i-1]
		}
		c.clusterHash[i] = heads.b[from:headEnd[i]:headEnd[i]]
	}
	c.runs, c.runPos = make([][]classRun, len(c.sites)), make([][]int32, len(c.sites))
	posSlab := make([]int32, len(c.sites)*len(clusters))
	var runSlab []classRun
	var others []int32 // a site's other regions, by their nearest cluster
	runStart := make([]int, len(c.sites)+1)
	for b, walk := range c.walk {
		others = others[:0]
		stamp++
		for _, w := range walk {
			if w.cls >= 0 && seen[w.cls] != stamp {
				seen[w.cls] = stamp
				others = append(others, w.cls)
			}
		}
		pos := posSlab[b*len(clusters) : b*len(clusters) : (b+1)*len(clusters)]
		for _, r := range others {
			start := int32(len(pos))
			for k, w := range walk {
				if w.cls == r {
					pos = append(pos, int32(k))
				}
			}
			runSlab = append(runSlab, classRun{cls: r, start: start, end: int32(len(pos))})
		}
		c.runPos[b] = pos
		runStart[b+1] = len(runSlab)
	}
	for b := range c.walk {
		c.runs[b] = runSlab[runStart[b]:runStart[b+1]:runStart[b+1]]
	}
	for i, o := range active {
		switch o.Kind {
		case model.Drain:
			if o.Service == "" {
				keepPreferred(c.clusterDrain, o.Cluster, i, active)
			} else {
				keepPreferred(c.scoped, scopeKey{o.Service, o.Cluster}, i, active)
			}
		case model.Weight:
			keepPreferred(c.scoped, scopeKey{o.Service, o.Cluster}, i, active)
		case model.Disable, model.Enable:
			c.byAddr[o.Address] = append(c.byAddr[o.Address], i)
		case model.ForceFailover:
			keepPreferred(c.failover, o.Service, i, active)
		}
	}
}

// compileNets sorts a subnet list by prefix (address, then length; a later
// entry for the same prefix replaces an earlier one) and numbers its
// distinct cluster lists in order of first use.
func compileNets(in []model.Net) ([]model.Net, [][]string) {
	if len(in) == 0 {
		return nil, nil
	}
	nets := make([]model.Net, len(in))
	for i, n := range in {
		n.Prefix = n.Prefix.Masked()
		nets[i] = n
	}
	slices.SortStableFunc(nets, func(a, b model.Net) int { return comparePrefix(a.Prefix, b.Prefix) })
	out := nets[:0]
	for _, n := range nets {
		if len(out) > 0 && out[len(out)-1].Prefix == n.Prefix {
			out[len(out)-1] = n
			continue
		}
		out = append(out, n)
	}
	var lists [][]string
	for i := range out {
		j := slices.IndexFunc(lists, func(l []string) bool { return slices.Equal(l, out[i].Clusters) })
		if j < 0 {
			j = len(lists)
			lists = append(lists, out[i].Clusters)
		}
		out[i].List = j
	}
	return out, lists
}

// comparePrefix orders prefixes by address, then length.
func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// keepPreferred records override i under k unless an override already there wins.
func keepPreferred[K comparable](m map[K]int, k K, i int, active []model.Override) {
	if j, ok := m[k]; !ok || preferred(active[i], active[j]) {
		m[k] = i
	}
}

// preferred reports whether a wins over b when both are equally specific:
// the newer one, or at the same instant the one that sends less traffic.
func preferred(a, b model.Override) bool {
	if c := a.Created.Compare(b.Created); c != 0 {
		return c > 0
	}
	return restrictiveness(a) > restrictiveness(b)
}

func restrictiveness(o model.Override) int {
	switch o.Kind {
	case model.Drain, model.Disable:
		return 2
	case model.Weight:
		return 1
	}
	return 0
}

// clusterIndex finds a cluster by name, -1 when the inventory lacks it.
func (c *solveCtx) clusterIndex(name string) int {
	i, ok := slices.BinarySearchFunc(c.clusters, name, func(cl model.Cluster, n string) int { return cmp.Compare(cl.Name, n) })
	if !ok {
		return -1
	}
	return i
}

// addressOverride returns the override of addr that applies to service:
// one naming the service wins over one for every service.
func (c *solveCtx) addressOverride(service string, addr netip.Addr) int {
	best := -1
	for _, i := range c.byAddr[addr] {
		o := c.active[i]
		if o.Service != "" && o.Service != service {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := c.active[best]
		if (o.Service != "") != (b.Service != "") {
			if o.Service != "" {
				best = i
			}
			continue
		}
		if preferred(o, b) {
			best = i
		}
	}
	return best
}
