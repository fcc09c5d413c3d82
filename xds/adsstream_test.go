package xds

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/meridian-gtm/meridian/model"
)

// euGateway is the node group of the gateways these tests connect.
var euGateway = Group{Role: Gateway, Region: "eu-west-1", Zone: "eu-west-1a"}

// servedADS serves w's Plan and returns the server and an ADS client of it.
func servedADS(t *testing.T, w *world) (*Server, discovery.AggregatedDiscoveryServiceClient) {
	s := New(Config{})
	s.SetPlan(w.plan())
	return s, dialADS(t, startServer(t, s), nil)
}

// received reads a stream's responses into a channel, until it ends.
func received[T any](recv func() (T, error)) <-chan T {
	out := make(chan T, 16)
	go func() {
		defer close(out)
		for {
			r, err := recv()
			if err != nil {
				return
			}
			out <- r
		}
	}()
	return out
}

// next returns the next response, failing the test if none comes.
func next[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case r, ok := <-ch:
		if !ok {
			t.Fatal("the stream ended")
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no response")
	}
	panic("unreachable")
}

// none fails the test if a response comes within d.
func none[T any](t *testing.T, ch <-chan T, d time.Duration, why string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s, yet a response came: %v", why, r)
	case <-time.After(d):
	}
}

// drainWeighted is the Plan of w with the weighted service drained in
// cluster (none: no override).
func drainWeighted(w *world, cluster string) *model.Plan {
	w.ovr = model.Overrides{}
	if cluster != "" {
		w.ovr = model.NewOverrides([]model.Override{{Kind: model.Drain, Service: weightedSvc, Cluster: cluster, Reason: "test", Created: time.Now()}})
	}
	return w.plan()
}

// TestChangesWaitForTheACK: a type's next response waits for the client's
// ACK of the last; the changes meanwhile go out after it as one response
// with the latest state, not as a queue of the states in between.
func TestChangesWaitForTheACK(t *testing.T) {
	w := newWorld()
	s, stream := sotwStream(t, w, Config{})
	resps := received(stream.Recv)
	node := gatewayNode("gw-slow")
	g := euGateway
	names := []string{EndpointsName(g, weightedSvc)}
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: names}); err != nil {
		t.Fatal(err)
	}
	first := next(t, resps)

	s.SetPlan(drainWeighted(w, "us-east"))
	s.SetPlan(drainWeighted(w, ""))
	s.SetPlan(drainWeighted(w, "eu-west"))
	none(t, resps, 300*time.Millisecond, "the last response is not ACKed")

	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: names, VersionInfo: first.VersionInfo, ResponseNonce: first.Nonce}); err != nil {
		t.Fatal(err)
	}
	resp := next(t, resps)
	if len(resp.Resources) != 1 {
		t.Fatalf("%d resources after the ACK, want the one endpoints", len(resp.Resources))
	}
	p := priorities(decodeCLA(t, resp.Resources[0].Value))
	if _, ok := p["eu-west"]; ok {
		t.Errorf("after the ACK the endpoints are an older state (priorities %v), not the latest drain of eu-west", p)
	}
	if _, ok := p["us-east"]; !ok {
		t.Errorf("after the ACK the endpoints lack us-east, drained and back before (priorities %v)", p)
	}
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: names, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce}); err != nil {
		t.Fatal(err)
	}
	none(t, resps, 200*time.Millisecond, "everything was sent and ACKed")
}

