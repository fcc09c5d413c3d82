package xds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meridian-gtm/meridian/internal/testcert"
	"github.com/meridian-gtm/meridian/model"
)

// gatewayNode is an Envoy gateway in eu-west, as its bootstrap declares it.
func gatewayNode(id string) *core.Node {
	md, _ := structpb.NewStruct(map[string]any{RoleKey: "gateway"})
	return &core.Node{Id: id, Cluster: "edge", Locality: &core.Locality{Region: "eu-west-1", Zone: "eu-west-1a"}, Metadata: md}
}

// dialADS opens an ADS connection the way Envoy does; creds nil: plaintext.
func dialADS(t testing.TB, addr string, creds credentials.TransportCredentials) discovery.AggregatedDiscoveryServiceClient {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return discovery.NewAggregatedDiscoveryServiceClient(cc)
}

// sotwGet asks for one type on a state-of-the-world stream, ACKs the
// answer and returns it.
func sotwGet(t testing.TB, s discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient, node *core.Node, typeURL string, names []string) *discovery.DiscoveryResponse {
	t.Helper()
	if err := s.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: typeURL, ResourceNames: names}); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.TypeUrl != typeURL {
		t.Fatalf("asked for %s, got %s", typeURL, resp.TypeUrl)
	}
	if err := s.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: typeURL, ResourceNames: names, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce}); err != nil {
		t.Fatal(err)
	}
	return resp
}

func decodeCLA(t testing.TB, raw []byte) *endpoint.ClusterLoadAssignment {
	t.Helper()
	var cla endpoint.ClusterLoadAssignment
	if err := proto.Unmarshal(raw, &cla); err != nil {
		t.Fatal(err)
	}
	return &cla
}

// priorities maps each locality's sub-zone (the member cluster) to its priority.
func priorities(cla *endpoint.ClusterLoadAssignment) map[string]uint32 {
	m := map[string]uint32{}
	for _, l := range cla.Endpoints {
		m[l.Locality.SubZone] = l.Priority
	}
	return m
}

