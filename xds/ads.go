package xds

import (
	"errors"
	"hash/maphash"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	subscriptions "github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
)

// adsStream is one xDS stream, state of the world or incremental. Its
// gRPC handler reads the client's requests; what is due is sent by a
// goroutine that runs only while something is (sendDue), so an idle
// stream holds one goroutine and its subscriptions, nothing more.
//
// Each type is sent one response at a time: the next waits for the
// client's ACK or NACK of the last, so a slow client is sent fewer, larger
// updates rather than a queue of stale ones, and a change that comes
// meanwhile goes out with the ACK's answer.
type adsStream struct {
	s     *Server
	id    int64
	delta bool
	// only is the type of a single-type service (CDS, EDS, ...), whose
	// requests may leave the type out; empty for ADS.
	only      string
	sendSotW  func(*discovery.DiscoveryResponse) error
	sendDelta func(*discovery.DeltaDiscoveryResponse) error

	// group is set by the stream's first request, before any
	// subscription, and not changed after.
	group *groupResources

	mu      sync.Mutex
	subs    [numTypes]*subscription
	nonce   uint64
	sending bool // a sendDue goroutine runs
	closed  bool // the handler is returning, or a send failed
	senders sync.WaitGroup
}

// subscription is a stream's state for one type.
type subscription struct {
	// sub is what the client subscribes to and what it was sent (names
	// and versions), with go-control-plane's rules for wildcards.
	sub      subscriptions.Subscription
	nonce    string // of the latest response
	awaiting bool   // the latest response is not yet ACKed or NACKed
	due      bool   // something may be due: a request or a change came
	// force answers the next time even if nothing changed: a state of
	// the world request that holds no version of ours, or the first
	// request of an incremental wildcard subscription.
	force bool
	// synced is one more than the group's version of the type when sub
	// was last compared with the resources, 0 if its names changed since:
	// while it is the group's, nothing is due, and an ACK (most requests)
	// costs no comparison of every name subscribed to.
	synced uint64
	// names identifies the list of names sub took last (in a state of
	// the world request): an ACK repeats it and changes nothing.
	names namesKey
}

var streamIDs atomic.Int64

// streamSotW serves a state-of-the-world stream; only is the type of a
// single-type service, empty for ADS.
func (s *Server) streamSotW(gs sotwServerStream, only string) error {
	st := &adsStream{s: s, id: streamIDs.Add(1), only: only, sendSotW: gs.Send}
	defer st.close()
	for {
		req, err := gs.Recv()
		if err != nil {
			return endOfStream(err)
		}
		if err := st.sotwRequest(req); err != nil {
			return err
		}
	}
}

// streamDelta serves an incremental stream.
func (s *Server) streamDelta(gs deltaServerStream, only string) error {
	st := &adsStream{s: s, id: streamIDs.Add(1), delta: true, only: only, sendDelta: gs.Send}
	defer st.close()
	for {
		req, err := gs.Recv()
		if err != nil {
			return endOfStream(err)
		}
		if err := st.deltaRequest(req); err != nil {
			return err
		}
	}
}