// TestStaleRequestsAreIgnored: a state-of-the-world request that answers
// an older response than the latest (by its nonce) changes nothing: a
// subscription it names is not taken up, until a request with the latest
// nonce names it.
func TestStaleRequestsAreIgnored(t *testing.T) {
	w := newWorld()
	s, stream := sotwStream(t, w, Config{})
	resps := received(stream.Recv)
	node := gatewayNode("gw-stale")
	g := euGateway
	geo, weighted := EndpointsName(g, geoSvc), EndpointsName(g, weightedSvc)
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: []string{weighted}}); err != nil {
		t.Fatal(err)
	}
	first := next(t, resps)
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: []string{weighted}, VersionInfo: first.VersionInfo, ResponseNonce: first.Nonce}); err != nil {
		t.Fatal(err)
	}
	s.SetPlan(drainWeighted(w, "us-east"))
	second := next(t, resps)
	// Answers the first response, not the second: stale.
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: []string{weighted, geo}, VersionInfo: first.VersionInfo, ResponseNonce: first.Nonce}); err != nil {
		t.Fatal(err)
	}
	none(t, resps, 200*time.Millisecond, "the request naming the geo service's endpoints was stale")
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: []string{weighted, geo}, VersionInfo: second.VersionInfo, ResponseNonce: second.Nonce}); err != nil {
		t.Fatal(err)
	}
	resp := next(t, resps)
	if len(resp.Resources) != 1 || decodeCLA(t, resp.Resources[0].Value).ClusterName != geo {
		t.Fatalf("the current request got %d resources, want the geo service's endpoints alone (the weighted's were sent)", len(resp.Resources))
	}
}

// TestUnservedTypesLeaveTheStream: a request for a type Meridian does not
// serve (here secrets) is not answered and does not end the stream: the
// types it serves still are.
func TestUnservedTypesLeaveTheStream(t *testing.T) {
	_, stream := sotwStream(t, newWorld(), Config{})
	resps := received(stream.Recv)
	node := gatewayNode("gw-sds")
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.SecretType, ResourceNames: []string{"cert"}}); err != nil {
		t.Fatal(err)
	}
	none(t, resps, 200*time.Millisecond, "secrets are not served")
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType}); err != nil {
		t.Fatal(err)
	}
	if resp := next(t, resps); resp.TypeUrl != resource.ClusterType || len(resp.Resources) != 2 {
		t.Fatalf("got %d %s, want the 2 clusters", len(resp.Resources), resp.TypeUrl)
	}
}

// TestDeltaReconnectSendsOnlyWhatChanged: an incremental stream that
// starts with the versions its client already has (initial_resource_versions,
// as after a reconnect) is sent only the resources whose versions differ.
func TestDeltaReconnectSendsOnlyWhatChanged(t *testing.T) {
	w := newWorld()
	s, ads := servedADS(t, w)
	node := gatewayNode("gw-reconnect")
	g := euGateway
	names := []string{EndpointsName(g, geoSvc), EndpointsName(g, weightedSvc)}
	open := func(initial map[string]string) (*discovery.DeltaDiscoveryResponse, context.CancelFunc) {
		ctx, cancel := context.WithCancel(t.Context())
		stream, err := ads.DeltaAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNamesSubscribe: names, InitialResourceVersions: initial}); err != nil {
			t.Fatal(err)
		}
		return next(t, received(stream.Recv)), cancel
	}
	first, cancel := open(nil)
	cancel()
	if len(first.Resources) != 2 {
		t.Fatalf("%d resources on the first connection, want 2", len(first.Resources))
	}
	have := map[string]string{}
	for _, r := range first.Resources {
		have[r.Name] = r.Version
	}
	s.SetPlan(drainWeighted(w, "us-east"))
	again, cancel := open(have)
	defer cancel()
	if len(again.Resources) != 1 || again.Resources[0].Name != EndpointsName(g, weightedSvc) {
		var got []string
		for _, r := range again.Resources {
			got = append(got, r.Name)
		}
		t.Fatalf("the reconnected stream got %v, want only the weighted service's endpoints, which changed", got)
	}
}

