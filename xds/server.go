package xds

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"net"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"
	"unique"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	sotw "github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	xdsserver "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meridian-gtm/meridian/internal/acceptretry"
	"github.com/meridian-gtm/meridian/model"
)

// Config is what a Server needs.
type Config struct {
	Classifier Classifier
	Options    Options
	Logger     *slog.Logger
	// Metrics, when set, counts clients, pushes, NACKs and ACK delays.
	Metrics *Metrics
	// TLS, when set, serves xDS over TLS (with ClientAuth for mTLS).
	TLS *tls.Config
	// Limits bound what clients may hold: connections, streams, pings,
	// node groups. Zero fields take the defaults (see Limits).
	Limits Limits
}

// Server is Meridian's ADS server. It keeps each node group's (role ×
// locality) listeners, routes and clusters in linear caches of its own,
// and every group's endpoints in one linear cache, so that a change wakes
// only the streams that watch what changed, and each resource is encoded
// once, when rendered, for the change check and every stream that gets it
// (see publish).
type Server struct {
	cfg       Config
	epoch     string // distinguishes this process's versions from any other's
	endpoints *cache.LinearCache
	// groupCaches hold each group's listeners, routes and clusters, by
	// group key; the router sends each watch to its group's.
	cachesMu    sync.RWMutex
	groupCaches map[string]*typeCaches
	cachesMade  uint64 // counts the typeCaches made, for their versions
	ads         xdsserver.Server
	// encodings are the responses' encodings that the streams share,
	// over every listener's gRPC server (see wireCodec).
	encodings *sharedEncodings

	// mu guards the Plan, the options and the groups: SetPlan holds it
	// while it renders. Callers that need both take mu before smu.
	mu   sync.Mutex
	plan *model.Plan
	// optionsSeq counts SetOptions calls: groups rendered with older
	// options are rendered in full again.
	optionsSeq uint64
	groups     map[Group]*groupState

	// smu guards what the streams' requests and responses touch, so that
	// ACKs and pushes do not wait while a Plan is rendered.
	smu     sync.Mutex
	planAt  time.Time // when plan was set
	planSeq uint64    // counts plans, to match ACKs with the plan they ACK
	streams map[int64]*stream
	nacks   []NACK // the latest, oldest first
	// sweep, when set, fires when the oldest idle group's grace ends.
	sweep *time.Timer

	// tamper, when set by tests, alters resources after they are
	// rendered, to make a client reject them; it turns off the reuse of
	// unchanged services, so that it sees every resource.
	tamper func(*Resources)
	// refreshed, when set by tests, is called on each render of a group.
	refreshed func()
}

// stream is what the server remembers of one xDS stream.
type stream struct {
	node  string
	group Group
	// wire stands in for the client's node in every request of the
	// stream that reaches the caches: it names the group the stream was
	// placed in, whatever the node says later. The group's streams share
	// it.
	wire *core.Node
	// sent is the latest response of each type, with its nonce: a slice,
	// not a map, as a stream has at most four types and there are
	// thousands of streams.
	sent []sent
}

// groupState is what the server keeps of one node group.
type groupState struct {
	streams   int
	idleSince time.Time // when streams last fell to 0
	// stale is set when a Plan or options came while the group had no
	// stream, and its resources were not rendered again.
	stale bool
	// cache is what it was last rendered from and into.
	cache groupCache
	// wire is the node its streams' requests carry to the caches.
	wire *core.Node
}

type sent struct {
	nonce   string
	typeURL string
	version string
	planSeq uint64
	acked   bool
}

// NACK is a response an xDS client rejected.
type NACK struct {
	At      time.Time
	Node    string
	Group   string
	TypeURL string
	Version string // the version rejected
	Detail  string // the client's error
}

// maxNACKs bounds the NACKs kept for the API.
const maxNACKs = 256

