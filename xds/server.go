package xds

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	xdsserver "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

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
}

// Server is Meridian's ADS server. It keeps one snapshot per node group
// (role × locality) in a snapshot cache, and every group's endpoints in a
// linear cache, so that an endpoint change wakes only the streams that
// watch those endpoints.
type Server struct {
	cfg       Config
	epoch     string // distinguishes this process's versions from any other's
	snapshots cache.SnapshotCache
	endpoints *cache.LinearCache
	ads       xdsserver.Server

	mu      sync.Mutex
	plan    *model.Plan
	planAt  time.Time // when plan was set
	planSeq uint64    // counts plans, to match ACKs with the plan they ACK
	groups  map[Group]bool
	edsHash map[string]uint64 // content of every EDS resource in the linear cache
	streams map[int64]*stream
	nacks   []NACK // the latest, oldest first

	// tamper, when set by tests, alters resources after Build, to make a
	// client reject them.
	tamper func(*Resources)
}

// stream is what the server remembers of one xDS stream.
type stream struct {
	node  string
	group Group
	sent  map[string]sent // by nonce, the latest per type
}

type sent struct {
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
	s := &Server{
		cfg:     cfg,
		epoch:   epoch,
		groups:  map[Group]bool{},
		edsHash: map[string]uint64{},
		streams: map[int64]*stream{},
	}
	s.snapshots = cache.NewSnapshotCache(false, groupHash{cfg.Classifier}, cacheLogger{cfg.Logger})
	s.endpoints = cache.NewLinearCache(resource.EndpointType, cache.WithVersionPrefix(epoch+"-"), cache.WithLogger(cacheLogger{cfg.Logger}))
	mux := &cache.MuxCache{
		Classify:      func(r *cache.Request) string { return classify(r.GetTypeUrl()) },
		ClassifyDelta: func(r *cache.DeltaRequest) string { return classify(r.GetTypeUrl()) },
		Caches:        map[string]cache.Cache{"eds": s.endpoints, "snapshot": s.snapshots},
	}
	s.ads = xdsserver.NewServer(context.Background(), mux, s.callbacks())
	return s
}

func classify(typeURL string) string {
	if typeURL == resource.EndpointType {
		return "eds"
	}
	return "snapshot"
}

// groupHash keys the snapshot cache by node group.
type groupHash struct{ c Classifier }

func (h groupHash) ID(n *core.Node) string { return h.c.GroupOf(n).String() }

// SetPlan renders p for every group that has connected and publishes it.
func (s *Server) SetPlan(p *model.Plan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plan, s.planAt = p, time.Now()
	s.planSeq++
	for g := range s.groups {
		s.refresh(g)
	}
}

// SetOptions changes the per-service settings (on reload) and republishes.
func (s *Server) SetOptions(o Options) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Options = o
	for g := range s.groups {
		s.refresh(g)
	}
}

// NACKs returns the latest rejected responses, oldest first.
func (s *Server) NACKs() []NACK {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]NACK(nil), s.nacks...)
}

// refresh renders the plan for g into the caches. Unchanged resource
// types keep their versions, and unchanged endpoints are not touched, so
// clients hear only of what changed. Changes go out make-before-break, in
// the order Envoy recommends for ADS: clusters are added (old ones kept),
// then endpoints, then listeners and routes that may refer to the new
// clusters, and only then are clusters and endpoints no longer used
// removed. Callers hold s.mu.
func (s *Server) refresh(g Group) {
	if s.plan == nil {
		return
	}
	r, err := Build(s.plan, g, s.cfg.Options)
	if err != nil {
		// A bug, never a client's fault: keep serving the last good resources.
		s.cfg.Logger.Error("xds resources failed validation; keeping the last ones", "group", g.String(), "err", err)
		return
	}
	if s.tamper != nil {
		s.tamper(&r)
	}
	key := g.String()
	next := &cache.Snapshot{}
	next.Resources[types.Listener] = s.resources(toResources(r.Listeners))
	next.Resources[types.Route] = s.resources(toResources(r.Routes))
	next.Resources[types.Cluster] = s.resources(toResources(r.Clusters))

	if prev, err := s.snapshots.GetSnapshot(key); err == nil {
		if prev, ok := prev.(*cache.Snapshot); ok {
			adding := *prev
			adding.VersionMap = nil
			adding.Resources[types.Cluster] = s.resources(unionByName(prev.Resources[types.Cluster].Items, r.Clusters))
			s.setSnapshot(key, &adding)
		}
	}
	update := map[string]types.Resource{}
	keep := map[string]bool{}
	for _, cla := range r.Endpoints {
		keep[cla.ClusterName] = true
		h := contentHash(cla)
		if old, ok := s.edsHash[cla.ClusterName]; ok && old == h {
			continue
		}
		s.edsHash[cla.ClusterName] = h
		update[cla.ClusterName] = cla
	}
	s.updateEndpoints(key, update, nil)
	s.setSnapshot(key, next)
	var remove []string
	prefix := key + "/"
	for name := range s.edsHash {
		if strings.HasPrefix(name, prefix) && !keep[name] {
			remove = append(remove, name)
			delete(s.edsHash, name)
		}
	}
	s.updateEndpoints(key, nil, remove)
}