// TestEndpointService: a client configured with the endpoint discovery
// service alone, not ADS, gets its endpoints, and requests that leave the
// type out are taken as that service's.
func TestEndpointService(t *testing.T) {
	s := New(Config{})
	s.SetPlan(newWorld().plan())
	cc, err := grpc.NewClient(startServer(t, s), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	stream, err := endpointservice.NewEndpointDiscoveryServiceClient(cc).StreamEndpoints(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	g := euGateway
	if err := stream.Send(&discovery.DiscoveryRequest{Node: gatewayNode("gw-eds"), ResourceNames: []string{EndpointsName(g, geoSvc)}}); err != nil {
		t.Fatal(err)
	}
	resp := next(t, received(stream.Recv))
	if resp.TypeUrl != resource.EndpointType || len(resp.Resources) != 1 || decodeCLA(t, resp.Resources[0].Value).ClusterName != EndpointsName(g, geoSvc) {
		t.Fatalf("got %d %s, want the geo service's endpoints", len(resp.Resources), resp.TypeUrl)
	}
}

// TestClosedStreamsLeaveNothing: streams closed while pushes are due to
// them leave no goroutine and no stream in their group.
func TestClosedStreamsLeaveNothing(t *testing.T) {
	w := newWorld()
	s, ads := servedADS(t, w)
	g := euGateway
	for i := range 20 {
		ctx, cancel := context.WithCancel(t.Context())
		stream, err := ads.StreamAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&discovery.DiscoveryRequest{Node: gatewayNode("gw"), TypeUrl: resource.ClusterType}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&discovery.DiscoveryRequest{Node: gatewayNode("gw"), TypeUrl: resource.ClusterType, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce}); err != nil {
			t.Fatal(err)
		}
		s.SetPlan(drainWeighted(w, []string{"us-east", ""}[i%2]))
		cancel()
	}
	res := s.resourcesOf(g.String())
	waitFor(t, "the closed streams to leave their group", func() bool {
		res.smu.Lock()
		defer res.smu.Unlock()
		return len(res.streams) == 0
	})
}

// TestDeltaSubscriptionsAreCapped: an incremental stream that subscribes,
// request by request, to more than maxSubscribed names of a type is ended
// with RESOURCE_EXHAUSTED, rather than make the server hold them all.
func TestDeltaSubscriptionsAreCapped(t *testing.T) {
	_, ads := servedADS(t, newWorld())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	stream, err := ads.DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 40_000
	for i := 0; i <= maxSubscribed/batch; i++ {
		names := make([]string, batch)
		for j := range names {
			names[j] = fmt.Sprintf("n%d-%d", i, j)
		}
		if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: gatewayNode("gw-greedy"), TypeUrl: resource.EndpointType, ResourceNamesSubscribe: names}); err != nil {
			break // the server ended the stream
		}
	}
	for {
		_, err := stream.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("the stream ended with %v, want RESOURCE_EXHAUSTED", err)
		}
		return
	}
}

// TestDeltaWildcardAnswersOnlyChanges: once a wildcard incremental
// subscription has had its first answer, a request that subscribes to a
// name it already gets changes nothing and is not answered.
func TestDeltaWildcardAnswersOnlyChanges(t *testing.T) {
	_, ads := servedADS(t, newWorld())
	stream, err := ads.DeltaAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	resps := received(stream.Recv)
	node := gatewayNode("gw-wildcard")
	if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.ClusterType}); err != nil {
		t.Fatal(err)
	}
	first := next(t, resps)
	if len(first.Resources) != 2 {
		t.Fatalf("%d clusters, want 2", len(first.Resources))
	}
	if err := stream.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType, ResponseNonce: first.Nonce}); err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType, ResourceNamesSubscribe: []string{geoSvc}}); err != nil {
		t.Fatal(err)
	}
	none(t, resps, 200*time.Millisecond, "the wildcard subscription already has every cluster")
}