// sotwStream starts a server on w's Plan and opens a state-of-the-world
// ADS stream to it, closed when the test ends.
func sotwStream(t *testing.T, w *world, cfg Config) (*Server, discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient) {
	t.Helper()
	s := New(cfg)
	s.SetPlan(w.plan())
	ads := dialADS(t, startServer(t, s), nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s, stream
}

// TestGatewaySotW follows an Envoy gateway through state-of-the-world ADS:
// listeners, routes and clusters, then endpoints with its locality's
// priorities; a Plan change reaches it, and an unchanged version is not
// resent.
func TestGatewaySotW(t *testing.T) {
	w := newWorld()
	s, stream := sotwStream(t, w, Config{Options: Options{GatewayPorts: []uint32{8080}}})
	node := gatewayNode("gw-1")
	lds := sotwGet(t, stream, node, resource.ListenerType, nil)
	if len(lds.Resources) != 1 {
		t.Fatalf("%d listeners, want 1", len(lds.Resources))
	}
	rds := sotwGet(t, stream, node, resource.RouteType, []string{"gateway_8080"})
	if len(rds.Resources) != 1 {
		t.Fatalf("%d route configurations, want 1", len(rds.Resources))
	}
	cds := sotwGet(t, stream, node, resource.ClusterType, nil)
	if len(cds.Resources) != 2 {
		t.Fatalf("%d clusters, want 2", len(cds.Resources))
	}
	edsName := EndpointsName(Group{Role: Gateway, Region: "eu-west-1", Zone: "eu-west-1a"}, geoSvc)
	eds := sotwGet(t, stream, node, resource.EndpointType, []string{edsName})
	cla := decodeCLA(t, eds.Resources[0].Value)
	want := map[string]uint32{"eu-west": 0, "us-east": 1, "ap-southeast": 2}
	if got := priorities(cla); !mapsEqual(got, want) {
		t.Errorf("priorities %v, want %v (eu-west's zone, then by distance)", got, want)
	}

	// Drain eu-west: the endpoints change, and only they.
	w.ovr = model.NewOverrides([]model.Override{{Kind: model.Drain, Cluster: "eu-west", Reason: "test", Created: time.Now()}})
	s.SetPlan(w.plan())
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.TypeUrl != resource.EndpointType || resp.VersionInfo == eds.VersionInfo {
		t.Fatalf("after the drain got %s version %s, want new endpoints", resp.TypeUrl, resp.VersionInfo)
	}
	cla = decodeCLA(t, resp.Resources[0].Value)
	want = map[string]uint32{"us-east": 0, "ap-southeast": 1}
	if got := priorities(cla); !mapsEqual(got, want) {
		t.Errorf("after the drain priorities %v, want %v", got, want)
	}
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: []string{edsName}, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce}); err != nil {
		t.Fatal(err)
	}

	// The same Plan again: nothing is sent.
	s.SetPlan(w.plan())
	got := make(chan *discovery.DiscoveryResponse, 1)
	go func() {
		r, err := stream.Recv()
		if err == nil {
			got <- r
		}
	}()
	select {
	case r := <-got:
		t.Errorf("an unchanged Plan sent %s version %s", r.TypeUrl, r.VersionInfo)
	case <-time.After(300 * time.Millisecond):
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestGatewayDelta follows a gateway through incremental (delta) ADS: a
// Plan change that touches one service sends that service's endpoints and
// not the other's.
func TestGatewayDelta(t *testing.T) {
	w := newWorld()
	s := New(Config{})
	s.SetPlan(w.plan())
	ads := dialADS(t, startServer(t, s), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := ads.DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := gatewayNode("gw-delta")
	get := func(typeURL string, subscribe []string) *discovery.DeltaDiscoveryResponse {
		t.Helper()
		if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: typeURL, ResourceNamesSubscribe: subscribe}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resp.TypeUrl, ResponseNonce: resp.Nonce}); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	cds := get(resource.ClusterType, nil)
	var names []string
	for _, r := range cds.Resources {
		names = append(names, r.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{geoSvc, weightedSvc}) {
		t.Fatalf("clusters %v", names)
	}
	g := Group{Role: Gateway, Region: "eu-west-1", Zone: "eu-west-1a"}
	eds := get(resource.EndpointType, []string{EndpointsName(g, geoSvc), EndpointsName(g, weightedSvc)})
	if len(eds.Resources) != 2 {
		t.Fatalf("%d endpoint resources, want 2", len(eds.Resources))
	}

	// Only the weighted service changes.
	w.ovr = model.NewOverrides([]model.Override{{Kind: model.Drain, Service: weightedSvc, Cluster: "us-east", Reason: "test", Created: time.Now()}})
	s.SetPlan(w.plan())
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Resources) != 1 || resp.Resources[0].Name != EndpointsName(g, weightedSvc) {
		var got []string
		for _, r := range resp.Resources {
			got = append(got, r.Name)
		}
		t.Fatalf("delta update carried %v, want only the weighted service's endpoints", got)
	}
	if _, drained := priorities(decodeCLA(t, resp.Resources[0].Resource.Value))["us-east"]; drained {
		t.Error("the drained cluster is still in the endpoints")
	}
}