// New returns a Server with no Plan; streams wait until SetPlan.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	epoch := strconv.FormatInt(time.Now().UnixNano(), 36)
	cfg.Limits = cfg.Limits.withDefaults()
	s := &Server{
		cfg:       cfg,
		epoch:     epoch,
		groups:    map[Group]*groupState{},
		streams:   map[int64]*stream{},
		encodings: newSharedEncodings(),
	}
	s.groupCaches = map[string]*typeCaches{}
	s.endpoints = cache.NewLinearCache(resource.EndpointType, cache.WithVersionPrefix(epoch+"-"), cache.WithLogger(cacheLogger{cfg.Logger}))
	mux := &cache.MuxCache{
		Classify:      func(r *cache.Request) string { return classify(r.GetTypeUrl()) },
		ClassifyDelta: func(r *cache.DeltaRequest) string { return classify(r.GetTypeUrl()) },
		Caches:        map[string]cache.Cache{"eds": s.endpoints, "group": groupRouter{s}},
	}
	// Ordered ADS: one response channel per stream, read with a plain
	// select, where the unordered mode keeps a channel per type and a
	// reflect.Select over them (20 MB of heap at 10,000 streams). Each
	// watch answers once before it is renewed, so the channel, sized for
	// every type, never fills.
	s.ads = xdsserver.NewServer(context.Background(), mux, s.callbacks(), sotw.WithOrderedADS())
	return s
}

func classify(typeURL string) string {
	if typeURL == resource.EndpointType {
		return "eds"
	}
	return "group"
}

// groupHash keys the caches by node group. The nodes it sees are
// streams' wire nodes, which say their group plainly.
type groupHash struct{}

func (groupHash) ID(n *core.Node) string { return Classifier{}.GroupOf(n).String() }

// SetPlan renders p for every group that has streams and publishes it.
// A group without streams is rendered again only if a stream joins it
// before it is dropped, so that a Plan costs what the connected groups
// need, however many came and went.
func (s *Server) SetPlan(p *model.Plan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plan = p
	s.smu.Lock()
	s.planAt = time.Now()
	s.planSeq++
	s.smu.Unlock()
	s.refreshAll()
}

// refreshAll renders every group that has streams and marks the others
// stale. Groups are rendered in parallel, one worker per CPU: a group's
// refresh touches only its own state and caches (the endpoints cache locks
// itself), and a Plan that moves every service costs about as much in
// each group. Callers hold s.mu.
func (s *Server) refreshAll() {
	work := make(chan Group)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(s.groups)) {
		wg.Go(func() {
			for g := range work {
				s.refresh(g)
			}
		})
	}
	for g, gs := range s.groups {
		if gs.streams > 0 {
			work <- g
		} else {
			gs.stale = true
		}
	}
	close(work)
	wg.Wait()
}

// SetOptions changes the per-service settings (on reload) and republishes.
func (s *Server) SetOptions(o Options) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Options = o
	s.optionsSeq++
	s.refreshAll()
}

// NACKs returns the latest rejected responses, oldest first.
func (s *Server) NACKs() []NACK {
	s.smu.Lock()
	defer s.smu.Unlock()
	return append([]NACK(nil), s.nacks...)
}

