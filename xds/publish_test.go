package xds

import (
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-gtm/meridian/model"
)

// TestPublishHandsTheCacheTheEncoding: what publish gives the caches
// marshals, as go-control-plane marshals what it sends, to the resource's
// own deterministic encoding, which decodes to the resource; an unchanged
// resource is not published again, and a changed one is.
func TestPublishHandsTheCacheTheEncoding(t *testing.T) {
	for _, spill := range []model.SpillMode{model.SpillHosts, model.SpillCapacity} {
		plan := testPlanSpill(t, spill)
		for _, role := range []Role{Gateway, GRPC, Sidecar} {
			r, err := Build(plan, Group{Role: role, Region: "us-east-1"}, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			var all []proto.Message
			for _, xs := range [][]proto.Message{toMessages(r.Listeners), toMessages(r.Routes), toMessages(r.Clusters), toMessages(r.Endpoints)} {
				all = append(all, xs...)
			}
			for _, m := range all {
				update := map[string]types.Resource{}
				h := publish(update, "x", m, 0)
				if len(update) != 1 {
					t.Fatalf("%v: a new resource was not published", m)
				}
				got, err := cache.MarshalResource(update["x"])
				if err != nil {
					t.Fatal(err)
				}
				want, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(want) {
					t.Fatalf("%s: the cache would send other bytes than the resource's encoding", m.ProtoReflect().Descriptor().FullName())
				}
				back := m.ProtoReflect().New().Interface()
				if err := proto.Unmarshal(got, back); err != nil || !proto.Equal(back, m) {
					t.Fatalf("%s: the bytes sent do not decode to the resource (%v)", m.ProtoReflect().Descriptor().FullName(), err)
				}
				clear(update)
				if publish(update, "x", m, h) != h || len(update) != 0 {
					t.Fatalf("%s: an unchanged resource was published again", m.ProtoReflect().Descriptor().FullName())
				}
			}
		}
	}
	a := &endpoint.ClusterLoadAssignment{ClusterName: "a"}
	b := &endpoint.ClusterLoadAssignment{ClusterName: "b"}
	update := map[string]types.Resource{}
	ha := publish(update, "x", a, 0)
	clear(update)
	if hb := publish(update, "x", b, ha); hb == ha || update["x"] == nil {
		t.Error("a changed resource was not published, or got the old one's hash")
	}
}

// TestKeptClusterFollowsItsPolicy: a service's cluster, kept from one
// rendering to the next while the Plan moves only endpoints, is rendered
// and published again when what it is made from changes: the panic
// threshold, and the spill mode (capacity spill's locality-weighted
// balancing).
func TestKeptClusterFollowsItsPolicy(t *testing.T) {
	w := benchWorldFor(benchConfig{localities: 3, services: 2})
	s := New(Config{})
	s.SetPlan(w.plan())
	s.mu.Lock()
	s.join(1, gatewayNode("gw"))
	key := Group{Role: Gateway, Region: "eu-west-1", Zone: "eu-west-1a"}.String()
	s.mu.Unlock()
	svc := benchService(0)
	clusterOf := func() (*clusterv3.Cluster, types.Resource) {
		t.Helper()
		tc := s.cachesOf(key)
		if tc == nil {
			t.Fatalf("no caches for %s among %v", key, s.cacheKeys())
		}
		res := tc.cds.GetResources()[svc]
		b, err := cache.MarshalResource(res)
		if err != nil {
			t.Fatal(err)
		}
		var c clusterv3.Cluster
		if err := proto.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		return &c, res
	}
	check := func(when string, threshold float64, weighted bool) {
		t.Helper()
		c, _ := clusterOf()
		lb := c.GetCommonLbConfig()
		if lb.GetHealthyPanicThreshold().GetValue() != threshold || (lb.GetLocalityWeightedLbConfig() != nil) != weighted {
			t.Errorf("%s: cluster %s has panic threshold %v, locality-weighted %v; want %v, %v", when, c.GetName(), lb.GetHealthyPanicThreshold().GetValue(), lb.GetLocalityWeightedLbConfig() != nil, threshold, weighted)
		}
	}
	check("first", model.DefaultPanicThreshold, true) // capacity spill is the default

	// Only endpoints move: the cluster is not published again.
	_, before := clusterOf()
	w.ovr = model.NewOverrides([]model.Override{{Kind: model.Drain, Cluster: "c-eu-west-1", Reason: "test", Created: time.Now()}})
	s.SetPlan(w.plan())
	if _, after := clusterOf(); after != before {
		t.Error("a drain, which moves endpoints only, published the cluster again")
	}

	var pols []model.ServicePolicy
	for i := range 2 {
		p := model.DefaultPolicy(benchService(i), model.Geo)
		if i == 0 {
			p.PanicThreshold = 20
		}
		pols = append(pols, p)
	}
	w.pol = model.NewPolicies(model.DefaultStaleGrace, pols)
	s.SetPlan(w.plan())
	check("after the panic threshold changed", 20, true)

	pols[0].Spill = model.SpillHosts
	w.pol = model.NewPolicies(model.DefaultStaleGrace, pols)
	s.SetPlan(w.plan())
	check("after hosts spill replaced capacity spill", 20, false)
}