// TestEndpointsOnlyPlanSendsOnlyEndpoints follows a gateway on a
// state-of-the-world stream that watches every type: a Plan that only
// moves endpoints (a cluster drained) sends endpoints and nothing else.
// The proof is positive: a later Plan that adds a service sends clusters,
// and the first clusters response after the drain must be that one (a
// clusters response sent for the drain would come first, in stream order).
func TestEndpointsOnlyPlanSendsOnlyEndpoints(t *testing.T) {
	w := newWorld()
	s, stream := sotwStream(t, w, Config{})
	node := gatewayNode("gw-eds-only")
	g := Group{Role: Gateway, Region: "eu-west-1", Zone: "eu-west-1a"}
	lds := sotwGet(t, stream, node, resource.ListenerType, nil)
	rds := sotwGet(t, stream, node, resource.RouteType, []string{"gateway_80"})
	cds := sotwGet(t, stream, node, resource.ClusterType, nil)
	edsNames := []string{EndpointsName(g, geoSvc), EndpointsName(g, weightedSvc)}
	sotwGet(t, stream, node, resource.EndpointType, edsNames)
	for deadline := time.Now().Add(5 * time.Second); s.watches(g.String()) < 3; {
		if time.Now().After(deadline) {
			t.Fatal("the server did not open the watches")
		}
		time.Sleep(time.Millisecond)
	}
	names := map[string][]string{resource.RouteType: {"gateway_80"}, resource.EndpointType: edsNames}
	recvACK := func() *discovery.DiscoveryResponse {
		t.Helper()
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resp.TypeUrl, ResourceNames: names[resp.TypeUrl], VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce}); err != nil {
			t.Fatal(err)
		}
		return resp
	}

	w.ovr = model.NewOverrides([]model.Override{{Kind: model.Drain, Cluster: "us-east", Reason: "test", Created: time.Now()}})
	s.SetPlan(w.plan())
	if resp := recvACK(); resp.TypeUrl != resource.EndpointType {
		t.Fatalf("the drain sent %s first, want endpoints", shortType(resp.TypeUrl))
	}

	const added = "new.gslb.example.com"
	w.inv = w.inv.WithBackends(added, []model.Backend{{Cluster: "eu-west", Ingress: addrs("127.0.0.2"), ReadyPods: 1}})
	w.pol = model.NewPolicies(model.DefaultStaleGrace, append(w.pol.Services(), model.DefaultPolicy(added, model.Geo)))
	s.SetPlan(w.plan())
	for {
		resp := recvACK()
		switch resp.TypeUrl {
		case resource.EndpointType:
			continue // the rest of the drain's endpoints, or none
		case resource.ClusterType:
			if len(resp.Resources) != 3 || resp.VersionInfo == cds.VersionInfo {
				t.Fatalf("clusters after the drain: %d at version %s (before: %s); want the 3 of the new service's Plan", len(resp.Resources), resp.VersionInfo, cds.VersionInfo)
			}
			return
		default:
			t.Fatalf("%s sent before the new clusters (listeners were at %s, routes at %s)", shortType(resp.TypeUrl), lds.VersionInfo, rds.VersionInfo)
		}
	}
}

// TestGatewayDeltaRemovesAGoneService follows a gateway on incremental
// ADS while a service leaves the Plan: the endpoints update names the gone
// service's endpoints as removed and carries no resource (the other
// service's endpoints did not change), and the clusters update removes its
// cluster.
func TestGatewayDeltaRemovesAGoneService(t *testing.T) {
	w := newWorld()
	s := New(Config{})
	s.SetPlan(w.plan())
	ads := dialADS(t, startServer(t, s), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := ads.DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := gatewayNode("gw-delta-gone")
	recvACK := func() *discovery.DeltaDiscoveryResponse {
		t.Helper()
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resp.TypeUrl, ResponseNonce: resp.Nonce}); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	g := Group{Role: Gateway, Region: "eu-west-1", Zone: "eu-west-1a"}
	for _, sub := range []struct {
		typeURL string
		names   []string
	}{{resource.ClusterType, nil}, {resource.EndpointType, []string{EndpointsName(g, geoSvc), EndpointsName(g, weightedSvc)}}} {
		if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: sub.typeURL, ResourceNamesSubscribe: sub.names}); err != nil {
			t.Fatal(err)
		}
		if resp := recvACK(); len(resp.Resources) != 2 {
			t.Fatalf("%s: %d resources, want 2", sub.typeURL, len(resp.Resources))
		}
	}

	w.inv = w.inv.WithBackends(weightedSvc, nil)
	w.pol = model.NewPolicies(model.DefaultStaleGrace, slices.DeleteFunc(w.pol.Services(), func(p model.ServicePolicy) bool { return p.Service == weightedSvc }))
	s.SetPlan(w.plan())
	got := map[string]*discovery.DeltaDiscoveryResponse{}
	for len(got) < 2 {
		resp := recvACK()
		if got[resp.TypeUrl] != nil {
			t.Fatalf("a second %s update: %v", resp.TypeUrl, resp)
		}
		got[resp.TypeUrl] = resp
	}
	for typeURL, want := range map[string]string{resource.ClusterType: weightedSvc, resource.EndpointType: EndpointsName(g, weightedSvc)} {
		resp := got[typeURL]
		if len(resp.Resources) != 0 || !slices.Equal(resp.RemovedResources, []string{want}) {
			var names []string
			for _, r := range resp.Resources {
				names = append(names, r.Name)
			}
			t.Errorf("%s update: resources %v, removed %v; want none and [%s]", shortType(typeURL), names, resp.RemovedResources, want)
		}
	}
}

