package weights

import (
	"reflect"
	"testing"

	"github.com/meridian-gtm/meridian/model"
)

// TestParallelSolveEqualsSerial solves a world large enough for workers,
// with every policy kind, maps and overrides, alone and with three workers,
// from scratch and after a change that re-solves many services, and wants
// the same Plans. Run with -race, it also shows that the workers share
// nothing they write.
func TestParallelSolveEqualsSerial(t *testing.T) {
	inv, health, _, pol := benchWorld(true, 3*parallelMin+50)
	var ps []model.ServicePolicy
	for i, sp := range pol.Services() {
		switch i % 5 {
		case 1:
			sp.Kind, sp.Order = model.Failover, []string{"cluster-42", "cluster-07", "cluster-33"}
		case 2:
			sp.Kind = model.Weighted
		case 3:
			sp.Spill = model.SpillHosts
		case 4:
			sp.Map = []model.MapEntry{{Match: model.MatchCountry, Codes: []string{"DE"}, Clusters: []string{"cluster-12", "cluster-13"}, Fence: i%10 == 4}}
		}
		ps = append(ps, sp)
	}
	pol = model.NewPolicies(pol.StaleGrace, ps)
	ovr := model.NewOverrides([]model.Override{
		{ID: "d", Kind: model.Drain, Cluster: "cluster-03", Created: benchAt},
		{ID: "w", Kind: model.Weight, Service: ps[9].Service, Cluster: "cluster-20", Weight: 7, Created: benchAt},
	})
	serial, parallel := Solver{procs: 1}, Solver{procs: 3}
	compare := func(step string) {
		t.Helper()
		a := serial.Solve(benchAt, inv, health, ovr, pol)
		b := parallel.Solve(benchAt, inv, health, ovr, pol)
		if len(parallel.workers) != 2 {
			t.Fatalf("%s: %d extra workers, want 2: the test no longer solves in parallel", step, len(parallel.workers))
		}
		if a.Version != b.Version || !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: the parallel Plan differs from the serial one", step)
		}
	}
	compare("from scratch")
	// Health changes for every service: all are re-solved, by the same
	// Solvers, whose workers reuse their scratch and shape caches.
	var down []model.TargetHealth
	for _, b := range inv.Backends() {
		if b.Cluster == "cluster-05" || b.Cluster == "cluster-41" {
			down = append(down, model.TargetHealth{Service: b.Service, Cluster: b.Cluster, Address: b.Ingress[1], State: model.Down})
		}
	}
	health = model.NewHealth(down)
	compare("after a health change")
}
