package xds

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meridian-gtm/meridian/model"
)

// TestPublishHandsOnTheEncoding: what publish hands on is the resource's
// own deterministic encoding, which decodes to the resource, with its
// hash; an unchanged resource is not published again, and a changed one
// is.
func TestPublishHandsOnTheEncoding(t *testing.T) {
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
				update := map[string]encoded{}
				h := publish(update, "x", m, 0)
				if len(update) != 1 || update["x"].hash != h {
					t.Fatalf("%v: a new resource was not published, or not with its hash", m)
				}
				got := update["x"].bytes
				want, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(want) {
					t.Fatalf("%s: the streams would send other bytes than the resource's encoding", m.ProtoReflect().Descriptor().FullName())
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
	update := map[string]encoded{}
	ha := publish(update, "x", a, 0)
	clear(update)
	if hb := publish(update, "x", b, ha); hb == ha || update["x"].bytes == nil {
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
	clusterOf := func() (*clusterv3.Cluster, *anypb.Any) {
		t.Helper()
		res := s.resourcesOf(key)
		if res == nil {
			t.Fatalf("no resources for %s among %v", key, s.groupKeys())
		}
		held := res.held(cdsType)[svc].any
		var c clusterv3.Cluster
		if err := proto.Unmarshal(held.GetValue(), &c); err != nil {
			t.Fatal(err)
		}
		return &c, held
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

// TestIncrementalRenderingMatchesBuild: after every Plan of a sequence
// (drains of a cluster and of a service, a health verdict, hosts spill
// replacing capacity spill, pods scaled, an address replaced, a zone
// relabelled, and back), what every group holds is
// what Build renders from that Plan alone, though refresh renders only
// what changed and keeps, resource by resource, what the group gets the
// same; and a whole-cluster drain, which changes every service, leaves the
// endpoints of some groups as they were, published once.
func TestIncrementalRenderingMatchesBuild(t *testing.T) {
	cfg := benchConfig{localities: 5, services: 3}
	w := benchWorldFor(cfg)
	opts := Options{EastWestGateways: map[string]netip.AddrPort{"c-eu-west-1": netip.MustParseAddrPort("192.0.2.100:15443")}}
	s := New(Config{Options: opts})
	s.SetPlan(w.plan())
	var groups []Group
	s.mu.Lock()
	for i := range cfg.localities {
		region, _ := cfg.locality(i)
		for _, role := range []Role{Gateway, GRPC, Sidecar} {
			g := Group{Role: role, Region: region, Zone: region + "a"}
			md, _ := structpb.NewStruct(map[string]any{RoleKey: role.String()})
			s.join(int64(len(groups)+1), &core.Node{Id: g.String(), Locality: &core.Locality{Region: g.Region, Zone: g.Zone}, Metadata: md})
			groups = append(groups, g)
		}
	}
	s.mu.Unlock()

	// held is what the groups hold, by type and name, as the Anys their
	// streams send.
	held := func() map[string]*anypb.Any {
		out := map[string]*anypb.Any{}
		for _, g := range groups {
			res := s.resourcesOf(g.String())
			for kind, t := range map[string]xdsType{"lds": ldsType, "rds": rdsType, "cds": cdsType} {
				for name, e := range res.held(t) {
					out[g.String()+" "+kind+" "+name] = e.any
				}
			}
			for name, e := range res.held(edsType) {
				out["eds "+name] = e.any
			}
		}
		return out
	}
	check := func(step string, plan *model.Plan) {
		t.Helper()
		h := held()
		for _, g := range groups {
			want, err := Build(plan, g, opts)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			compare := func(key string, m proto.Message) {
				t.Helper()
				n++
				r, ok := h[key]
				if !ok {
					t.Fatalf("%s: the groups hold no %s", step, key)
				}
				got := m.ProtoReflect().New().Interface()
				if err := proto.Unmarshal(r.GetValue(), got); err != nil || !proto.Equal(got, m) {
					t.Fatalf("%s: the groups hold %s as %v; Build renders %v", step, key, got, m)
				}
			}
			for _, x := range want.Listeners {
				compare(g.String()+" lds "+x.Name, x)
			}
			for _, x := range want.Routes {
				compare(g.String()+" rds "+x.Name, x)
			}
			for _, x := range want.Clusters {
				compare(g.String()+" cds "+x.Name, x)
			}
			for _, x := range want.Endpoints {
				compare("eds "+x.ClusterName, x)
			}
			if n < 2*cfg.services {
				t.Fatalf("%s: only %d resources for %s", step, n, g)
			}
		}
	}
	check("first", w.plan())

	drain := func(svc string) []model.Override {
		return []model.Override{{Kind: model.Drain, Cluster: "c-eu-west-1", Service: svc, Reason: "test", Created: time.Now()}}
	}
	down := model.NewHealth([]model.TargetHealth{{Service: benchService(1), Cluster: "c-us-east-1", Address: netip.MustParseAddr("10.1.0.3"), State: model.Down, Since: time.Now(), Reason: "HTTP 503"}})
	hosts := model.DefaultPolicy(benchService(2), model.Geo)
	hosts.Spill = model.SpillHosts
	pols := []model.ServicePolicy{model.DefaultPolicy(benchService(0), model.Geo), model.DefaultPolicy(benchService(1), model.Geo), hosts}
	steps := []struct {
		name   string
		change func()
	}{
		{"a cluster drained", func() { w.ovr = model.NewOverrides(drain("")) }},
		{"the drain lifted", func() { w.ovr = model.Overrides{} }},
		{"one service drained", func() { w.ovr = model.NewOverrides(drain(benchService(0))) }},
		{"an address down", func() { w.health = down }},
		{"hosts spill", func() { w.pol = model.NewPolicies(model.DefaultStaleGrace, pols) }},
		{"pods scaled", func() {
			for _, svc := range []string{benchService(1), benchService(2)} {
				bs := w.inv.BackendsOf(svc)
				for i := range bs {
					if bs[i].Cluster == "c-us-east-1" {
						bs[i].ReadyPods *= 3
					}
				}
				w.inv = w.inv.WithBackends(svc, bs)
			}
		}},
		{"an ingress address replaced", func() {
			bs := w.inv.BackendsOf(benchService(0))
			for i := range bs {
				if bs[i].Cluster == "c-us-east-1" {
					bs[i].Ingress = addrs("10.1.0.1", "10.1.9.9")
				}
			}
			w.inv = w.inv.WithBackends(benchService(0), bs)
		}},
		{"a cluster's zone relabelled", func() {
			cls := w.inv.Clusters()
			for i := range cls {
				if cls[i].Name == "c-sa-east-1" {
					cls[i].Locality.Zone = "sa-east-1c"
				}
			}
			w.inv = w.inv.WithClusters(cls)
		}},
		{"all back", func() {
			w.ovr, w.health, w.pol, w.inv = model.Overrides{}, model.Health{}, benchWorldFor(cfg).pol, benchWorldFor(cfg).inv
		}},
	}
	for _, st := range steps {
		before := held()
		st.change()
		plan := w.plan()
		s.SetPlan(plan)
		check(st.name, plan)
		if st.name != "a cluster drained" {
			continue
		}
		kept, moved := 0, 0
		for key, r := range held() {
			if strings.HasPrefix(key, "eds ") {
				if before[key] == r {
					kept++
				} else {
					moved++
				}
			}
		}
		if kept == 0 || moved == 0 {
			t.Errorf("%s: %d groups' endpoints kept, %d published again; want some of each", st.name, kept, moved)
		}
	}
}
