package weights

import (
	"math"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

func TestCapacityWeight(t *testing.T) {
	for _, tc := range []struct {
		name            string
		pods, addresses int
		want            uint32
	}{
		{"no pods", 0, 2, 0},
		{"no addresses", 5, 0, 0},
		{"one pod behind three addresses", 1, 3, 3},
		{"one pod behind one address", 1, 1, 10},
		{"25 pods behind 4 addresses", 25, 4, 62},
		{"6 pods behind 2 addresses", 6, 2, 30},
		{"4 VMs and 2 pods count as 6 pods, 3 addresses", 4 + 2, 3, 20},
		{"one VM behind 20 nodes", 1, 20, 1},
		{"10 pods behind 3 addresses floors", 10, 3, 33},
	} {
		if got := CapacityWeight(tc.pods, tc.addresses); got != tc.want {
			t.Errorf("%s: CapacityWeight(%d, %d) = %d, want %d", tc.name, tc.pods, tc.addresses, got, tc.want)
		}
	}
}

var (
	dublin    = model.Point{Lat: 53.35, Lon: -6.26}
	virginia  = model.Point{Lat: 39.04, Lon: -77.49}
	singapore = model.Point{Lat: 1.29, Lon: 103.85}
)

const app = "app.gslb.example.com"

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// demo is the inventory of deploy/demo/meridian.conf.
func demo() model.Inventory {
	return model.NewInventory([]model.Cluster{
		{Name: "eu-west", Locality: model.Locality{Region: "eu-west", Zone: "eu-west-1a"}, Location: dublin, HasLocation: true},
		{Name: "us-east", Locality: model.Locality{Region: "us-east", Zone: "us-east-1a"}, Location: virginia, HasLocation: true},
		{Name: "ap-southeast", Locality: model.Locality{Region: "ap-southeast"}, Location: singapore, HasLocation: true},
	}, []model.Backend{
		{Service: app, Cluster: "eu-west", Ingress: addrs("192.0.2.10", "192.0.2.11"), ReadyPods: 6},
		{Service: app, Cluster: "us-east", Ingress: addrs("198.51.100.10", "198.51.100.11", "198.51.100.12"), ReadyPods: 9},
		{Service: app, Cluster: "ap-southeast", Ingress: addrs("203.0.113.10", "203.0.113.11"), ReadyPods: 4},
	})
}

func geoPolicy() model.Policies {
	return model.NewPolicies([]model.ServicePolicy{{Service: app, Kind: model.Geo}})
}

// routeOf describes what a bucket gets as "address=fraction" strings.
func routeOf(s *model.ServicePlan, bucket int) []string {
	var out []string
	for _, sh := range s.Route(bucket).Shares {
		out = append(out, s.Targets[sh.Target].Address.String()+"="+trim(sh.Fraction))
	}
	return out
}

// trim rounds a fraction to four decimals, written without trailing zeros.
func trim(f float64) string {
	return strconv.FormatFloat(math.Round(f*1e4)/1e4, 'f', -1, 64)
}

func bucketOf(p *model.Plan, site string) int {
	for i, s := range p.Sites {
		if s.Cluster == site {
			return i
		}
	}
	return len(p.Sites)
}

func TestSolveGeoDemo(t *testing.T) {
	p := Solve(demo(), model.Health{}, model.Overrides{}, geoPolicy())
	if got := len(p.Sites); got != 3 {
		t.Fatalf("sites = %d, want 3", got)
	}
	s, ok := p.Service(app)
	if !ok {
		t.Fatal("no plan for app")
	}
	for _, tc := range []struct {
		site string
		want []string
	}{
		{"eu-west", []string{"192.0.2.10=0.5", "192.0.2.11=0.5"}},
		{"us-east", []string{"198.51.100.10=0.3333", "198.51.100.11=0.3333", "198.51.100.12=0.3333"}},
		{"ap-southeast", []string{"203.0.113.10=0.5", "203.0.113.11=0.5"}},
		// Unknown location: everything by weight. ap 2×20, eu-west 2×30, us-east 3×30: total 190.
		{"", []string{"203.0.113.10=0.1053", "203.0.113.11=0.1053", "192.0.2.10=0.1579", "192.0.2.11=0.1579",
			"198.51.100.10=0.1579", "198.51.100.11=0.1579", "198.51.100.12=0.1579"}},
	} {
		if got := routeOf(s, bucketOf(p, tc.site)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("bucket %q: %v, want %v", tc.site, got, tc.want)
		}
	}
	var weights []uint32
	for _, tg := range s.Targets {
		weights = append(weights, tg.Weight)
	}
	if want := []uint32{20, 20, 30, 30, 30, 30, 30}; !reflect.DeepEqual(weights, want) {
		t.Errorf("target weights = %v, want %v (ap-southeast 4 pods/2, eu-west 6/2, us-east 9/3)", weights, want)
	}
	if r := s.Route(bucketOf(p, "eu-west")).Reason; r != "nearest cluster with capacity to clients near eu-west: eu-west (0 km)" {
		t.Errorf("reason = %q", r)
	}
}

func TestSolveFailsOverByDistance(t *testing.T) {
	inv := demo()
	bs := inv.Backends()
	bs[1].ReadyPods = 0 // eu-west (backends sort by cluster: ap-southeast, eu-west, us-east)
	inv = model.NewInventory(inv.Clusters(), bs)
	p := Solve(inv, model.Health{}, model.Overrides{}, geoPolicy())
	s, _ := p.Service(app)
	got := routeOf(s, bucketOf(p, "eu-west"))
	want := []string{"198.51.100.10=0.3333", "198.51.100.11=0.3333", "198.51.100.12=0.3333"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("eu-west clients with no pods in eu-west: %v, want us-east %v", got, want)
	}
	r := s.Route(bucketOf(p, "eu-west")).Reason
	if !strings.Contains(r, "us-east (5") || !strings.Contains(r, "skipped eu-west: no ready pods") {
		t.Errorf("reason = %q", r)
	}
	for _, tg := range s.Targets {
		if tg.Cluster == "eu-west" && tg.Weight != 0 {
			t.Errorf("eu-west target %v has weight %d with no pods", tg.Address, tg.Weight)
		}
	}
}

func TestSolveHealthAndOverrides(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	health := model.NewHealth([]model.TargetHealth{
		{Service: app, Cluster: "us-east", Address: netip.MustParseAddr("198.51.100.10"), State: model.Down},
		{Service: app, Cluster: "us-east", Address: netip.MustParseAddr("198.51.100.11"), State: model.Up},
	})
	for _, tc := range []struct {
		name      string
		overrides []model.Override
		site      string
		want      []string
	}{
		{"a down address gives its share to the others, capacity spread over the usable ones", nil, "us-east",
			[]string{"198.51.100.11=0.5", "198.51.100.12=0.5"}},
		{"drain for all services", []model.Override{{Kind: model.Drain, Cluster: "eu-west", Author: "alice", Reason: "maintenance"}},
			"eu-west", []string{"198.51.100.11=0.5", "198.51.100.12=0.5"}},
		{"drain for this service", []model.Override{{Kind: model.Drain, Service: app, Cluster: "eu-west"}},
			"eu-west", []string{"198.51.100.11=0.5", "198.51.100.12=0.5"}},
		{"drain of another service does not apply", []model.Override{{Kind: model.Drain, Service: "other", Cluster: "eu-west"}},
			"eu-west", []string{"192.0.2.10=0.5", "192.0.2.11=0.5"}},
		{"expired drain does not apply", []model.Override{{Kind: model.Drain, Cluster: "eu-west", Expires: now}},
			"eu-west", []string{"192.0.2.10=0.5", "192.0.2.11=0.5"}},
		{"drain not yet expired applies", []model.Override{{Kind: model.Drain, Cluster: "eu-west", Expires: now.Add(time.Second)}},
			"eu-west", []string{"198.51.100.11=0.5", "198.51.100.12=0.5"}},
		{"disabled address", []model.Override{{Kind: model.Disable, Address: netip.MustParseAddr("192.0.2.10")}},
			"eu-west", []string{"192.0.2.11=1"}},
		// ap-southeast 2×7, eu-west 2×30, us-east 2×45 (9 pods over 2 usable addresses): total 164.
		{"pinned weight", []model.Override{{Kind: model.Weight, Service: app, Cluster: "ap-southeast", Weight: 7}},
			"", []string{"203.0.113.10=0.0427", "203.0.113.11=0.0427", "192.0.2.10=0.1829", "192.0.2.11=0.1829",
				"198.51.100.11=0.2744", "198.51.100.12=0.2744"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Solve(demo(), health, model.NewOverrides(now, tc.overrides), geoPolicy())
			s, _ := p.Service(app)
			if got := routeOf(s, bucketOf(p, tc.site)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%v, want %v", got, tc.want)
			}
		})
	}
}

func TestSolveDrainReason(t *testing.T) {
	ovr := model.NewOverrides(time.Time{}, []model.Override{{Kind: model.Drain, Cluster: "eu-west", Author: "alice", Reason: "maintenance"}})
	p := Solve(demo(), model.Health{}, ovr, geoPolicy())
	s, _ := p.Service(app)
	if r := s.Route(bucketOf(p, "eu-west")).Reason; !strings.Contains(r, "skipped eu-west: drained by alice: maintenance") {
		t.Errorf("reason = %q", r)
	}
}

func TestSolveNothingUsable(t *testing.T) {
	inv := model.NewInventory(demo().Clusters(), []model.Backend{
		{Service: app, Cluster: "eu-west", Ingress: addrs("192.0.2.10"), ReadyPods: 0},
	})
	p := Solve(inv, model.Health{}, model.Overrides{}, geoPolicy())
	s, _ := p.Service(app)
	for b := 0; b <= len(p.Sites); b++ {
		if r := s.Route(b); len(r.Shares) != 0 || !strings.HasPrefix(r.Reason, "no cluster has capacity: eu-west: no ready pods") {
			t.Errorf("bucket %d: %+v", b, r)
		}
	}
	// A service with a policy but no backends at all still has a plan, with empty routes.
	p = Solve(model.Inventory{}, model.Health{}, model.Overrides{}, geoPolicy())
	s, ok := p.Service(app)
	if !ok || len(s.Route(0).Shares) != 0 || s.Route(0).Reason != "no cluster serves this service" {
		t.Errorf("plan without backends: %+v", s)
	}
}

func TestSolveUnlocatedClustersRankLast(t *testing.T) {
	inv := model.NewInventory([]model.Cluster{
		{Name: "a-nowhere"},
		{Name: "far", Location: singapore, HasLocation: true},
		{Name: "near", Location: dublin, HasLocation: true},
	}, []model.Backend{
		{Service: app, Cluster: "a-nowhere", Ingress: addrs("192.0.2.1"), ReadyPods: 1},
		{Service: app, Cluster: "far", Ingress: addrs("192.0.2.2"), ReadyPods: 1},
		{Service: app, Cluster: "near", Ingress: addrs("192.0.2.3"), ReadyPods: 0},
	})
	p := Solve(inv, model.Health{}, model.Overrides{}, geoPolicy())
	s, _ := p.Service(app)
	if got := routeOf(s, bucketOf(p, "near")); !reflect.DeepEqual(got, []string{"192.0.2.2=1"}) {
		t.Errorf("near bucket = %v, want the located cluster far before the unlocated one", got)
	}
}

func TestSolveIsDeterministic(t *testing.T) {
	a := Solve(demo(), model.Health{}, model.Overrides{}, geoPolicy())
	b := Solve(demo(), model.Health{}, model.Overrides{}, geoPolicy())
	if a.Version != b.Version || !reflect.DeepEqual(a, b) {
		t.Fatalf("same inputs, different plans: %x %x", a.Version, b.Version)
	}
	inv := demo()
	bs := inv.Backends()
	bs[0].ReadyPods++
	c := Solve(model.NewInventory(inv.Clusters(), bs), model.Health{}, model.Overrides{}, geoPolicy())
	if c.Version == a.Version {
		t.Errorf("a changed pod count kept version %x", a.Version)
	}
}

func TestSharesSumToOne(t *testing.T) {
	p := Solve(demo(), model.Health{}, model.Overrides{}, geoPolicy())
	for _, s := range p.Services {
		for b, r := range s.Routes {
			sum := 0.0
			for _, sh := range r.Shares {
				sum += sh.Fraction
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("%s bucket %d: shares sum to %v", s.Name, b, sum)
			}
		}
	}
}