// TestMutualTLS serves xDS with client certificates required: a client
// with a trusted certificate gets its resources, one without is refused.
func TestMutualTLS(t *testing.T) {
	serverCert := testcert.New(t, "127.0.0.1")
	clientCert := testcert.New(t, "gateway.example.org")
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(clientCert.X509)
	serverCAs := x509.NewCertPool()
	serverCAs.AddCert(serverCert.X509)
	s := New(Config{TLS: &tls.Config{Certificates: []tls.Certificate{serverCert.TLS}, ClientCAs: clientCAs, ClientAuth: tls.RequireAndVerifyClientCert}})
	s.SetPlan(newWorld().plan())
	addr := startServer(t, s)
	node := gatewayNode("gw-tls")

	good := dialADS(t, addr, credentials.NewTLS(&tls.Config{RootCAs: serverCAs, Certificates: []tls.Certificate{clientCert.TLS}}))
	stream, err := good.StreamAggregatedResources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cds := sotwGet(t, stream, node, resource.ClusterType, nil); len(cds.Resources) != 2 {
		t.Errorf("%d clusters over mTLS, want 2", len(cds.Resources))
	}

	bad := dialADS(t, addr, credentials.NewTLS(&tls.Config{RootCAs: serverCAs}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err = bad.StreamAggregatedResources(ctx)
	if err == nil {
		err = stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType})
		if err == nil {
			_, err = stream.Recv()
		}
	}
	if err == nil {
		t.Error("a client without a certificate got an answer")
	}
}

// TestNewServiceMakeBeforeBreak checks the order of updates when a service
// appears: its cluster reaches the gateway before the route that sends
// traffic to it, so that Envoy never routes to a cluster it does not know.
func TestNewServiceMakeBeforeBreak(t *testing.T) {
	w := newWorld()
	s, stream := sotwStream(t, w, Config{})
	node := gatewayNode("gw-order")
	sotwGet(t, stream, node, resource.ListenerType, nil)
	sotwGet(t, stream, node, resource.RouteType, []string{"gateway_80"})
	sotwGet(t, stream, node, resource.ClusterType, nil)
	// SotW can only order what the client watches: wait until the server
	// has taken the three ACKs and watches all three types again.
	group := Group{Role: Gateway, Region: "eu-west-1", Zone: "eu-west-1a"}.String()
	for deadline := time.Now().Add(5 * time.Second); s.watches(group) < 3; {
		if time.Now().After(deadline) {
			t.Fatal("the server did not open the watches")
		}
		time.Sleep(time.Millisecond)
	}

	const added = "new.gslb.example.com"
	w.inv = w.inv.WithBackends(added, []model.Backend{{Cluster: "eu-west", Ingress: addrs("127.0.0.2"), ReadyPods: 1}})
	w.pol = model.NewPolicies(model.DefaultStaleGrace, append(w.pol.Services(), model.DefaultPolicy(added, model.Geo)))
	s.SetPlan(w.plan())
	var order []string
	for range 2 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, shortType(resp.TypeUrl))
		names := []string(nil)
		if resp.TypeUrl == resource.RouteType {
			names = []string{"gateway_80"}
		}
		if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resp.TypeUrl, ResourceNames: names, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce}); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(order, []string{"Cluster", "RouteConfiguration"}) {
		t.Errorf("updates came in the order %v, want the cluster before the route", order)
	}
}

// TestGroupsShareSnapshots connects gateways in two localities, several in
// each, and checks that the server keeps one snapshot per locality.
func TestGroupsShareSnapshots(t *testing.T) {
	s := New(Config{})
	s.SetPlan(newWorld().plan())
	addr := startServer(t, s)
	for i := range 6 {
		node := gatewayNode(fmt.Sprint("gw-", i))
		if i%2 == 1 {
			node.Locality = &core.Locality{Region: "us-east-1", Zone: "us-east-1b"}
		}
		stream, err := dialADS(t, addr, nil).StreamAggregatedResources(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if cds := sotwGet(t, stream, node, resource.ClusterType, nil); len(cds.Resources) != 2 {
			t.Fatalf("gateway %d got %d clusters", i, len(cds.Resources))
		}
	}
	keys := s.groupKeys()
	slices.Sort(keys)
	if want := []string{"gateway/eu-west-1/eu-west-1a", "gateway/us-east-1/us-east-1b"}; !slices.Equal(keys, want) {
		t.Errorf("caches kept for %v, want %v", keys, want)
	}
}
