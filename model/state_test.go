package model_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
)

// TestServiceState solves real inputs with weights.Solve and checks the
// state each gets: what the status page and meridian_services show.
func TestServiceState(t *testing.T) {
	const svc = "app.example.com"
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	addr := netip.MustParseAddr
	a1, a2, b1, b2 := addr("192.0.2.1"), addr("192.0.2.2"), addr("198.51.100.1"), addr("198.51.100.2")
	type input struct {
		podsA      int
		down       []netip.Addr
		overrides  []model.Override
		failClosed bool
		lostA      bool // cluster a lost an hour ago (grace: a minute)
		noBackends bool
	}
	drain := func(cluster string) model.Override {
		return model.Override{ID: "d-" + cluster, Kind: model.Drain, Cluster: cluster, Reason: "test", Created: at.Add(-time.Minute)}
	}
	for _, tc := range []struct {
		name string
		in   input
		want model.ServiceState
	}{
		{"all healthy", input{}, model.Serving},
		{"one address down", input{down: []netip.Addr{a1}}, model.Degraded},
		{"a cluster down", input{down: []netip.Addr{a1, a2}}, model.Degraded},
		{"a cluster without ready pods", input{podsA: -1}, model.Degraded},
		{"a cluster drained", input{overrides: []model.Override{drain("a")}}, model.Serving},
		{"an address disabled", input{overrides: []model.Override{{ID: "x", Kind: model.Disable, Address: b2, Created: at}}}, model.Serving},
		{"a cluster pinned to weight 0", input{overrides: []model.Override{{ID: "w", Kind: model.Weight, Service: svc, Cluster: "b", Weight: 0, Created: at}}}, model.Serving},
		{"a cluster lost past its grace", input{lostA: true}, model.Degraded},
		{"all down, fail open", input{down: []netip.Addr{a1, a2, b1, b2}}, model.FailingOpen},
		{"all down, fail closed", input{down: []netip.Addr{a1, a2, b1, b2}, failClosed: true}, model.FailingClosed},
		{"one drained, the other down", input{down: []netip.Addr{b1, b2}, overrides: []model.Override{drain("a")}}, model.FailingOpen},
		{"one drained, the other down, fail closed", input{down: []netip.Addr{b1, b2}, overrides: []model.Override{drain("a")}, failClosed: true}, model.FailingClosed},
		{"everything drained", input{overrides: []model.Override{drain("a"), drain("b")}}, model.FailingClosed},
		{"no backends", input{noBackends: true}, model.FailingClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clusters := []model.Cluster{
				{Name: "a", Locality: model.Locality{Region: "eu"}, Location: model.LocationAt(model.Point{Lat: 53, Lon: -6})},
				{Name: "b", Locality: model.Locality{Region: "us"}, Location: model.LocationAt(model.Point{Lat: 39, Lon: -77})},
			}
			if tc.in.lostA {
				clusters[0].LostAt = at.Add(-time.Hour)
			}
			podsA := 3
			if tc.in.podsA < 0 {
				podsA = 0
			}
			backends := []model.Backend{
				{Service: svc, Cluster: "a", Ingress: []netip.Addr{a1, a2}, ReadyPods: podsA},
				{Service: svc, Cluster: "b", Ingress: []netip.Addr{b1, b2}, ReadyPods: 3},
			}
			if tc.in.noBackends {
				backends = nil
			}
			var verdicts []model.TargetHealth
			for _, b := range backends {
				for _, ip := range b.Ingress {
					v := model.TargetHealth{Service: svc, Cluster: b.Cluster, Address: ip, State: model.Up}
					for _, d := range tc.in.down {
						if d == ip {
							v.State = model.Down
						}
					}
					verdicts = append(verdicts, v)
				}
			}
			pol := model.DefaultPolicy(svc, model.Geo)
			pol.FailClosed = tc.in.failClosed
			p := weights.Solve(at, model.NewInventory(clusters, backends), model.NewHealth(verdicts),
				model.NewOverrides(tc.in.overrides), model.NewPolicies(time.Minute, []model.ServicePolicy{pol}))
			s, ok := p.Service(svc)
			if !ok {
				t.Fatal("no plan for the service")
			}
			if got := s.State(); got != tc.want {
				t.Errorf("state %v, want %v", got, tc.want)
			}
			counts := p.StateCounts()
			for _, st := range model.ServiceStates {
				if want := map[bool]int{true: 1}[st == tc.want]; counts[st] != want {
					t.Errorf("StateCounts()[%v] = %d, want %d", st, counts[st], want)
				}
			}
		})
	}
}

// TestServiceStateOfRoutes: a route that panics, or a bucket that gets
// nothing (a fence whose clusters are down) while others are served,
// degrades a service with healthy targets.
func TestServiceStateOfRoutes(t *testing.T) {
	healthy := []model.Target{{Status: model.Healthy}, {Status: model.Healthy}}
	for _, tc := range []struct {
		name  string
		modes []model.RouteMode
		want  model.ServiceState
	}{
		{"normal", []model.RouteMode{model.Normal, model.Normal}, model.Serving},
		{"one bucket panics", []model.RouteMode{model.Normal, model.Panic}, model.Degraded},
		{"total panic", []model.RouteMode{model.TotalPanic}, model.Degraded},
		{"a fenced bucket fails closed", []model.RouteMode{model.Normal, model.FailedClosed}, model.Degraded},
	} {
		s := &model.ServicePlan{Targets: healthy}
		for _, m := range tc.modes {
			r := model.Route{Mode: m}
			if m != model.FailedClosed {
				r.Shares = []model.Share{{Target: 0, Fraction: 1}}
			}
			s.Routes = append(s.Routes, r)
		}
		if got := s.State(); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestServiceStateNames(t *testing.T) {
	want := map[model.ServiceState][2]string{
		model.Serving: {"serving", "serving"}, model.Degraded: {"degraded", "degraded"},
		model.FailingOpen: {"failing open", "failing_open"}, model.FailingClosed: {"failing closed", "failing_closed"},
	}
	for _, s := range model.ServiceStates {
		if got := [2]string{s.String(), s.Label()}; got != want[s] {
			t.Errorf("%d: %q, want %q", s, got, want[s])
		}
	}
}
