package xds

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meridian-gtm/meridian/internal/testmetrics"
	"github.com/meridian-gtm/meridian/model"
)

// churnLimits are the limits of the churn tests: a cap on groups
// (0: the default) and a short grace, so that idle groups go quickly.
func churnLimits(maxGroups int) Limits {
	return Limits{MaxGroups: maxGroups, GroupGrace: 20 * time.Millisecond}
}

// stranger is a node of role gateway in a locality of its own.
func stranger(i int) *core.Node {
	n := gatewayNode(fmt.Sprint("stranger-", i))
	n.Locality = &core.Locality{Region: fmt.Sprintf("region-%d", i%7), Zone: fmt.Sprintf("zone-%d", i)}
	return n
}

// openStream opens an ADS stream for node and waits for its clusters, so
// that the server has placed it.
func openStream(ctx context.Context, ads discovery.AggregatedDiscoveryServiceClient, node *core.Node) error {
	st, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	if err := st.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType}); err != nil {
		return err
	}
	resp, err := st.Recv()
	if err != nil {
		return err
	}
	if len(resp.Resources) == 0 {
		return fmt.Errorf("%s got no clusters", node.Id)
	}
	return nil
}

// churn opens n short streams, each from a node in a locality of its own,
// workers at a time, and closes each once it has its clusters.
func churn(t testing.TB, ads discovery.AggregatedDiscoveryServiceClient, n, workers int) {
	t.Helper()
	var next atomic.Int64
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := openStream(ctx, ads, stranger(i))
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// xdsSeries counts the series of the meridian_xds_ metrics.
func xdsSeries(t testing.TB, reg *prometheus.Registry) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "meridian_xds_") {
			n += len(mf.GetMetric())
		}
	}
	return n
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// groupsInCache counts the groups the server holds resources for.
func groupsInCache(s *Server) int { return len(s.groupKeys()) }

// waitFor waits, with a generous deadline, until ok holds.
func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
	}
}

// TestLocalityChurnLeavesNoState has many short ADS streams come and go,
// each from a node in a locality of its own, as a hostile or broken fleet
// would, and checks that the node groups are capped while they are
// connected, and that once they are gone the groups, the metric series,
// the heap and the work of each Plan are back where they were. The first
// run has a small cap; the second is the full 6,000 streams with the
// default cap.
func TestLocalityChurnLeavesNoState(t *testing.T) {
	for _, tc := range []struct {
		name          string
		maxGroups     int
		streams, held int
	}{
		{"cap 20", 20, 600, 60},
		{"default cap", 0, 6000, DefaultMaxGroups + 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.maxGroups == 0 {
				t.Skip("the full run takes a while; it runs without -short")
			}
			testLocalityChurn(t, tc.maxGroups, tc.streams, tc.held)
		})
	}
}

func testLocalityChurn(t *testing.T, maxGroups, streams, held int) {
	reg := prometheus.NewRegistry()
	w := newWorld()
	s := New(Config{Metrics: NewMetrics(reg), Limits: churnLimits(maxGroups)})
	var builds atomic.Int64
	s.refreshed = func() { builds.Add(1) }
	s.SetPlan(w.plan())
	addr := startServer(t, s)
	ads := dialADS(t, addr, nil)

	// The fleet that stays: one gateway, connected throughout.
	if err := openStream(t.Context(), ads, gatewayNode("gw-1")); err != nil {
		t.Fatal(err)
	}
	churn(t, ads, 20, 4) // warms up gRPC's and the caches' pools
	waitFor(t, "the warm-up's groups to go", func() bool { return groupsInCache(s) == 1 })
	baseGroups, baseSeries, baseHeap := groupsInCache(s), xdsSeries(t, reg), heapAfterGC()

	// Many nodes at once, each in a locality of its own: the groups stay
	// within the cap, and every node is served.
	// Several connections, as a connection takes DefaultMaxStreams.
	ctx, cancel := context.WithCancel(t.Context())
	var conn discovery.AggregatedDiscoveryServiceClient
	var conns []*grpc.ClientConn
	for i := range held {
		if i%(DefaultMaxStreams/2) == 0 {
			cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, cc)
			conn = discovery.NewAggregatedDiscoveryServiceClient(cc)
		}
		if err := openStream(ctx, conn, stranger(100000+i)); err != nil {
			t.Fatal(err)
		}
	}
	limit := maxGroups
	if limit == 0 {
		limit = DefaultMaxGroups
	}
	if got := groupsInCache(s); got > limit+1 {
		t.Errorf("%d streams in distinct localities made %d groups; the cap is %d (+1 of unknown location)", held, got, limit)
	}
	cancel()
	for _, cc := range conns {
		cc.Close()
	}

	churn(t, ads, streams, 8)
	waitFor(t, "the groups to go back to the baseline", func() bool { return groupsInCache(s) <= baseGroups })

	if got := xdsSeries(t, reg); got != baseSeries {
		t.Errorf("%d xDS metric series after the churn, %d before:\n%s", got, baseSeries, metricNames(t, reg))
	}
	heap := heapAfterGC()
	t.Logf("heap after GC: %.1f MB before, %.1f MB after %d streams", float64(baseHeap)/(1<<20), float64(heap)/(1<<20), streams+held)
	if heap > baseHeap+baseHeap/2+(2<<20) {
		t.Errorf("heap after GC grew from %d to %d bytes", baseHeap, heap)
	}
	before := builds.Load()
	w.ovr = model.NewOverrides([]model.Override{{Kind: model.Drain, Cluster: "us-east", Reason: "test", Created: time.Now()}})
	s.SetPlan(w.plan())
	if got := builds.Load() - before; got != int64(baseGroups) {
		t.Errorf("a Plan rebuilt %d groups, want %d (the connected ones)", got, baseGroups)
	}
}

