package weights

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/internal/fieldcover"
	"github.com/meridian-gtm/meridian/model"
)

// serviceHashOf hashes s from its content alone, as the engine does with
// what it caches: the routes' shape rebuilt from the routes, every group's
// head from the group. TestServiceHashOfMatchesSolve holds it to s.Hash.
func serviceHashOf(s *model.ServicePlan) uint64 {
	rows := min(1, len(s.Routes))
	if s.Policy.Kind == model.Geo {
		rows = len(s.Routes) // one row per bucket; other policies share one
	}
	sh := &routeShape{rows: rows}
	for _, r := range s.Routes[:rows] {
		sh.prioStart = append(sh.prioStart, int32(len(sh.prios)))
		sh.prios = append(sh.prios, r.Priorities...)
		sh.gp = append(sh.gp, r.GroupPriority...)
		sh.modes = append(sh.modes, r.Mode)
	}
	sh.prioStart = append(sh.prioStart, int32(len(sh.prios)))
	facts := make([]groupFacts, len(s.Groups))
	for i := range facts {
		facts[i].cluster = -1
	}
	var h hashBuf
	return h.service(s, h.shape(sh), facts, nil)
}

func TestServiceHashOfMatchesSolve(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 4))
	n := 0
	for range 200 {
		p := randomWorld(r).solve()
		for _, s := range p.Services {
			if got := serviceHashOf(s); got != s.Hash {
				t.Fatalf("service %s (%s): hash from its content %x, Solve's %x", s.Name, s.Policy.Kind, got, s.Hash)
			}
			n++
		}
	}
	if n < 100 {
		t.Fatalf("only %d services checked", n)
	}
}

// changeLocation changes a model.Location's latitude, its longitude, or
// makes it unknown.
var changeLocation = map[reflect.Type][]func(reflect.Value){reflect.TypeFor[model.Location](): {
	func(v reflect.Value) { v.Set(reflect.ValueOf(moved(v, 1, 0))) },
	func(v reflect.Value) { v.Set(reflect.ValueOf(moved(v, 0, 1))) },
	func(v reflect.Value) { v.Set(reflect.ValueOf(model.Location{})) },
}}

func moved(v reflect.Value, dLat, dLon float64) model.Location {
	p, _ := v.Interface().(model.Location).Point()
	return model.LocationAt(model.Point{Lat: p.Lat + dLat, Lon: p.Lon + dLon})
}

// sampleService sets every field of a ServicePlan.
func sampleService() model.ServicePlan {
	a := netip.MustParseAddr("192.0.2.1")
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	return model.ServicePlan{
		Name: "app.gslb.example.com",
		Policy: model.ServicePolicy{Service: "app.gslb.example.com", Kind: model.Geo, Order: []string{"eu-west"},
			Weights: []model.ClusterWeight{{Cluster: "eu-west", Weight: 2}}, Overprovisioning: 140, PanicThreshold: 50, FailClosed: true,
			Spill: model.SpillHosts, Map: []model.MapEntry{{Match: model.MatchCountry, Subnets: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
				Codes: []string{"IE"}, Clusters: []string{"eu-west"}, Fence: true, Source: "maps:1"}}},
		PolicyOverride: 0,
		Hash:           1,
		Groups: []model.Group{{Cluster: "eu-west", Locality: model.Locality{Region: "eu", Zone: "eu-1"}, Location: model.LocationAt(model.Point{Lat: 53, Lon: -6}), ReadyPods: 3, NotReadyPods: 1, HealthyPods: 3, ExpectedPods: 4, ZonePods: []model.ZonePods{{Zone: "eu-1", ReadyPods: 3}},
			IngressZones: []model.AddrZone{{Addr: a, Zone: "eu-1"}}, PodIPs: []netip.Addr{a}, First: 0, N: 1, Stale: true, LostAt: at}},
		Targets: []model.Target{{Group: 0, Address: a, Weight: 30, Health: model.Up, Status: model.Healthy, Cause: model.CauseZonal, Override: 0}},
		Routes: []model.Route{{Mode: model.Panic, Priorities: []model.Priority{{DistanceKm: 10, Group: 0, Hosts: 1, Healthy: 1, Health: 100,
			Load: 100, Tier: model.TierZone, Panic: true}}, GroupPriority: []uint8{0}, Shares: []model.Share{{Target: 0, Fraction: 1}}}},
		Listed: 1,
		Map:    model.MapIndex{Default: -1},
	}
}

// TestServiceHashSeesEveryField: a field of ServicePlan that the hash left
// out would make the loop take a changed Plan for the same, and DNS and
// xDS would never see the change. Fields it leaves out on purpose are
// listed with the reason.
func TestServiceHashSeesEveryField(t *testing.T) {
	fieldcover.Check(t, sampleService(), fieldcover.Options{Change: changeLocation, Ignore: map[string]string{
		"Hash":                  "the hash itself",
		"Policy.Service":        "is Name, which is hashed",
		"Policy.Unprobed":       "decides the targets' health, which is hashed; nothing downstream reads it",
		"Groups[].HealthyPods":  "follows from the group's pods and zones and its targets' health, which are hashed",
		"Groups[].ExpectedPods": "follows from the group's pods and zones and its targets' status, which are hashed",
		"Listed":                "is len(Plan.NetLists), which the Plan's version covers",
		"Map":                   "is compiled from Policy.Map and Plan.MapNets, which are hashed",
	}}, func(a, b model.ServicePlan) bool { return serviceHashOf(&a) != serviceHashOf(&b) })
}

// TestPlanVersionSeesEveryField: as TestServiceHashSeesEveryField, for
// what the Plan's version adds to its services' hashes.
func TestPlanVersionSeesEveryField(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	s := sampleService()
	p := model.Plan{
		Version:   1,
		At:        at,
		Sites:     []model.Site{{Cluster: "eu-west", Locality: model.Locality{Region: "eu", Zone: "eu-1"}, Location: model.Point{Lat: 53, Lon: -6}, Bias: 10}},
		Nets:      []model.Net{{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Clusters: []string{"eu-west"}, Source: "subnets:1", List: 0}},
		NetLists:  [][]string{{"eu-west"}},
		MapNets:   []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
		Services:  []*model.ServicePlan{&s},
		Overrides: []model.Override{{ID: "o1", Kind: model.Weight, Service: s.Name, Cluster: "eu-west", Address: netip.MustParseAddr("192.0.2.1"), Weight: 5, Order: []string{"eu-west"}, Reason: "test", Author: "ops", Created: at, Expires: at.Add(time.Hour)}},
		NetIndex:  &model.NetIndex{},
	}
	fieldcover.Check(t, p, fieldcover.Options{Ignore: map[string]string{
		"Version":         "the hash itself",
		"At":              "the version is of the content, not the time (Plan.Version)",
		"Nets[].Clusters": "is NetLists[List], which is hashed",
		"NetIndex":        "indexes Nets and MapNets, which are hashed",
		"Services[]":      "each service's Hash stands for it (TestServiceHashSeesEveryField; the Hash itself is checked below)",
	}}, func(a, b model.Plan) bool { return planVersion(&a) != planVersion(&b) })
	q := p
	q.Services = []*model.ServicePlan{{Hash: s.Hash + 1}}
	if planVersion(&p) == planVersion(&q) {
		t.Error("Services[].Hash: a change goes unseen")
	}
}