// refresh renders the plan for g into the caches. Only the services whose
// ServicePlan changed since the group was last rendered are rendered again
// (a ServicePlan's Hash covers all it decides), so a Plan that moves one
// service's shares costs about that service, not the group; and of those,
// only the resources that differ for this group are built, validated and
// encoded (see buildService), so a Plan that moves every service but
// leaves the group's endpoints as they were costs little more. Unchanged
// resource types keep their versions, and unchanged endpoints are not
// touched, so clients hear only of what changed: when only endpoints move,
// listeners, routes and clusters are not published again. Changes go out
// make-before-break, in the order Envoy recommends for ADS: clusters are
// added (old ones kept), then endpoints, then listeners and routes that
// may refer to the new clusters, and only then are clusters and endpoints
// no longer used removed. Callers hold s.mu.
func (s *Server) refresh(g Group) {
	if s.plan == nil {
		return
	}
	if s.refreshed != nil {
		s.refreshed()
	}
	gs := s.groups[g]
	c := &gs.cache
	if c.services == nil {
		c.services = map[string]*renderedService{}
	}
	place := nodePlacement(s.plan, g)
	if !c.valid || c.options != s.optionsSeq || c.place != place || !slices.Equal(c.sites, s.plan.Sites) || s.tamper != nil {
		// Render every service again: the group's placement or the
		// options changed, or a test alters what is rendered.
		c.gen++
		c.valid, c.options, c.place, c.sites = true, s.optionsSeq, place, slices.Clone(s.plan.Sites)
		c.shared = nil
	}
	c.seq++

	// Render what changed, and validate it before anything is published.
	var fresh Resources
	var changed []*renderedService // new renderings, in Plan order
	var olds []*renderedService    // what each replaces, or nil
	var invalid []error
	kept, added := 0, 0
	for _, sp := range s.plan.Services {
		old := c.services[sp.Name]
		if old != nil {
			old.seen = c.seq
			if old.gen == c.gen && sp.Hash != 0 && old.hash == sp.Hash {
				kept++
				continue
			}
		} else {
			added++
		}
		var prev *serviceResources
		if old != nil && old.gen == c.gen {
			prev = &old.res
		}
		sr, err := buildService(sp, place, g, s.cfg.Options, prev)
		if err != nil {
			invalid = append(invalid, err)
			continue
		}
		if sr.kept(prev) {
			// The ServicePlan changed, but not what the group gets
			// of it (say, a cluster drained that the group's
			// endpoints do not reach).
			old.hash = sp.Hash
			kept++
			continue
		}
		fresh.addChanged(sr, prev)
		changed = append(changed, &renderedService{name: sp.Name, hash: sp.Hash, gen: c.gen, seen: c.seq, res: sr})
		olds = append(olds, old)
	}
	var removed []*renderedService // sorted by name
	if len(c.services)+added > len(s.plan.Services) {
		for _, rs := range c.services {
			if rs.seen != c.seq {
				removed = append(removed, rs)
			}
		}
		slices.SortFunc(removed, func(a, b *renderedService) int { return cmp.Compare(a.name, b.name) })
	}
	namesChanged := added > 0 || len(removed) > 0
	var shared *sharedResources
	if namesChanged || c.shared == nil {
		shared = &sharedResources{
			listeners: sharedListeners(g, s.cfg.Options), routes: sharedRoutes(s.plan.Services, g, s.cfg.Options),
			hashListeners: map[string]uint64{}, hashRoutes: map[string]uint64{},
		}
		fresh.Listeners = append(fresh.Listeners, shared.listeners...)
		fresh.Routes = append(fresh.Routes, shared.routes...)
	}
	if s.tamper != nil {
		s.tamper(&fresh)
	}
	if err := errors.Join(append(invalid, fresh.validate())...); err != nil {
		// A bug, never a client's fault: keep serving the last good
		// resources, and render the group in full next time.
		s.cfg.Logger.Error("xds resources failed validation; keeping the last ones", "group", g.String(), "err", err)
		c.valid = false
		return
	}

	// What changed, resource by resource: each is encoded once, here,
	// and what changed goes to the caches as its encoding (see publish).
	cds, eds, lds, rds := map[string]types.Resource{}, map[string]types.Resource{}, map[string]types.Resource{}, map[string]types.Resource{}
	for i, n := range changed {
		var o renderedService
		if olds[i] != nil {
			o = *olds[i]
		}
		n.hashes.cluster = publishUnlessKept(cds, n.res.cluster.Name, n.res.cluster, o.res.cluster, o.hashes.cluster)
		if n.res.endpointsHash != o.res.endpointsHash {
			eds[n.res.eds] = n.res.endpoints // already encoded (see buildService)
		}
		if n.res.listener != nil {
			n.hashes.listener = publishUnlessKept(lds, n.res.listener.Name, n.res.listener, o.res.listener, o.hashes.listener)
		}
		if n.res.route != nil {
			n.hashes.route = publishUnlessKept(rds, n.res.route.Name, n.res.route, o.res.route, o.hashes.route)
		}
		c.services[n.name] = n
	}
	for _, rs := range removed {
		delete(c.services, rs.name)
	}
	var ldsGone, rdsGone, cdsGone, edsGone []string
	if shared != nil {
		old := c.shared
		if old == nil {
			old = &sharedResources{}
		}
		for _, l := range shared.listeners {
			shared.hashListeners[l.Name] = publish(lds, l.Name, l, old.hashListeners[l.Name])
		}
		for _, r := range shared.routes {
			shared.hashRoutes[r.Name] = publish(rds, r.Name, r, old.hashRoutes[r.Name])
		}
		ldsGone = appendGone(ldsGone, old.hashListeners, shared.hashListeners)
		rdsGone = appendGone(rdsGone, old.hashRoutes, shared.hashRoutes)
		c.shared = shared
	}
	for _, rs := range removed {
		cdsGone = append(cdsGone, rs.res.cluster.Name)
		edsGone = append(edsGone, rs.res.eds)
		if rs.res.listener != nil {
			ldsGone = append(ldsGone, rs.res.listener.Name)
		}
		if rs.res.route != nil {
			rdsGone = append(rdsGone, rs.res.route.Name)
		}
	}

	// Publish: clusters first, the old ones kept; then endpoints, then
	// listeners and routes; then what is gone.
	tc := s.cachesOf(g.String())
	if tc == nil {
		return
	}
	key := g.String()
	s.update(key, tc.cds, cds, nil)
	s.update(key, s.endpoints, eds, nil)
	s.update(key, tc.lds, lds, ldsGone)
	s.update(key, tc.rds, rds, rdsGone)
	s.update(key, tc.cds, nil, cdsGone)
	s.update(key, s.endpoints, nil, edsGone)
}

