package xds

import (
	"fmt"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meridian-gtm/meridian/model"
)

// largeWorld has clusters clusters in 10 regions, each serving every one of
// services geo services through two ingress addresses.
func largeWorld(clusters, services int) *world {
	var cls []model.Cluster
	var bs []model.Backend
	for c := range clusters {
		region := fmt.Sprintf("region-%d", c%10)
		name := fmt.Sprintf("c%02d", c)
		loc := model.Point{Lat: float64(c%10)*15 - 60, Lon: float64(c)*7 - 170}
		cls = append(cls, model.Cluster{Name: name, Locality: model.Locality{Region: region, Zone: fmt.Sprintf("%s-%c", region, 'a'+c/10)}, Location: model.LocationAt(loc)})
		for s := range services {
			bs = append(bs, model.Backend{Service: largeService(s), Cluster: name,
				Ingress: addrs(fmt.Sprintf("10.%d.%d.%d", c, s/125, s%125*2+1), fmt.Sprintf("10.%d.%d.%d", c, s/125, s%125*2+2)), ReadyPods: 4 + s%7})
		}
	}
	var pols []model.ServicePolicy
	for s := range services {
		pols = append(pols, model.DefaultPolicy(largeService(s), model.Geo))
	}
	return &world{inv: model.NewInventory(cls, bs), pol: model.NewPolicies(model.DefaultStaleGrace, pols)}
}

func largeService(i int) string { return fmt.Sprintf("svc%04d.gslb.example.com", i) }

// BenchmarkPlanOneServiceChanged measures SetPlan at 50 clusters × 2,000
// services with 10 node groups connected (gateways and gRPC clients in 5
// regions) when one service's shares move: one op publishes a Plan that
// drains the service in one cluster, or undoes it. SetPlan returns when
// the caches hold the new resources and the watches are answered; the
// sending happens in the streams' goroutines. The groups are joined
// directly, without streams, so that only the rendering is measured.
func BenchmarkPlanOneServiceChanged(b *testing.B) {
	const clusters, services = 50, 2000
	w := largeWorld(clusters, services)
	base := w.plan()
	w.ovr = model.NewOverrides([]model.Override{{Kind: model.Drain, Service: largeService(7), Cluster: "c03", Reason: "bench", Created: time.Now()}})
	drained := w.plan()
	s := New(Config{})
	s.SetPlan(base)
	s.mu.Lock()
	id := int64(0)
	for _, role := range []string{"gateway", "grpc"} {
		for r := range 5 {
			id++
			n := gatewayNode(fmt.Sprint("node-", id))
			n.Metadata.Fields[RoleKey] = structpb.NewStringValue(role)
			n.Locality = &core.Locality{Region: fmt.Sprintf("region-%d", r), Zone: fmt.Sprintf("region-%d-a", r)}
			s.join(id, n)
		}
	}
	s.mu.Unlock()
	plans := []*model.Plan{drained, base}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.SetPlan(plans[i%2])
	}
}

// BenchmarkPlanClusterDrained measures SetPlan when a whole cluster is
// drained or back, which changes every service's endpoints in every group:
// the shape of BenchmarkPlanToACK at 10,000 clients (20 localities, one
// cluster each, 100 services), with its 40 node groups (gateways and gRPC
// clients in each locality) joined directly, without streams. Groups are
// rendered by one worker per CPU: compare -cpu 1,2.
func BenchmarkPlanClusterDrained(b *testing.B) {
	cfg := benchConfig{localities: 20, services: 100}
	w := benchWorldFor(cfg)
	base := w.plan()
	region, _ := cfg.locality(3)
	w.ovr = model.NewOverrides([]model.Override{{Kind: model.Drain, Cluster: "c-" + region, Reason: "bench", Created: time.Now()}})
	drained := w.plan()
	s := New(Config{})
	s.SetPlan(base)
	s.mu.Lock()
	for i := range 2 * cfg.localities {
		cfg := cfg
		cfg.gateways, cfg.grpc = cfg.localities, cfg.localities
		g, _ := cfg.client(i)
		n := gatewayNode(fmt.Sprint("node-", i))
		n.Metadata.Fields[RoleKey] = structpb.NewStringValue(g.Role.String())
		n.Locality = &core.Locality{Region: g.Region, Zone: g.Zone}
		s.join(int64(i+1), n)
	}
	groups := len(s.groups)
	s.mu.Unlock()
	if groups != 2*cfg.localities {
		b.Fatalf("%d groups, want %d", groups, 2*cfg.localities)
	}
	plans := []*model.Plan{drained, base}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.SetPlan(plans[i%2])
	}
}

// BenchmarkSotwACK measures a state-of-the-world ACK of a gateway's
// endpoints, 2,000 services' in its group at 50 clusters: the request
// that most often reaches the server, as every push is ACKed. Nothing
// changed since the response it ACKs, so nothing is sent; an op is the
// request taken and the stream's sender done.
func BenchmarkSotwACK(b *testing.B) {
	const clusters, services = 50, 2000
	s := New(Config{})
	s.SetPlan(largeWorld(clusters, services).plan())
	g := Group{Role: Gateway, Region: "region-0", Zone: "region-0-a"}
	names := make([]string, services)
	for i := range names {
		names[i] = EndpointsName(g, largeService(i))
	}
	node := gatewayNode("gw-ack")
	node.Locality = &core.Locality{Region: g.Region, Zone: g.Zone}
	var last *discovery.DiscoveryResponse
	st := &adsStream{s: s, id: streamIDs.Add(1), sendSotW: func(r *discovery.DiscoveryResponse) error { last = r; return nil }}
	defer st.close()
	request := func(version, nonce string) {
		if err := st.sotwRequest(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNames: names, VersionInfo: version, ResponseNonce: nonce}); err != nil {
			b.Fatal(err)
		}
		st.senders.Wait()
	}
	request("", "")
	if last == nil || len(last.Resources) != services {
		b.Fatalf("the subscription got %v, want %d endpoints", last, services)
	}
	sent := last
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		request(sent.VersionInfo, sent.Nonce)
	}
	b.StopTimer()
	if last != sent {
		b.Fatal("an ACK was answered")
	}
}
