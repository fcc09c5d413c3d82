package weights

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/meridian-gtm/meridian/model"
)

// twoClusters is a geo service in near (two addresses) and far (one), 6
// pods each, with the given spill mode, near's not-ready pods and the
// addresses that are down (near's 192.0.2.x, far's 198.51.100.1).
func twoClusters(spill model.SpillMode, notReady int, down ...netip.Addr) *model.Plan {
	const svc = "app.example.com"
	inv := model.NewInventory([]model.Cluster{
		{Name: "near", Locality: model.Locality{Region: "eu-west", Zone: "eu-west-1a"}, Location: model.LocationAt(model.Point{Lat: 53.35, Lon: -6.26})},
		{Name: "far", Locality: model.Locality{Region: "us-east", Zone: "us-east-1a"}, Location: model.LocationAt(model.Point{Lat: 39.04, Lon: -77.49})},
	}, []model.Backend{
		{Service: svc, Cluster: "near", Ingress: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}, ReadyPods: 6, NotReadyPods: notReady},
		{Service: svc, Cluster: "far", Ingress: []netip.Addr{netip.MustParseAddr("198.51.100.1")}, ReadyPods: 6},
	})
	var hs []model.TargetHealth
	for _, a := range down {
		cluster := "near"
		if a == netip.MustParseAddr("198.51.100.1") {
			cluster = "far"
		}
		hs = append(hs, model.TargetHealth{Service: svc, Cluster: cluster, Address: a, State: model.Down})
	}
	p := model.DefaultPolicy(svc, model.Geo)
	p.Spill = spill
	return Solve(base, inv, model.NewHealth(hs), model.NewOverrides(nil), model.NewPolicies(model.DefaultStaleGrace, []model.ServicePolicy{p}))
}

// TestPlanVersionCoversSpill: the spill mode and not-ready pods are part
// of the Plan, so its version changes with them even where the routes do
// not (nothing is down; hosts spill ignores not-ready pods).
func TestPlanVersionCoversSpill(t *testing.T) {
	hosts, capacity := twoClusters(model.SpillHosts, 0), twoClusters(model.SpillCapacity, 0)
	if hosts.Version == capacity.Version {
		t.Error("spill hosts and spill capacity give one Plan version")
	}
	if twoClusters("", 0).Version != capacity.Version {
		t.Error("an unset spill mode is not capacity")
	}
	if twoClusters(model.SpillHosts, 3).Version == hosts.Version {
		t.Error("not-ready pods do not change the Plan version")
	}
}

// TestExplainSaysWhyCapacityStays checks explain's capacity sentences, as
// the issue words them, and that hosts spill has none.
func TestExplainSaysWhyCapacityStays(t *testing.T) {
	down := netip.MustParseAddr("192.0.2.2")
	for _, tc := range []struct {
		name string
		plan *model.Plan
		want []string
	}{
		{"address down", twoClusters(model.SpillCapacity, 0, down), []string{"near keeps 100%: 1 of 2 ingress addresses down, 6 of 6 pods ready behind the other"}},
		{"pods not ready", twoClusters(model.SpillCapacity, 6), []string{"near keeps 70%: 6 of 12 pods ready"}},
		{"both", twoClusters(model.SpillCapacity, 6, down), []string{"near keeps 70%: 1 of 2 ingress addresses down, 6 of 12 pods ready behind the other"}},
		{"all fine", twoClusters(model.SpillCapacity, 0), nil},
		{"hosts", twoClusters(model.SpillHosts, 6, down), nil},
		// Total panic: what each keeps no longer decides.
		{"panic", twoClusters(model.SpillCapacity, 20, down, netip.MustParseAddr("198.51.100.1")), []string{
			"near panics: 1 of 2 ingress addresses down, 6 of 26 pods ready behind the other, so its targets get traffic healthy or not",
			"far panics: 1 of 1 ingress addresses down, none left to reach its 6 ready pods, so its targets get traffic healthy or not"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := tc.plan.Explain("app.example.com", model.Client{Location: model.LocationAt(model.Point{Lat: 51.5, Lon: -0.1})}) // London: nearest near
			if e.Site != "near" {
				t.Fatalf("site %q", e.Site)
			}
			if !slices.Equal(e.Capacity, tc.want) {
				t.Errorf("capacity %q, want %q", e.Capacity, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(e.Summary, w) {
					t.Errorf("summary %q lacks %q", e.Summary, w)
				}
			}
		})
	}
}

// TestLevelHealthDoesNotOverflow: capacity units of a huge cluster times
// the failover factor 2^20 exceed 64 bits; health must still come out as
// Envoy's formula says, not wrapped.
func TestLevelHealthDoesNotOverflow(t *testing.T) {
	for _, tc := range []struct {
		l    levelHosts
		op   uint32
		want uint32
	}{
		{levelHosts{hosts: 1 << 45, healthy: 1 << 44}, model.FailoverOverprovisioning, 100},
		{levelHosts{hosts: 1 << 50, healthy: 1 << 42}, 140, 0},            // 140/256 rounds down
		{levelHosts{hosts: 100 << 40, healthy: 50 << 40}, 140, 70},        // 50% of a huge level
		{levelHosts{hosts: maxCapacityPods * 10, healthy: 1}, 1 << 20, 0}, // one unit of many
		{levelHosts{hosts: 2, healthy: 1}, 140, 70},
		{levelHosts{}, 140, 0},
	} {
		if got := levelHealth(tc.l, tc.op); got != tc.want {
			t.Errorf("levelHealth(%+v, %d) = %d, want %d", tc.l, tc.op, got, tc.want)
		}
	}
}