// typeCaches are one group's listeners, routes and clusters, each type
// in a linear cache: it marshals a resource once for all the streams that
// get it, sends a stream only what it watches (of the full-state types,
// all of them), and serves both state-of-the-world and delta streams.
type typeCaches struct{ lds, rds, cds *cache.LinearCache }

// cachesOf returns the caches of the group keyed key, nil if it has none.
func (s *Server) cachesOf(key string) *typeCaches {
	s.cachesMu.RLock()
	defer s.cachesMu.RUnlock()
	return s.groupCaches[key]
}

// makeCaches gives a new group its caches. Their versions start with the
// process's epoch and a count of the caches made, so that a client never
// takes a version of a group dropped earlier for the current one's.
// Callers hold s.mu.
func (s *Server) makeCaches(key string) {
	s.cachesMade++
	prefix := fmt.Sprintf("%s-%d-", s.epoch, s.cachesMade)
	opts := []cache.LinearCacheOption{cache.WithVersionPrefix(prefix), cache.WithLogger(cacheLogger{s.cfg.Logger})}
	tc := &typeCaches{
		lds: cache.NewLinearCache(resource.ListenerType, opts...),
		rds: cache.NewLinearCache(resource.RouteType, opts...),
		cds: cache.NewLinearCache(resource.ClusterType, opts...),
	}
	s.cachesMu.Lock()
	s.groupCaches[key] = tc
	s.cachesMu.Unlock()
}

// cacheKeys are the keys of the groups that have caches, for tests.
func (s *Server) cacheKeys() []string {
	s.cachesMu.RLock()
	defer s.cachesMu.RUnlock()
	return slices.Collect(maps.Keys(s.groupCaches))
}

// watches counts the open listener, route and cluster watches of the
// group keyed key, for tests.
func (s *Server) watches(key string) int {
	tc := s.cachesOf(key)
	if tc == nil {
		return 0
	}
	return tc.lds.NumCacheWatches() + tc.rds.NumCacheWatches() + tc.cds.NumCacheWatches()
}

// groupRouter sends each listener, route and cluster watch to the caches
// of the stream's group (its wire node says which).
type groupRouter struct{ s *Server }

func (r groupRouter) cacheFor(n *core.Node, typeURL string) (*cache.LinearCache, error) {
	key := groupHash{}.ID(n)
	tc := r.s.cachesOf(key)
	if tc == nil {
		return nil, fmt.Errorf("no resources for group %s", key)
	}
	switch typeURL {
	case resource.ListenerType:
		return tc.lds, nil
	case resource.RouteType:
		return tc.rds, nil
	case resource.ClusterType:
		return tc.cds, nil
	}
	return nil, fmt.Errorf("no resources of type %s", typeURL)
}

func (r groupRouter) CreateWatch(req *cache.Request, sub cache.Subscription, out chan cache.Response) (func(), error) {
	c, err := r.cacheFor(req.GetNode(), req.GetTypeUrl())
	if err != nil {
		return nil, err
	}
	return c.CreateWatch(req, sub, out)
}

func (r groupRouter) CreateDeltaWatch(req *cache.DeltaRequest, sub cache.Subscription, out chan cache.DeltaResponse) (func(), error) {
	c, err := r.cacheFor(req.GetNode(), req.GetTypeUrl())
	if err != nil {
		return nil, err
	}
	return c.CreateDeltaWatch(req, sub, out)
}

func (groupRouter) Fetch(context.Context, *cache.Request) (cache.Response, error) {
	return nil, errors.New("xds: fetch is not served")
}