// TestRequestsThatChangeNamesAreAnswered: a request that ACKs the latest
// response and changes what is subscribed to is answered with what it
// added, though the group's resources did not change since: an
// incremental subscribe; and a state-of-the-world client that leaves a
// wildcard for names is sent what it names again, though it had it: the
// protocol asks a server to resend newly requested resources.
func TestRequestsThatChangeNamesAreAnswered(t *testing.T) {
	_, ads := servedADS(t, newWorld())
	g := euGateway
	geo, weighted := EndpointsName(g, geoSvc), EndpointsName(g, weightedSvc)

	delta, err := ads.DeltaAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	dresps := received(delta.Recv)
	if err := delta.Send(&discovery.DeltaDiscoveryRequest{Node: gatewayNode("gw-delta-names"), TypeUrl: resource.EndpointType, ResourceNamesSubscribe: []string{weighted}}); err != nil {
		t.Fatal(err)
	}
	first := next(t, dresps)
	if err := delta.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: first.Nonce, ResourceNamesSubscribe: []string{geo}}); err != nil {
		t.Fatal(err)
	}
	if got := next(t, dresps); len(got.Resources) != 1 || got.Resources[0].Name != geo {
		t.Fatalf("the ACK that subscribed to %s got %d resources, want that one", geo, len(got.Resources))
	}

	sotw, err := ads.StreamAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sresps := received(sotw.Recv)
	if err := sotw.Send(&discovery.DiscoveryRequest{Node: gatewayNode("gw-sotw-names"), TypeUrl: resource.ClusterType}); err != nil {
		t.Fatal(err)
	}
	all := next(t, sresps)
	if len(all.Resources) != 2 {
		t.Fatalf("the legacy wildcard got %d clusters, want 2", len(all.Resources))
	}
	if err := sotw.Send(&discovery.DiscoveryRequest{TypeUrl: resource.ClusterType, VersionInfo: all.VersionInfo, ResponseNonce: all.Nonce}); err != nil {
		t.Fatal(err)
	}
	none(t, sresps, 200*time.Millisecond, "the ACK named nothing, as before")
	if err := sotw.Send(&discovery.DiscoveryRequest{TypeUrl: resource.ClusterType, VersionInfo: all.VersionInfo, ResponseNonce: all.Nonce, ResourceNames: []string{geoSvc}}); err != nil {
		t.Fatal(err)
	}
	if got := next(t, sresps); len(got.Resources) != 1 {
		t.Fatalf("after naming %s alone the clusters are %d, want 1", geoSvc, len(got.Resources))
	}

	// Endpoints from a wildcard, then named: resent, though a response
	// of endpoints need not list those the client keeps.
	if err := sotw.Send(&discovery.DiscoveryRequest{TypeUrl: resource.EndpointType}); err != nil {
		t.Fatal(err)
	}
	every := next(t, sresps)
	if len(every.Resources) < 2 {
		t.Fatalf("the wildcard got %d endpoints, want every service's", len(every.Resources))
	}
	if err := sotw.Send(&discovery.DiscoveryRequest{TypeUrl: resource.EndpointType, VersionInfo: every.VersionInfo, ResponseNonce: every.Nonce, ResourceNames: []string{geo}}); err != nil {
		t.Fatal(err)
	}
	if got := next(t, sresps); got.TypeUrl != resource.EndpointType || len(got.Resources) != 1 || decodeCLA(t, got.Resources[0].Value).ClusterName != geo {
		t.Fatalf("after naming %s the response has %d %s, want those endpoints again", geo, len(got.Resources), got.TypeUrl)
	}
}