func (s *Server) setSnapshot(key string, snap *cache.Snapshot) {
	if err := s.snapshots.SetSnapshot(context.Background(), key, snap); err != nil {
		s.cfg.Logger.Error("xds snapshot", "group", key, "err", err)
	}
}

func (s *Server) updateEndpoints(key string, update map[string]types.Resource, remove []string) {
	if len(update) == 0 && len(remove) == 0 {
		return
	}
	if err := s.endpoints.UpdateResources(update, remove); err != nil {
		s.cfg.Logger.Error("xds endpoints", "group", key, "err", err)
	}
}

// unionByName returns the new clusters and the old ones not among them,
// sorted by name.
func unionByName(old map[string]types.ResourceWithTTL, clusters []*cluster.Cluster) []types.Resource {
	byName := map[string]types.Resource{}
	for name, r := range old {
		byName[name] = r.Resource
	}
	for _, c := range clusters {
		byName[c.Name] = c
	}
	out := make([]types.Resource, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, byName[name])
	}
	return out
}

// resources makes one type's resources with a version that is the hash of
// their content plus the process's epoch: equal content keeps its version,
// and a restarted server never sends an old version with new content.
func (s *Server) resources(items []types.Resource) cache.Resources {
	h := fnv.New64a()
	for _, it := range items {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(it)
		if err != nil {
			panic(err) // Build's resources always marshal
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	return cache.NewResources(fmt.Sprintf("%s-%016x", s.epoch, h.Sum64()), items)
}

func contentHash(m proto.Message) uint64 {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(err)
	}
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

func toResources[T types.Resource](xs []T) []types.Resource {
	out := make([]types.Resource, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// join registers a node's group on its first request, rendering the
// group's resources so that its watches can be answered.
func (s *Server) join(id int64, n *core.Node) *stream {
	st := s.streams[id]
	if st == nil {
		g := s.cfg.Classifier.GroupOf(n)
		st = &stream{node: n.GetId(), group: g, sent: map[string]sent{}}
		s.streams[id] = st
		if !s.groups[g] {
			s.groups[g] = true
			s.refresh(g)
		}
		s.cfg.Metrics.connected(g, 1)
	}
	return st
}

func (s *Server) leave(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.streams[id]; st != nil {
		s.cfg.Metrics.connected(st.group, -1)
		delete(s.streams, id)
	}
}

// request handles a request of either protocol: an ACK is timed against
// the plan it confirms; a NACK is recorded, and answered by waiting for a
// new version rather than by sending the rejected one again.
func (s *Server) request(id int64, n *core.Node, typeURL, nonce string, detail error) (rejected string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.join(id, n)
	sn, ok := st.sent[nonce]
	if !ok || sn.typeURL != typeURL {
		return ""
	}
	if detail != nil {
		nack := NACK{At: time.Now(), Node: st.node, Group: st.group.String(), TypeURL: typeURL, Version: sn.version, Detail: detail.Error()}
		if len(s.nacks) == maxNACKs {
			s.nacks = s.nacks[1:]
		}
		s.nacks = append(s.nacks, nack)
		s.cfg.Metrics.nacked(typeURL)
		s.cfg.Logger.Warn("xds client rejected a response", "node", nack.Node, "group", nack.Group, "type", typeURL, "version", sn.version, "error", nack.Detail)
		return sn.version
	}
	if !sn.acked && sn.planSeq == s.planSeq {
		sn.acked = true
		st.sent[nonce] = sn
		s.cfg.Metrics.acked(time.Since(s.planAt))
	}
	return ""
}

func (s *Server) response(id int64, typeURL, version, nonce string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[id]
	if st == nil {
		return
	}
	for k, v := range st.sent {
		if v.typeURL == typeURL {
			delete(st.sent, k)
		}
	}
	st.sent[nonce] = sent{typeURL: typeURL, version: version, planSeq: s.planSeq}
	s.cfg.Metrics.pushed(typeURL)
}

func (s *Server) callbacks() xdsserver.Callbacks {
	return xdsserver.CallbackFuncs{
		StreamRequestFunc: func(id int64, r *discovery.DiscoveryRequest) error {
			var detail error
			if d := r.GetErrorDetail(); d != nil {
				detail = errors.New(d.GetMessage())
			}
			if v := s.request(id, r.GetNode(), r.GetTypeUrl(), r.GetResponseNonce(), detail); v != "" {
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
			s.request(id, r.GetNode(), r.GetTypeUrl(), r.GetResponseNonce(), detail)
			return nil
		},
		StreamDeltaResponseFunc: func(id int64, _ *discovery.DeltaDiscoveryRequest, r *discovery.DeltaDiscoveryResponse) {
			s.response(id, r.GetTypeUrl(), r.GetSystemVersionInfo(), r.GetNonce())
		},
		DeltaStreamClosedFunc: func(id int64, _ *core.Node) { s.leave(id) },
	}
}

// Serve answers xDS on ln until ctx ends, then stops gracefully. Idle
// clients are pinged so that dead connections are noticed.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	opts := []grpc.ServerOption{
		grpc.MaxConcurrentStreams(1 << 20),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
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