// groupCache is what a group was last rendered from and into.
type groupCache struct {
	valid   bool   // false: render every service again
	gen     uint64 // renderings of an older generation are not reused
	options uint64 // the Server's optionsSeq it was rendered with
	place   model.Placement
	sites   []model.Site
	seq     uint64 // counts refreshes, to tell the services gone from the Plan

	services map[string]*renderedService // by service name
	shared   *sharedResources
}

// renderedService is one service's resources as last rendered for a group.
type renderedService struct {
	name   string
	hash   uint64 // the ServicePlan's Hash
	gen    uint64
	seen   uint64 // the refresh that last found the service in the Plan
	res    serviceResources
	hashes resourceHash
}

// resourceHash holds the hash of the encoding of a service's cluster,
// listener and route (see publish), 0 for one it does not have; the
// endpoints' is serviceResources.endpointsHash.
type resourceHash struct{ cluster, listener, route uint64 }

// sharedResources are a group's listeners and routes that belong to no
// one service, with the hash of each one's encoding, by name (a gateway's
// listener and route configuration share a name).
type sharedResources struct {
	listeners                 []*listener.Listener
	routes                    []*route.RouteConfiguration
	hashListeners, hashRoutes map[string]uint64
}

// update changes one cache's resources, if anything changed.
func (s *Server) update(key string, c *cache.LinearCache, update map[string]types.Resource, remove []string) {
	if len(update) == 0 && len(remove) == 0 {
		return
	}
	if err := c.UpdateResources(update, remove); err != nil {
		s.cfg.Logger.Error("xds cache update", "group", key, "err", err)
	}
}

// appendGone appends the names in old that are not in current.
func appendGone(gone []string, old, current map[string]uint64) []string {
	for name := range old {
		if _, ok := current[name]; !ok {
			gone = append(gone, name)
		}
	}
	return gone
}

// publish encodes m deterministically and, if the encoding's hash differs
// from old, the hash of what the cache holds, adds it to update under
// name. It returns the hash.
//
// The cache is given the encoding, not m: an empty message of m's type
// that holds it as unknown fields, which proto.Marshal copies out as they
// are. go-control-plane marshals each resource it sends; so a resource is
// encoded once, for the change check and for every stream, and goes out
// exactly as hashed; the ones that did not change are encoded into a
// pooled buffer and dropped. Endpoints, which change most, are encoded
// and hashed the same way by buildService, from their assignment.
func publish(update map[string]types.Resource, name string, m proto.Message, old uint64) uint64 {
	bp := encodeBufs.Get().(*[]byte)
	defer encodeBufs.Put(bp)
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend((*bp)[:0], m)
	if err != nil {
		panic(err) // a resource the builders made that does not encode: a bug
	}
	*bp = b
	h := maphash.Bytes(encodingSeed, b)
	if h != old {
		update[name] = wireMessage(m.ProtoReflect().New().Interface(), bytes.Clone(b))
	}
	return h
}

// wireMessage returns empty, an empty message, holding the encoding b as
// its unknown fields, which proto.Marshal writes out as they are.
func wireMessage[T proto.Message](empty T, b []byte) T {
	empty.ProtoReflect().SetUnknown(b)
	return empty
}

// publishUnlessKept is publish for a resource that buildService may have
// kept from the last rendering (was): a kept one keeps its old hash and is
// neither encoded nor published again.
func publishUnlessKept[T proto.Message](update map[string]types.Resource, name string, m, was T, old uint64) uint64 {
	if any(m) == any(was) {
		return old
	}
	return publish(update, name, m, old)
}

var (
	encodeBufs   = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
	encodingSeed = maphash.MakeSeed()
)

