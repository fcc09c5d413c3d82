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
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

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
// locality) resources apart (see groupResources), so that a change wakes
// only the streams of the groups it changed, and each resource is encoded
// once, when rendered, for the change check and every stream that gets it
// (see publish). Its streams (see adsStream) serve state-of-the-world and
// incremental xDS, over ADS or a service per type.
type Server struct {
	cfg        Config
	epoch      string // distinguishes this process's versions from any other's
	groupsMade uint64 // counts the groups made, for their versions
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

// stream is what the server remembers of one xDS stream for its
// metrics, ACK times and NACKs; adsStream holds its subscriptions.
type stream struct {
	node  string
	group Group
	res   *groupResources // the group's
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
	// res is what its streams are sent.
	res *groupResources
}

type sent struct {
	nonce   string
	typeURL string
	version string
	planSeq uint64
	acked   bool
	nacked  bool
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
	return s
}

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
	// and what changed is published as its encoding (see publish).
	cds, eds, lds, rds := map[string]encoded{}, map[string]encoded{}, map[string]encoded{}, map[string]encoded{}
	for i, n := range changed {
		var o renderedService
		if olds[i] != nil {
			o = *olds[i]
		}
		n.hashes.cluster = publishUnlessKept(cds, n.res.cluster.Name, n.res.cluster, o.res.cluster, o.hashes.cluster)
		if n.res.endpointsHash != o.res.endpointsHash {
			// Already encoded (see buildService).
			eds[n.res.eds] = encoded{bytes: n.res.endpoints, hash: n.res.endpointsHash}
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
	res := gs.res
	res.apply(cdsType, cds, nil)
	res.apply(edsType, eds, nil)
	res.apply(ldsType, lds, ldsGone)
	res.apply(rdsType, rds, rdsGone)
	res.apply(cdsType, nil, cdsGone)
	res.apply(edsType, nil, edsGone)
}

// resourcesOf returns the resources of the group keyed key, nil if there
// is no such group, for tests.
func (s *Server) resourcesOf(key string) *groupResources {
	s.mu.Lock()
	defer s.mu.Unlock()
	for g, gs := range s.groups {
		if g.String() == key {
			return gs.res
		}
	}
	return nil
}

// groupKeys are the keys of the groups, for tests.
func (s *Server) groupKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for g := range s.groups {
		keys = append(keys, g.String())
	}
	return keys
}

// watches counts the subscriptions of the streams of the group keyed key
// that wait for a change (not for an ACK), for tests.
func (s *Server) watches(key string) int {
	res := s.resourcesOf(key)
	if res == nil {
		return 0
	}
	res.smu.Lock()
	defer res.smu.Unlock()
	n := 0
	for st := range res.streams {
		st.mu.Lock()
		for _, sub := range st.subs {
			if sub != nil && !sub.awaiting {
				n++
			}
		}
		st.mu.Unlock()
	}
	return n
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
// from old, the hash of what the group holds, adds the encoding to update
// under name. It returns the hash.
//
// So a resource is encoded once, for the change check and for every
// stream, and goes out exactly as hashed; the ones that did not change
// are encoded into a pooled buffer and dropped. Endpoints, which change
// most, are encoded and hashed the same way by buildService, from their
// assignment.
func publish(update map[string]encoded, name string, m proto.Message, old uint64) uint64 {
	bp := encodeBufs.Get().(*[]byte)
	defer encodeBufs.Put(bp)
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend((*bp)[:0], m)
	if err != nil {
		panic(err) // a resource the builders made that does not encode: a bug
	}
	*bp = b
	h := maphash.Bytes(encodingSeed, b)
	if h != old {
		update[name] = encoded{bytes: bytes.Clone(b), hash: h}
	}
	return h
}

// publishUnlessKept is publish for a resource that buildService may have
// kept from the last rendering (was): a kept one keeps its old hash and is
// neither encoded nor published again.
func publishUnlessKept[T proto.Message](update map[string]encoded, name string, m, was T, old uint64) uint64 {
	if any(m) == any(was) {
		return old
	}
	return publish(update, name, m, old)
}

var (
	encodeBufs   = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
	encodingSeed = maphash.MakeSeed()
)

// join places a new stream in a group on its first request, rendering
// the group's resources if it is new, so that its requests can be
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
		st = &stream{node: n.GetId(), group: g, res: gs.res}
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
			s.groupsMade++
			s.groups[g] = &groupState{res: newGroupResources(fmt.Sprintf("%s-%d-", s.epoch, s.groupsMade))}
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

// drop forgets a group that has no stream, and its resources. Callers
// hold s.mu.
func (s *Server) drop(g Group) {
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

// request handles a request of either protocol: the first places the
// stream in a group; an ACK is timed against the plan it confirms; a NACK
// is recorded, and its version returned, so that the stream waits for a
// new version rather than sending the rejected one again. It returns the
// resources of the stream's group.
func (s *Server) request(id int64, n *core.Node, typeURL, nonce string, detail error) (rejected string, res *groupResources) {
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
	res = st.res
	i := slices.IndexFunc(st.sent, func(sn sent) bool { return sn.typeURL == typeURL })
	if i < 0 || st.sent[i].nonce != nonce {
		return "", res
	}
	sn := &st.sent[i]
	if detail != nil {
		if sn.nacked {
			// The same rejection again: counted, kept and logged once,
			// so that a client cannot flood the log or push other
			// clients' NACKs out of the list.
			return sn.version, res
		}
		sn.nacked = true
		nack := NACK{At: time.Now(), Node: st.node, Group: st.group.String(), TypeURL: typeURL, Version: sn.version, Detail: detail.Error()}
		if len(s.nacks) == maxNACKs {
			s.nacks = s.nacks[1:]
		}
		s.nacks = append(s.nacks, nack)
		s.cfg.Metrics.nacked(typeURL)
		s.cfg.Logger.Warn("xds client rejected a response", "node", nack.Node, "group", nack.Group, "type", typeURL, "version", sn.version, "error", nack.Detail)
		return sn.version, res
	}
	if !sn.acked && sn.planSeq == s.planSeq {
		sn.acked = true
		s.cfg.Metrics.acked(time.Since(s.planAt))
	}
	return "", res
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

// intern returns the one copy of x that every stream's subscriptions
// share: the streams of a group ask for the same names, each in strings
// of its own.
func intern(x string) string { return unique.Make(x).Value() }

func internAll(xs []string) {
	for i, x := range xs {
		xs[i] = intern(x)
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
	s.register(gs)
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
