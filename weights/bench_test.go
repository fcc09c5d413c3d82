package weights

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// bigWorld is the scale: 50 clusters in 10 regions of 5 zones, 2,000
// geo services each in every cluster behind 4 ingress addresses, and a few
// down targets.
func bigWorld() (model.Inventory, model.Health, model.Overrides, model.Policies) {
	return benchWorld(false, 2000)
}

// world builds the benchmark world. With distinct, every service is in a
// different subset of clusters and has its own pattern of down targets, so
// no two services share a route shape: the worst case for Solve's cache.
func benchWorld(distinct bool, services int) (model.Inventory, model.Health, model.Overrides, model.Policies) {
	const clusters, addrs = 50, 4
	var cs []model.Cluster
	for i := range clusters {
		region := i / 5
		cs = append(cs, model.Cluster{
			Name:     fmt.Sprintf("cluster-%02d", i),
			Locality: model.Locality{Region: fmt.Sprintf("region-%d", region), Zone: fmt.Sprintf("region-%d-%c", region, 'a'+i%5)},
			Location: model.LocationAt(model.Point{Lat: float64(region*15 - 70), Lon: float64(region*35 - 170 + i%5)}),
		})
	}
	var bs []model.Backend
	var hs []model.TargetHealth
	var ps []model.ServicePolicy
	for s := range services {
		name := fmt.Sprintf("svc-%04d.gslb.example.com", s)
		ps = append(ps, model.DefaultPolicy(name, model.Geo))
		for c := range clusters {
			if distinct && c >= 40 && (s>>(c-40))&1 == 1 {
				continue // services differ in which of the last ten clusters they use
			}
			b := model.Backend{Service: name, Cluster: cs[c].Name, ReadyPods: 1 + (s+c)%25}
			for a := range addrs {
				b.Ingress = append(b.Ingress, netip.AddrFrom4([4]byte{10, byte(c), byte(a), 1}))
			}
			if distinct && c < 11 && (s>>c)&1 == 1 || !distinct && (s+c)%97 == 0 {
				hs = append(hs, model.TargetHealth{Service: name, Cluster: b.Cluster, Address: b.Ingress[0], State: model.Down})
			}
			bs = append(bs, b)
		}
	}
	return model.NewInventory(cs, bs), model.NewHealth(hs), model.NewOverrides(nil), model.NewPolicies(model.DefaultStaleGrace, ps)
}

var benchAt = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// BenchmarkSolve solves the whole world from scratch.
func BenchmarkSolve(b *testing.B) {
	inv, health, ovr, pol := bigWorld()
	b.ReportAllocs()
	for b.Loop() {
		Solve(benchAt, inv, health, ovr, pol)
	}
}

// BenchmarkSolveDistinctShapes solves a world where no two services share a
// route shape, so every service's routes are computed in full.
func BenchmarkSolveDistinctShapes(b *testing.B) {
	inv, health, ovr, pol := benchWorld(true, 2000)
	b.ReportAllocs()
	for b.Loop() {
		Solve(benchAt, inv, health, ovr, pol)
	}
}

// BenchmarkResolveOneEndpointSlice changes the ready pods of one service in
// one cluster, as one EndpointSlice event does, and re-solves with a Solver
// that remembers the previous solve.
func BenchmarkResolveOneEndpointSlice(b *testing.B) {
	inv, health, ovr, pol := bigWorld()
	var s Solver
	s.Solve(benchAt, inv, health, ovr, pol)
	svc := "svc-1000.gslb.example.com"
	base := inv.BackendsOf(svc)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		bs := append([]model.Backend(nil), base...)
		bs[7].ReadyPods = 1 + i%30
		i++
		s.Solve(benchAt, inv.WithBackends(svc, bs), health, ovr, pol)
	}
}

// BenchmarkResolveEverything re-solves every service with a Solver that
// solved before, as the loop does when the cluster list changes: the
// buffers a Solver keeps are re-used.
func BenchmarkResolveEverything(b *testing.B) {
	inv, health, ovr, pol := bigWorld()
	var s Solver
	s.Solve(benchAt, inv, health, ovr, pol)
	b.ReportAllocs()
	for b.Loop() {
		inv = inv.WithClusters(inv.Clusters()) // a new cluster list: nothing is re-used
		s.Solve(benchAt, inv, health, ovr, pol)
	}
}