func toResources[T types.Resource](xs []T) []types.Resource {
	out := make([]types.Resource, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// join places a new stream in a group on its first request, rendering
// the group's resources if it is new, so that its watches can be
// answered. Callers hold s.mu.
func (s *Server) join(id int64, n *core.Node) *stream {
	s.smu.Lock()
	st := s.streams[id]
	s.smu.Unlock()
	if st == nil {
		g := s.place(s.cfg.Classifier.GroupOf(n))
		gs := s.groups[g]
		gs.streams++
		if gs.stale {
			gs.stale = false
			s.refresh(g)
		}
		st = &stream{node: n.GetId(), group: g, wire: gs.wire}
		s.smu.Lock()
		s.streams[id] = st
		s.smu.Unlock()
		s.cfg.Metrics.connected(g.Role, 1)
	}
	return st
}

// place returns the group a node of group want joins, creating it if
// needed. Groups are capped at Limits.MaxGroups: beyond it, a node joins
// the group of its region, or else the group of unknown location of its
// role, which always exists (so there are at most MaxGroups plus one per
// role). To make room, the group idle longest is dropped first. A locality
// longer than maxLocality bytes counts as unknown. Callers hold s.mu.
func (s *Server) place(want Group) Group {
	if len(want.Region) > maxLocality || len(want.Zone) > maxLocality {
		want.Region, want.Zone = "", ""
	}
	region, unknown := Group{Role: want.Role, Region: want.Region}, Group{Role: want.Role}
	candidates := []Group{want}
	if region != want && region != unknown {
		candidates = append(candidates, region)
	}
	if unknown != want {
		candidates = append(candidates, unknown)
	}
	for i, g := range candidates {
		if s.groups[g] == nil {
			if g != unknown && len(s.groups) >= s.cfg.Limits.MaxGroups && !s.dropOldestIdle() {
				continue
			}
			s.groups[g] = &groupState{wire: wireNode(g)}
			s.makeCaches(g.String())
			s.cfg.Metrics.groupAdded(g.Role, 1)
			s.refresh(g)
		}
		if i > 0 {
			s.cfg.Metrics.placedCoarser()
		}
		return g
	}
	panic("unreachable: the group of unknown location is always placed")
}

// maxLocality bounds the region and zone a node may declare and keep.
const maxLocality = 128

// wireNode is the node that stands for the nodes of group g in requests
// to the caches: g's role and locality, which is all the caches read.
func wireNode(g Group) *core.Node {
	return &core.Node{
		Locality: &core.Locality{Region: g.Region, Zone: g.Zone},
		Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{RoleKey: structpb.NewStringValue(g.Role.String())}},
	}
}

func (s *Server) leave(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.smu.Lock()
	st := s.streams[id]
	delete(s.streams, id)
	s.smu.Unlock()
	if st == nil {
		return
	}
	s.cfg.Metrics.connected(st.group.Role, -1)
	gs := s.groups[st.group]
	if gs.streams--; gs.streams == 0 {
		gs.idleSince = time.Now()
		if s.sweep == nil {
			s.sweep = time.AfterFunc(s.cfg.Limits.GroupGrace, s.dropIdle)
		}
	}
}

// dropIdle drops the groups idle for their grace period, and sets the
// timer for the next one.
func (s *Server) dropIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep = nil
	now := time.Now()
	var next time.Time
	for g, gs := range s.groups {
		if gs.streams > 0 {
			continue
		}
		if end := gs.idleSince.Add(s.cfg.Limits.GroupGrace); !end.After(now) {
			s.drop(g)
		} else if next.IsZero() || end.Before(next) {
			next = end
		}
	}
	if !next.IsZero() {
		s.sweep = time.AfterFunc(next.Sub(now), s.dropIdle)
	}
}

// dropOldestIdle drops the group idle longest, if any is idle, and
// reports whether it did. Callers hold s.mu.
func (s *Server) dropOldestIdle() bool {
	var oldest Group
	var since time.Time
	found := false
	for g, gs := range s.groups {
		if gs.streams == 0 && (!found || gs.idleSince.Before(since)) {
			oldest, since, found = g, gs.idleSince, true
		}
	}
	if found {
		s.drop(oldest)
	}
	return found
}

// drop forgets a group that has no stream: its caches, its endpoints.
// Callers hold s.mu.
func (s *Server) drop(g Group) {
	key := g.String()
	s.cachesMu.Lock()
	delete(s.groupCaches, key)
	s.cachesMu.Unlock()
	var eds []string
	for _, rs := range s.groups[g].cache.services {
		eds = append(eds, rs.res.eds)
	}
	s.update(key, s.endpoints, nil, eds)
	s.encodings.forget()
	delete(s.groups, g)
	s.cfg.Metrics.groupAdded(g.Role, -1)
}

// groupCount is the number of node groups, for tests.
func (s *Server) groupCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.groups)
}