// endOfStream is what the handler returns when its client stops sending:
// nothing if it closed its side.
func endOfStream(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// close ends the stream: no more sends, the sender gone (gRPC forbids a
// send once the handler returns), the server told.
func (st *adsStream) close() {
	st.mu.Lock()
	st.closed = true
	st.mu.Unlock()
	st.senders.Wait()
	if st.group != nil {
		st.group.leave(st)
	}
	st.s.leave(st.id)
}

// typeOfRequest returns the type a request is about: an ADS request must
// name it; a single-type service's may leave it out, and names no other.
func (st *adsStream) typeOfRequest(url string) (string, error) {
	switch {
	case url == "" && st.only == "":
		return "", status.Error(codes.InvalidArgument, "type URL is required for ADS")
	case url == "":
		return st.only, nil
	case st.only != "" && url != st.only:
		return "", status.Errorf(codes.InvalidArgument, "this service serves %s, not %s", st.only, url)
	}
	return url, nil
}

// begin handles what every request does before its subscription: the
// first places the stream in its group; a NACK is recorded. It returns
// the version the request rejected, if it is a NACK.
func (st *adsStream) begin(node *core.Node, url, nonce string, detail *rpcstatus.Status) string {
	var err error
	if detail != nil {
		err = errors.New(detail.GetMessage())
	}
	rejected, g := st.s.request(st.id, node, url, nonce, err)
	if st.group == nil {
		st.group = g
		g.join(st)
	}
	return rejected
}

// sotwRequest takes a state-of-the-world request: the first of a type
// subscribes, a later one (with the latest response's nonce) ACKs or
// NACKs it and replaces the names subscribed to.
func (st *adsStream) sotwRequest(req *discovery.DiscoveryRequest) error {
	url, err := st.typeOfRequest(req.GetTypeUrl())
	if err != nil {
		return err
	}
	rejected := st.begin(req.GetNode(), url, req.GetResponseNonce(), req.GetErrorDetail())
	t, ok := typeOf(url)
	if !ok {
		// A type Meridian does not serve (secrets, runtime): the
		// client waits for it, as for a resource that does not exist.
		return nil
	}
	version := req.GetVersionInfo()
	if rejected != "" {
		// Claim the rejected version, so that it is not sent again:
		// the client waits for the next one.
		version = rejected
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	sub := st.subs[t]
	if sub == nil {
		sub = newSotwSubscription(req.ResourceNames)
		st.subs[t] = sub
	} else {
		if sub.nonce != "" && req.GetResponseNonce() != sub.nonce {
			// A stale request, sent before the client read the latest
			// response: ignored, as the protocol says.
			return nil
		}
		sub.awaiting = false
		if !sub.sameNames(req.ResourceNames) {
			sub.rename(req.ResourceNames)
		}
	}
	if err := checkSubscribed(&sub.sub); err != nil {
		return err
	}
	sub.force = version == "" || !strings.HasPrefix(version, st.group.prefix)
	sub.due = true
	st.kick()
	return nil
}

// deltaRequest takes an incremental request: the first of a type
// subscribes (with the versions the client has), a later one changes the
// subscription, and ACKs or NACKs the latest response if it names its
// nonce.
func (st *adsStream) deltaRequest(req *discovery.DeltaDiscoveryRequest) error {
	url, err := st.typeOfRequest(req.GetTypeUrl())
	if err != nil {
		return err
	}
	st.begin(req.GetNode(), url, req.GetResponseNonce(), req.GetErrorDetail())
	t, ok := typeOf(url)
	if !ok {
		return nil
	}
	internAll(req.ResourceNamesSubscribe)
	internAll(req.ResourceNamesUnsubscribe)
	st.mu.Lock()
	defer st.mu.Unlock()
	sub := st.subs[t]
	if sub == nil {
		// The versions the client has, from an earlier stream.
		var initial map[string]string
		if n := len(req.GetInitialResourceVersions()); n > 0 {
			initial = make(map[string]string, n)
			for name, v := range req.GetInitialResourceVersions() {
				initial[intern(name)] = v
			}
		}
		sub = &subscription{sub: subscriptions.NewDeltaSubscription(req.ResourceNamesSubscribe, req.ResourceNamesUnsubscribe, initial, true)}
		// A wildcard subscription's first request is answered even if
		// there is nothing: Envoy waits for it to finish initializing.
		sub.force = sub.sub.IsWildcard()
		st.subs[t] = sub
	} else {
		if req.GetResponseNonce() == sub.nonce {
			sub.awaiting = false
		}
		if len(req.ResourceNamesSubscribe) > 0 || len(req.ResourceNamesUnsubscribe) > 0 {
			sub.sub.UpdateResourceSubscriptions(req.ResourceNamesSubscribe, req.ResourceNamesUnsubscribe)
			sub.synced = 0
		}
	}
	if err := checkSubscribed(&sub.sub); err != nil {
		return err
	}
	sub.due = true
	st.kick()
	return nil
}

// newSotwSubscription subscribes to the names of a state-of-the-world
// stream's first request of a type.
func newSotwSubscription(names []string) *subscription {
	internAll(names)
	return &subscription{sub: subscriptions.NewSotwSubscription(names, true), names: keyOfNames(names)}
}

// namesKey identifies a list of names as a multiset (order aside, as
// clients that keep their names in a map send them in any order): the
// sum of the names' hashes and their count. The hashes are seeded per
// process, so no client can make two lists collide.
type namesKey struct {
	sum uint64
	n   int
}

var namesSeed = maphash.MakeSeed()

func keyOfNames(names []string) namesKey {
	k := namesKey{n: len(names)}
	for _, name := range names {
		k.sum += maphash.String(namesSeed, name)
	}
	return k
}

// sameNames reports whether a state-of-the-world request names what sub
// took last, so that taking its names would change nothing: an ACK's
// names are then neither interned nor compared with the resources. A
// list that differs only in its order is the same; one that repeats a
// name is not, though it may subscribe to the same (then the subscription
// is taken again, as any changed list is).
func (sub *subscription) sameNames(names []string) bool {
	return keyOfNames(names) == sub.names
}

// rename takes the names of a state-of-the-world request that differ
// from those subscribed to. Each name it adds is sent again even if the
// client was sent it under a wildcard: the protocol asks a server to
// resend newly requested resources.
func (sub *subscription) rename(names []string) {
	sub.names = keyOfNames(names)
	internAll(names)
	before := sub.sub.SubscribedResources()
	sub.sub.SetResourceSubscription(names)
	known := sub.sub.ReturnedResources()
	for name := range sub.sub.SubscribedResources() {
		if _, ok := before[name]; !ok {
			delete(known, name)
		}
	}
	sub.synced = 0
}

// inSync reports whether sub was compared with the group's resources of
// type t at their current version, so that nothing is due unless forced.
// Callers hold g.mu; markSynced records a comparison.
func (sub *subscription) inSync(g *groupResources, t xdsType) bool {
	return sub.synced == g.versions[t]+1
}

func (sub *subscription) markSynced(g *groupResources, t xdsType) {
	sub.synced = g.versions[t] + 1
}

// maxSubscribed bounds the names a stream may subscribe to of one type:
// about what one state-of-the-world request of gRPC's largest (4 MiB)
// names, which an incremental stream, adding names request by request,
// could otherwise pass without end.
const maxSubscribed = 100_000

// checkSubscribed refuses a subscription to more than maxSubscribed
// names, ending the stream.
func checkSubscribed(sub *subscriptions.Subscription) error {
	if n := len(sub.SubscribedResources()); n > maxSubscribed {
		return status.Errorf(codes.ResourceExhausted, "subscribed to %d names of a type, more than %d", n, maxSubscribed)
	}
	return nil
}

// changed marks type t due, for a change of the group's resources.
func (st *adsStream) changed(t xdsType) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if sub := st.subs[t]; sub != nil {
		sub.due = true
		st.kick()
	}
}

// kick starts the sender unless it runs or the stream is closed. Callers
// hold st.mu.
func (st *adsStream) kick() {
	if st.sending || st.closed {
		return
	}
	st.sending = true
	st.senders.Add(1)
	go st.sendDue()
}

// sendDue sends what is due, type by type in the order of xdsType, until
// nothing is.
func (st *adsStream) sendDue() {
	defer st.senders.Done()
	for {
		st.mu.Lock()
		var send func() error
		for t := range numTypes {
			sub := st.subs[t]
			if st.closed || sub == nil || !sub.due || sub.awaiting {
				continue
			}
			sub.due = false
			if st.delta {
				send = st.deltaResponse(t, sub)
			} else {
				send = st.sotwResponse(t, sub)
			}
			if send != nil {
				break
			}
		}
		if send == nil {
			st.sending = false
			st.mu.Unlock()
			return
		}
		st.mu.Unlock()
		if err := send(); err != nil {
			st.mu.Lock()
			st.sending, st.closed = false, true
			st.mu.Unlock()
			return
		}
	}
}

// nextNonce returns the stream's next nonce. Callers hold st.mu.
func (st *adsStream) nextNonce() string {
	st.nonce++
	return strconv.FormatUint(st.nonce, 10)
}

// sotwResponse returns the sending of what sub is due, nil if nothing is.
// Callers hold st.mu.
func (st *adsStream) sotwResponse(t xdsType, sub *subscription) func() error {
	g := st.group
	g.mu.RLock()
	if !sub.force && sub.inSync(g, t) {
		g.mu.RUnlock()
		return nil
	}
	res := g.res[t]
	changed, removed := changes(res, &sub.sub)
	sub.markSynced(g, t)
	force := sub.force
	sub.force = false
	known := sub.sub.ReturnedResources()
	for _, name := range removed {
		delete(known, name)
	}
	var out []*anypb.Any
	switch {
	case len(changed) == 0 && !force && (!t.fullState() || len(removed) == 0):
		// Nothing to say: a state-of-the-world response of endpoints or
		// routes cannot say that one is gone (the listeners and clusters
		// that named it say so).
		g.mu.RUnlock()
		return nil
	case !t.fullState():
		out = make([]*anypb.Any, 0, len(changed))
		for _, name := range changed {
			e := res[name]
			out = append(out, e.any)
			known[name] = e.version
		}
	case sub.sub.IsWildcard():
		out = make([]*anypb.Any, 0, len(res))
		for name, e := range res {
			out = append(out, e.any)
			known[name] = e.version
		}
	default:
		for name := range sub.sub.SubscribedResources() {
			if e, ok := res[name]; ok {
				out = append(out, e.any)
				known[name] = e.version
			}
		}
	}
	version := g.version(t)
	g.mu.RUnlock()
	sub.nonce, sub.awaiting = st.nextNonce(), true
	resp := &discovery.DiscoveryResponse{VersionInfo: version, Resources: out, TypeUrl: typeURLs[t], Nonce: sub.nonce}
	return func() error {
		st.s.response(st.id, resp.TypeUrl, version, resp.Nonce)
		return st.sendSotW(resp)
	}
}

// deltaResponse is sotwResponse for an incremental stream: the resources
// that changed, and the names of those gone.
func (st *adsStream) deltaResponse(t xdsType, sub *subscription) func() error {
	g := st.group
	g.mu.RLock()
	if !sub.force && sub.inSync(g, t) {
		g.mu.RUnlock()
		return nil
	}
	res := g.res[t]
	changed, removed := changes(res, &sub.sub)
	sub.markSynced(g, t)
	force := sub.force
	sub.force = false
	if len(changed) == 0 && len(removed) == 0 && !force {
		g.mu.RUnlock()
		return nil
	}
	known := sub.sub.ReturnedResources()
	out := make([]*discovery.Resource, 0, len(changed))
	for _, name := range changed {
		e := res[name]
		out = append(out, &discovery.Resource{Name: name, Version: e.version, Resource: e.any})
		known[name] = e.version
	}
	version := g.version(t)
	g.mu.RUnlock()
	for _, name := range removed {
		delete(known, name)
	}
	sub.nonce, sub.awaiting = st.nextNonce(), true
	resp := &discovery.DeltaDiscoveryResponse{SystemVersionInfo: version, Resources: out, TypeUrl: typeURLs[t], RemovedResources: removed, Nonce: sub.nonce}
	return func() error {
		st.s.response(st.id, resp.TypeUrl, version, resp.Nonce)
		return st.sendDelta(resp)
	}
}

// changes compares what a subscription was sent with the resources: the
// names it subscribes to that it lacks or has at another version, and the
// names it has that are gone or no longer subscribed to.
func changes(res map[string]entry, sub *subscriptions.Subscription) (changed, removed []string) {
	known := sub.ReturnedResources()
	if sub.IsWildcard() {
		for name, e := range res {
			if v, ok := known[name]; !ok || v != e.version {
				changed = append(changed, name)
			}
		}
		for name := range known {
			if _, ok := res[name]; !ok {
				removed = append(removed, name)
			}
		}
		return changed, removed
	}
	subscribed := sub.SubscribedResources()
	for name := range subscribed {
		e, exists := res[name]
		v, ok := known[name]
		switch {
		case !exists && ok:
			removed = append(removed, name)
		case exists && (!ok || v != e.version):
			changed = append(changed, name)
		}
	}
	for name := range known {
		if _, ok := subscribed[name]; !ok {
			removed = append(removed, name)
		}
	}
	return changed, removed
}

// The gRPC services: ADS, and the single-type services of clients
// configured without ADS. A single-type stream's requests may leave the
// type out; Fetch (xDS over REST's unary form) is not served.
type (
	adsService struct {
		discovery.UnimplementedAggregatedDiscoveryServiceServer
		s *Server
	}
	cdsService struct {
		clusterservice.UnimplementedClusterDiscoveryServiceServer
		s *Server
	}
	edsService struct {
		endpointservice.UnimplementedEndpointDiscoveryServiceServer
		s *Server
	}
	ldsService struct {
		listenerservice.UnimplementedListenerDiscoveryServiceServer
		s *Server
	}
	rdsService struct {
		routeservice.UnimplementedRouteDiscoveryServiceServer
		s *Server
	}
)

type (
	sotwServerStream  = grpc.BidiStreamingServer[discovery.DiscoveryRequest, discovery.DiscoveryResponse]
	deltaServerStream = grpc.BidiStreamingServer[discovery.DeltaDiscoveryRequest, discovery.DeltaDiscoveryResponse]
)

func (a adsService) StreamAggregatedResources(gs sotwServerStream) error {
	return a.s.streamSotW(gs, "")
}
func (a adsService) DeltaAggregatedResources(gs deltaServerStream) error {
	return a.s.streamDelta(gs, "")
}
func (a cdsService) StreamClusters(gs sotwServerStream) error {
	return a.s.streamSotW(gs, typeURLs[cdsType])
}
func (a cdsService) DeltaClusters(gs deltaServerStream) error {
	return a.s.streamDelta(gs, typeURLs[cdsType])
}
func (a edsService) StreamEndpoints(gs sotwServerStream) error {
	return a.s.streamSotW(gs, typeURLs[edsType])
}
func (a edsService) DeltaEndpoints(gs deltaServerStream) error {
	return a.s.streamDelta(gs, typeURLs[edsType])
}
func (a ldsService) StreamListeners(gs sotwServerStream) error {
	return a.s.streamSotW(gs, typeURLs[ldsType])
}
func (a ldsService) DeltaListeners(gs deltaServerStream) error {
	return a.s.streamDelta(gs, typeURLs[ldsType])
}
func (a rdsService) StreamRoutes(gs sotwServerStream) error {
	return a.s.streamSotW(gs, typeURLs[rdsType])
}
func (a rdsService) DeltaRoutes(gs deltaServerStream) error {
	return a.s.streamDelta(gs, typeURLs[rdsType])
}

// register serves the xDS services on gs.
func (s *Server) register(gs *grpc.Server) {
	discovery.RegisterAggregatedDiscoveryServiceServer(gs, adsService{s: s})
	clusterservice.RegisterClusterDiscoveryServiceServer(gs, cdsService{s: s})
	endpointservice.RegisterEndpointDiscoveryServiceServer(gs, edsService{s: s})
	listenerservice.RegisterListenerDiscoveryServiceServer(gs, ldsService{s: s})
	routeservice.RegisterRouteDiscoveryServiceServer(gs, rdsService{s: s})
}