func metricNames(t testing.TB, reg *prometheus.Registry) string {
	mfs, _ := reg.Gather()
	var b strings.Builder
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "meridian_xds_") {
			fmt.Fprintf(&b, "%s: %d series\n", mf.GetName(), len(mf.GetMetric()))
		}
	}
	return b.String()
}

// BenchmarkPlanAfterLocalityChurn measures what a Plan change costs the
// xDS server after 6,000 short ADS streams, each from a node in a locality
// of its own, came and went, while 5 gateways (one per region) stay
// connected: with the default limits. groups/op is the number of groups
// rendered per Plan.
func BenchmarkPlanAfterLocalityChurn(b *testing.B) {
	w := benchWorld(10)
	s := New(Config{})
	var builds atomic.Int64
	s.refreshed = func() { builds.Add(1) }
	s.SetPlan(w.plan())
	ads := dialADS(b, startServer(b, s), nil)
	for i, r := range benchRegions {
		n := gatewayNode(fmt.Sprint("gw-", i))
		n.Locality = &core.Locality{Region: r.region, Zone: r.region + "a"}
		if err := openStream(b.Context(), ads, n); err != nil {
			b.Fatal(err)
		}
	}
	churn(b, ads, 6000, 8)
	plans := []*model.Plan{w.plan(), nil}
	w.ovr = model.NewOverrides([]model.Override{{Kind: model.Drain, Cluster: "c-eu-west-1", Reason: "bench", Created: time.Now()}})
	plans[1] = w.plan()
	before := builds.Load()
	i := 0
	for b.Loop() {
		s.SetPlan(plans[i%2])
		i++
	}
	b.ReportMetric(float64(builds.Load()-before)/float64(i), "groups/op")
}

// TestGroupCapPlacesInRegionThenUnknown fills a cap of 3 groups and checks
// where the next nodes go: to their region's group when it exists, else to
// the group of unknown location; and that a node placed there gets that
// group's resources (the priorities of unknown location).
func TestGroupCapPlacesInRegionThenUnknown(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := New(Config{Metrics: NewMetrics(reg), Limits: Limits{MaxGroups: 3}})
	s.SetPlan(newWorld().plan())
	ads := dialADS(t, startServer(t, s), nil)
	node := func(id, region, zone string) *core.Node {
		n := gatewayNode(id)
		n.Locality = &core.Locality{Region: region, Zone: zone}
		return n
	}
	for _, tc := range []struct {
		node *core.Node
		want Group
	}{
		{node("a", "eu-west-1", "eu-west-1a"), Group{Role: Gateway, Region: "eu-west-1", Zone: "eu-west-1a"}},
		{node("b", "eu-west-1", "eu-west-1b"), Group{Role: Gateway, Region: "eu-west-1", Zone: "eu-west-1b"}},
		{node("c", "eu-west-1", ""), Group{Role: Gateway, Region: "eu-west-1"}},
		// The cap is reached and every group has a stream.
		{node("d", "eu-west-1", "eu-west-1c"), Group{Role: Gateway, Region: "eu-west-1"}},
		{node("e", "us-east-1", "us-east-1b"), Group{Role: Gateway}},
		{node("f", "", ""), Group{Role: Gateway}},
	} {
		// A generous deadline: a node placed elsewhere never gets these.
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		st, err := ads.StreamAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		eds := EndpointsName(tc.want, geoSvc)
		resp := sotwGet(t, st, tc.node, resource.EndpointType, []string{eds})
		if len(resp.Resources) != 1 {
			t.Fatalf("node %s asking for %s got %d resources", tc.node.Id, eds, len(resp.Resources))
		}
		cla := decodeCLA(t, resp.Resources[0].Value)
		plan := newWorld().plan()
		svc, _ := plan.Service(geoSvc)
		rt := svc.Route(placeGroup(plan, tc.want))
		want := map[string]uint32{}
		prio := compactPriorities(rt)
		for gi, p := range rt.GroupPriority {
			if p != model.NoPriority {
				want[svc.Groups[gi].Cluster] = prio[p]
			}
		}
		if got := priorities(cla); !mapsEqual(got, want) {
			t.Errorf("node %s: priorities %v, want those of group %s: %v", tc.node.Id, got, tc.want, want)
		}
	}
	if got := s.groupCount(); got != 4 {
		t.Errorf("%d groups, want the cap (3) and the group of unknown location", got)
	}
	if text := testmetrics.Text(t, reg); !strings.Contains(text, "meridian_xds_coarser_placements_total 2\n") || !strings.Contains(text, `meridian_xds_groups{role="gateway"} 4`+"\n") {
		t.Errorf("metrics:\n%s", text)
	}
}

// placeGroup is the bucket Build gives a group's nodes.
func placeGroup(p *model.Plan, g Group) int {
	return p.Place(model.Client{Node: true, Locality: model.Locality{Region: g.Region, Zone: g.Zone}}).Bucket
}