// request handles a request of either protocol: an ACK is timed against
// the plan it confirms; a NACK is recorded, and answered by waiting for a
// new version rather than by sending the rejected one again.
//
// It returns the stream's wire node, which the caller puts in place of
// the request's node, so that the caches see the group the stream was
// placed in.
func (s *Server) request(id int64, n *core.Node, typeURL, nonce string, detail error) (rejected string, wire *core.Node) {
	s.smu.Lock()
	st := s.streams[id]
	s.smu.Unlock()
	if st == nil {
		// A stream's requests come one at a time: none joins twice.
		s.mu.Lock()
		st = s.join(id, n)
		s.mu.Unlock()
	}
	s.smu.Lock()
	defer s.smu.Unlock()
	wire = st.wire
	i := slices.IndexFunc(st.sent, func(sn sent) bool { return sn.typeURL == typeURL })
	if i < 0 || st.sent[i].nonce != nonce {
		return "", wire
	}
	sn := &st.sent[i]
	if detail != nil {
		nack := NACK{At: time.Now(), Node: st.node, Group: st.group.String(), TypeURL: typeURL, Version: sn.version, Detail: detail.Error()}
		if len(s.nacks) == maxNACKs {
			s.nacks = s.nacks[1:]
		}
		s.nacks = append(s.nacks, nack)
		s.cfg.Metrics.nacked(typeURL)
		s.cfg.Logger.Warn("xds client rejected a response", "node", nack.Node, "group", nack.Group, "type", typeURL, "version", sn.version, "error", nack.Detail)
		return sn.version, wire
	}
	if !sn.acked && sn.planSeq == s.planSeq {
		sn.acked = true
		s.cfg.Metrics.acked(time.Since(s.planAt))
	}
	return "", wire
}

func (s *Server) response(id int64, typeURL, version, nonce string) {
	s.smu.Lock()
	defer s.smu.Unlock()
	st := s.streams[id]
	if st == nil {
		return
	}
	sn := sent{nonce: nonce, typeURL: typeURL, version: version, planSeq: s.planSeq}
	if i := slices.IndexFunc(st.sent, func(sn sent) bool { return sn.typeURL == typeURL }); i >= 0 {
		st.sent[i] = sn
	} else {
		st.sent = append(st.sent, sn)
	}
	s.cfg.Metrics.pushed(typeURL)
}

// forget empties a client's node once the server has read it.
// go-control-plane keeps the node of a stream's first request for the
// stream's life (to stand in requests that carry none), but the caches
// see the wire node instead, and the server keeps what it needs (the id,
// the group): an Envoy's node, with its extensions and build metadata,
// is kilobytes, times every stream.
func forget(n, wire *core.Node) {
	if n != nil && n != wire {
		proto.Reset(n)
	}
}

// intern returns the one copy of x that every stream's requests share.
// The caches and subscriptions keep each stream's latest request of each
// type, and its names as their keys; the streams of a group ask for the
// same types, names and versions, each in strings of its own.
func intern(x string) string { return unique.Make(x).Value() }

func internAll(xs []string) {
	for i, x := range xs {
		xs[i] = intern(x)
	}
}

func (s *Server) callbacks() xdsserver.Callbacks {
	return xdsserver.CallbackFuncs{
		StreamRequestFunc: func(id int64, r *discovery.DiscoveryRequest) error {
			var detail error
			if d := r.GetErrorDetail(); d != nil {
				detail = errors.New(d.GetMessage())
			}
			v, wire := s.request(id, r.GetNode(), r.GetTypeUrl(), r.GetResponseNonce(), detail)
			forget(r.Node, wire)
			r.Node, r.ErrorDetail = wire, nil
			r.TypeUrl, r.VersionInfo = intern(r.TypeUrl), intern(r.VersionInfo)
			internAll(r.ResourceNames)
			if v != "" {
				// go-control-plane answers a request whose version differs
				// from the cache's at once; claiming the rejected version
				// makes it wait for the next one instead of looping.
				r.VersionInfo = v
			}
			return nil
		},
		StreamResponseFunc: func(_ context.Context, id int64, _ *discovery.DiscoveryRequest, r *discovery.DiscoveryResponse) {
			s.response(id, r.GetTypeUrl(), r.GetVersionInfo(), r.GetNonce())
		},
		StreamClosedFunc: func(id int64, _ *core.Node) { s.leave(id) },
		StreamDeltaRequestFunc: func(id int64, r *discovery.DeltaDiscoveryRequest) error {
			var detail error
			if d := r.GetErrorDetail(); d != nil {
				detail = errors.New(d.GetMessage())
			}
			_, wire := s.request(id, r.GetNode(), r.GetTypeUrl(), r.GetResponseNonce(), detail)
			forget(r.Node, wire)
			r.Node, r.ErrorDetail = wire, nil
			r.TypeUrl = intern(r.TypeUrl)
			internAll(r.ResourceNamesSubscribe)
			internAll(r.ResourceNamesUnsubscribe)
			return nil
		},
		StreamDeltaResponseFunc: func(id int64, _ *discovery.DeltaDiscoveryRequest, r *discovery.DeltaDiscoveryResponse) {
			s.response(id, r.GetTypeUrl(), r.GetSystemVersionInfo(), r.GetNonce())
		},
		DeltaStreamClosedFunc: func(id int64, _ *core.Node) { s.leave(id) },
	}
}