// TestRepeatedNamesAreNotAnACK: a request that keeps the number of names
// but repeats one and drops another unsubscribes from the dropped one (an
// outside tester's case): its changes are no longer sent, and it is sent
// again when named again.
func TestRepeatedNamesAreNotAnACK(t *testing.T) {
	w := newWorld()
	s, stream := sotwStream(t, w, Config{})
	resps := received(stream.Recv)
	g := euGateway
	geo, weighted := EndpointsName(g, geoSvc), EndpointsName(g, weightedSvc)
	send := func(names []string, acked *discovery.DiscoveryResponse) {
		t.Helper()
		req := &discovery.DiscoveryRequest{Node: gatewayNode("gw-repeat"), TypeUrl: resource.EndpointType, ResourceNames: names}
		if acked != nil {
			req.VersionInfo, req.ResponseNonce = acked.VersionInfo, acked.Nonce
		}
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	send([]string{geo, weighted}, nil)
	first := next(t, resps)
	send([]string{geo, weighted}, first)
	send([]string{geo, geo}, first)
	none(t, resps, 200*time.Millisecond, "nothing new is named")
	s.SetPlan(drainWeighted(w, "us-east"))
	none(t, resps, 300*time.Millisecond, "the weighted service's endpoints changed, but the client dropped them")
	send([]string{geo, weighted}, first)
	resp := next(t, resps)
	if len(resp.Resources) != 1 || decodeCLA(t, resp.Resources[0].Value).ClusterName != weighted {
		t.Fatalf("named again, the weighted service's endpoints were not sent alone (%d resources)", len(resp.Resources))
	}
}

// TestSameNames: which state-of-the-world requests leave a subscription
// as it is, so that the request needs no comparison with the resources.
func TestSameNames(t *testing.T) {
	for _, tc := range []struct {
		first, then []string
		same        bool
	}{
		{nil, nil, true},            // legacy wildcard stays
		{nil, []string{"a"}, false}, // leaves it
		{nil, []string{"*"}, false}, // explicit now: names nothing more, but leaves legacy
		{[]string{"a", "b"}, []string{"b", "a"}, true},
		{[]string{"a", "b"}, []string{"a"}, false},
		{[]string{"a"}, []string{"a", "b"}, false},
		{[]string{"a"}, []string{"a", "a"}, false}, // counted twice: not the same, to be safe
		{[]string{"a"}, nil, false},                // no longer legacy: empty names nothing
		{[]string{"*", "a"}, []string{"a", "*"}, true},
		{[]string{"*", "a"}, []string{"a"}, false},
		{[]string{"*"}, []string{"*"}, true},
		{[]string{"a", "b"}, []string{"a", "a"}, false}, // as many names, one repeated, one dropped
		{[]string{"*", "a", "b"}, []string{"*", "a", "a"}, false},
		{[]string{"a", "a"}, []string{"a", "a"}, true}, // the same list again
	} {
		sub := newSotwSubscription(tc.first)
		if got := sub.sameNames(tc.then); got != tc.same {
			t.Errorf("subscribed to %q, then %q: same %v, want %v", tc.first, tc.then, got, tc.same)
		}
	}
}

// TestShutdownWithABlockedSend: a client that stops reading holds a
// stream's sender in a send that flow control blocks; the server still
// stops, within its grace period.
func TestShutdownWithABlockedSend(t *testing.T) {
	cfg := benchConfig{localities: 20, services: 100}
	s := New(Config{})
	s.SetPlan(benchWorldFor(cfg).plan())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	stream, err := dialADS(t, ln.Addr().String(), nil).StreamAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	region, _ := cfg.locality(0)
	g := Group{Role: Gateway, Region: region, Zone: region + "a"}
	node := gatewayNode("gw-deaf")
	node.Locality.Region, node.Locality.Zone = g.Region, g.Zone
	var eds []string
	for i := range cfg.services {
		eds = append(eds, EndpointsName(g, benchService(i)))
	}
	// The endpoints (about 210 KB) exceed the stream's 64 KiB window, and
	// the listeners' send then waits for room that never comes.
	for _, r := range []*discovery.DiscoveryRequest{
		{Node: node, TypeUrl: resource.EndpointType, ResourceNames: eds},
		{Node: node, TypeUrl: resource.ListenerType},
		{Node: node, TypeUrl: resource.ClusterType},
	} {
		if err := stream.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the server to send the endpoints", func() bool {
		res := s.resourcesOf(g.String())
		if res == nil {
			return false
		}
		res.smu.Lock()
		defer res.smu.Unlock()
		for st := range res.streams {
			st.mu.Lock()
			sending := st.sending && st.subs[edsType] != nil && st.subs[edsType].awaiting
			st.mu.Unlock()
			return sending
		}
		return false
	})
	time.Sleep(300 * time.Millisecond)
	res := s.resourcesOf(g.String())
	blocked := true
	res.smu.Lock()
	for st := range res.streams {
		st.mu.Lock()
		blocked = blocked && st.sending
		st.mu.Unlock()
	}
	res.smu.Unlock()
	if !blocked {
		t.Fatal("the stream's sender is not blocked: the test does not test a blocked send")
	}
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
		t.Logf("stopped in %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop within 10 s with a stream whose client stopped reading")
	}
}