// Serve answers xDS on ln until ctx ends, then stops gracefully. Idle
// clients are pinged so that dead connections are noticed, and what one
// client may hold is bounded by the Limits: connections on ln, streams per
// connection, the rate of its pings.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	l := s.cfg.Limits
	// grpc-go stops serving on an accept error that is not temporary, such
	// as ENOBUFS: acceptretry waits those out.
	ln = limitConns(acceptretry.Wrap(ln, s.cfg.Logger.With("listener", "xds"), s.cfg.Metrics.acceptFailed), l.MaxConnections)
	opts := []grpc.ServerOption{
		// xDS connections are many and mostly idle: a small read buffer
		// (requests are small), taken from a pool only while a read is
		// under way (limitConns's readyConn), and a write buffer taken
		// from a pool only while a response is written, instead of 32 KiB
		// each held for the connection's life (at 10,000 clients, 320 MB
		// and 120 MB of heap; BenchmarkPlanToACK).
		grpc.ReadBufferSize(connReadBuffer),
		grpc.SharedWriteBuffer(true),
		// Responses encoded once for the streams sent the same, into
		// buffers of their size (see wireCodec).
		grpc.ForceServerCodecV2(newWireCodec(s.encodings)),
		// No HPACK dynamic table from clients: a connection sends its
		// headers once, for its one stream, and the table's entries would
		// be kept for the connection's life (8 MB at 10,000).
		grpc.HeaderTableSize(0),
		grpc.MaxConcurrentStreams(l.MaxStreams),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: l.KeepaliveTime, Timeout: l.KeepaliveTimeout, MaxConnectionIdle: l.IdleTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: l.KeepaliveMinTime, PermitWithoutStream: true}),
	}
	if s.cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.cfg.TLS)))
	}
	gs := grpc.NewServer(opts...)
	discovery.RegisterAggregatedDiscoveryServiceServer(gs, s.ads)
	endpointservice.RegisterEndpointDiscoveryServiceServer(gs, s.ads)
	clusterservice.RegisterClusterDiscoveryServiceServer(gs, s.ads)
	routeservice.RegisterRouteDiscoveryServiceServer(gs, s.ads)
	listenerservice.RegisterListenerDiscoveryServiceServer(gs, s.ads)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		// Streams never end by themselves: give them a moment, then cut.
		t := time.AfterFunc(2*time.Second, gs.Stop)
		gs.GracefulStop()
		t.Stop()
	}()
	if err := gs.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		gs.Stop()
		return err
	}
	<-stopped
	return nil
}

// connReadBuffer is the read buffer of an xDS connection.
const connReadBuffer = 4 << 10

// cacheLogger sends go-control-plane's logs to slog: its debug and info
// chatter (a line per watch) at debug level, formatted only when enabled.
type cacheLogger struct{ l *slog.Logger }

func (c cacheLogger) log(level slog.Level, format string, args []any) {
	if c.l.Enabled(context.Background(), level) {
		c.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (c cacheLogger) Debugf(format string, args ...any) { c.log(slog.LevelDebug, format, args) }
func (c cacheLogger) Infof(format string, args ...any)  { c.log(slog.LevelDebug, format, args) }
func (c cacheLogger) Warnf(format string, args ...any)  { c.log(slog.LevelWarn, format, args) }
func (c cacheLogger) Errorf(format string, args ...any) { c.log(slog.LevelError, format, args) }
