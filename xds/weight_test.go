package xds

import (
	"fmt"
	"maps"
	"math"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
)

// checkWeightBounds fails unless every weight of cla is within Envoy's
// bounds: each locality and endpoint weight from 1 to 2^32-1, the
// localities of a priority and the endpoints of a priority summing to at
// most 2^32-1.
func checkWeightBounds(t *testing.T, cla *endpoint.ClusterLoadAssignment) {
	t.Helper()
	if err := cla.Validate(); err != nil {
		t.Errorf("%s: %v", cla.ClusterName, err)
	}
	locSum, epSum := map[uint32]uint64{}, map[uint32]uint64{}
	for _, l := range cla.Endpoints {
		if l.GetLoadBalancingWeight().GetValue() == 0 {
			t.Errorf("%s: locality %s has weight 0", cla.ClusterName, l.Locality.SubZone)
		}
		locSum[l.Priority] += uint64(l.GetLoadBalancingWeight().GetValue())
		for _, e := range l.LbEndpoints {
			if e.GetLoadBalancingWeight().GetValue() == 0 {
				t.Errorf("%s: an endpoint of %s has weight 0", cla.ClusterName, l.Locality.SubZone)
			}
			epSum[l.Priority] += uint64(e.GetLoadBalancingWeight().GetValue())
		}
	}
	for p := range locSum {
		if locSum[p] > math.MaxUint32 || epSum[p] > math.MaxUint32 {
			t.Errorf("%s: priority %d sums to %d (localities) and %d (endpoints), beyond 2^32-1", cla.ClusterName, p, locSum[p], epSum[p])
		}
	}
}

// near reports whether got is within a millionth (relative) of want.
func near(got, want float64) bool { return math.Abs(got-want) <= 1e-6*math.Max(math.Abs(want), 1e-9) }

func endpointsOf(t *testing.T, r Resources, service string) *endpoint.ClusterLoadAssignment {
	t.Helper()
	for _, cla := range r.Endpoints {
		if len(cla.ClusterName) >= len(service) && cla.ClusterName[len(cla.ClusterName)-len(service):] == service {
			return cla
		}
	}
	t.Fatalf("no endpoints for %s", service)
	return nil
}

// TestHugeWeightsFitEnvoy pins weights far beyond what Envoy takes (an
// override of 2^31 on two addresses sums to 2^32, which a 32-bit sum wraps
// to 0; clusters of 2^40 and 2^39 pods) and checks that every resource
// passes Validate, no weight is 0, sums stay within 32 bits, and the
// proportions are the Plan's.
func TestHugeWeightsFitEnvoy(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	inv := model.NewInventory([]model.Cluster{
		{Name: "eu-west", Locality: model.Locality{Region: "eu-west-1", Zone: "eu-west-1a"}, Location: model.LocationAt(dublin)},
		{Name: "us-east", Locality: model.Locality{Region: "us-east-1", Zone: "us-east-1b"}, Location: model.LocationAt(virginia)},
		{Name: "ap-southeast", Locality: model.Locality{Region: "ap-southeast-1", Zone: "ap-southeast-1a"}, Location: model.LocationAt(singapore)},
	}, []model.Backend{
		{Service: "pin.gslb.example.com", Cluster: "eu-west", Ingress: addrs("192.0.2.10", "192.0.2.11"), ReadyPods: 4},
		{Service: "pin.gslb.example.com", Cluster: "us-east", Ingress: addrs("198.51.100.10", "198.51.100.11"), ReadyPods: 4},
		{Service: "pin.gslb.example.com", Cluster: "ap-southeast", Ingress: addrs("203.0.113.10"), ReadyPods: 3},
		{Service: "pods.gslb.example.com", Cluster: "eu-west", Ingress: addrs("192.0.2.20"), ReadyPods: 1 << 40},
		{Service: "pods.gslb.example.com", Cluster: "us-east", Ingress: addrs("198.51.100.20"), ReadyPods: 1 << 39},
		{Service: "pods.gslb.example.com", Cluster: "ap-southeast", Ingress: addrs("203.0.113.20"), ReadyPods: 3},
	})
	ovr := model.NewOverrides([]model.Override{
		{ID: "w1", Kind: model.Weight, Service: "pin.gslb.example.com", Cluster: "eu-west", Weight: 1 << 31, Created: at.Add(-time.Hour)},
		{ID: "w2", Kind: model.Weight, Service: "pin.gslb.example.com", Cluster: "us-east", Weight: math.MaxUint32, Created: at.Add(-time.Hour)},
	})
	// Hosts spill: gateways get the Plan's weights as they are, which is
	// what this test checks (capacity spill sends shares, see
	// TestEnvoyFollowsThePlan).
	pin, pods := model.DefaultPolicy("pin.gslb.example.com", model.Weighted), model.DefaultPolicy("pods.gslb.example.com", model.Weighted)
	pin.Spill, pods.Spill = model.SpillHosts, model.SpillHosts
	pol := model.NewPolicies(model.DefaultStaleGrace, []model.ServicePolicy{pin, pods})
	plan := weights.Solve(at, inv, model.NewHealth(nil), ovr, pol)
	o := Options{Services: map[string]ServiceOptions{"pods.gslb.example.com": {EastWest: ViaGateway}}, EastWestGateways: map[string]netip.AddrPort{
		"eu-west":      netip.MustParseAddrPort("192.0.2.100:15443"),
		"us-east":      netip.MustParseAddrPort("198.51.100.100:15443"),
		"ap-southeast": netip.MustParseAddrPort("203.0.113.100:15443"),
	}}
	for _, g := range []Group{{Role: Gateway, Region: "eu-west-1", Zone: "eu-west-1a"}, {Role: Sidecar, Region: "us-east-1"}, {Role: GRPC}} {
		t.Run(g.String(), func(t *testing.T) {
			r, err := Build(plan, g, o)
			if err != nil {
				t.Fatal(err)
			}
			for _, cla := range r.Endpoints {
				checkWeightBounds(t, cla)
			}
			for _, s := range plan.Services {
				if g.Role == Sidecar && s.Name == "pin.gslb.example.com" {
					continue // sent to pods, and it has none
				}
				cla := endpointsOf(t, r, s.Name)
				// The raw weight of each cluster, as the Plan has it.
				want := map[string]float64{}
				for gi, grp := range s.Groups {
					switch g.Role {
					case Gateway:
						for _, tg := range s.Targets[grp.First : grp.First+grp.N] {
							want[grp.Cluster] += float64(tg.Weight)
						}
					case Sidecar:
						want[grp.Cluster] = float64(grp.ReadyPods)
					case GRPC:
						for _, sh := range s.Route(placeGroup(plan, g)).Shares {
							if s.Targets[sh.Target].Group == int32(gi) {
								want[grp.Cluster] += sh.Fraction
							}
						}
					}
				}
				got := map[string]float64{}
				var gotSum, wantSum float64
				for _, l := range cla.Endpoints {
					var eps float64
					for _, e := range l.LbEndpoints {
						eps += float64(e.GetLoadBalancingWeight().GetValue())
					}
					got[l.Locality.SubZone] = float64(l.GetLoadBalancingWeight().GetValue())
					gotSum += got[l.Locality.SubZone]
					wantSum += want[l.Locality.SubZone]
					if g.Role != GRPC {
						// Endpoints and localities carry the same proportions.
						if e := eps / got[l.Locality.SubZone]; g.Role == Gateway && !near(e, 1) {
							t.Errorf("%s %s: endpoints sum to %.0f, locality weight %.0f", s.Name, l.Locality.SubZone, eps, got[l.Locality.SubZone])
						}
					}
				}
				if len(cla.Endpoints) == 0 {
					t.Fatalf("%s: no localities", s.Name)
				}
				for c, w := range want {
					// Rounding the smallest weights to at least 1 may cost
					// them their exact share; the big ones keep theirs.
					if w/wantSum < 1e-3 {
						continue
					}
					if _, ok := got[c]; !ok {
						t.Errorf("%s: no locality for %s", s.Name, c)
					}
					if g, w := got[c]/gotSum, w/wantSum; math.Abs(g-w) > 1e-6 {
						t.Errorf("%s %s: share %.9f, want %.9f", s.Name, c, g, w)
					}
				}
			}
		})
	}
}

// envoySplit is the fraction of traffic Envoy sends to each endpoint
// address of cla, by Envoy's priority arithmetic (weights.EnvoyPriorityLoad)
// and, within a priority, weighted round robin over its healthy hosts (all
// of them when it panics). Localities are not weighted: hosts spill does
// not turn on locality-weighted balancing (see envoyClusterSplit).
func envoySplit(t *testing.T, cla *endpoint.ClusterLoadAssignment, panicThreshold uint32) map[string]float64 {
	t.Helper()
	hosts, healthy := priorityHosts(cla)
	load, panic := weights.EnvoyPriorityLoad(hosts, healthy, cla.GetPolicy().GetOverprovisioningFactor().GetValue(), panicThreshold)
	weightSum := make([]float64, len(hosts))
	usable := func(p uint32, e *endpoint.LbEndpoint) bool {
		return panic[p] || e.HealthStatus == core.HealthStatus_HEALTHY
	}
	for _, l := range cla.Endpoints {
		for _, e := range l.LbEndpoints {
			if usable(l.Priority, e) {
				weightSum[l.Priority] += float64(e.GetLoadBalancingWeight().GetValue())
			}
		}
	}
	out := map[string]float64{}
	for _, l := range cla.Endpoints {
		for _, e := range l.LbEndpoints {
			if usable(l.Priority, e) && load[l.Priority] > 0 {
				out[e.GetEndpoint().GetAddress().GetSocketAddress().GetAddress()] +=
					float64(load[l.Priority]) / 100 * float64(e.GetLoadBalancingWeight().GetValue()) / weightSum[l.Priority]
			}
		}
	}
	return out
}

// priorityHosts counts the hosts and the healthy hosts of each priority
// of cla, as Envoy's priority arithmetic takes them.
func priorityHosts(cla *endpoint.ClusterLoadAssignment) (hosts, healthy []int) {
	for _, l := range cla.Endpoints {
		for int(l.Priority) >= len(hosts) {
			hosts, healthy = append(hosts, 0), append(healthy, 0)
		}
		for _, e := range l.LbEndpoints {
			hosts[l.Priority]++
			if e.HealthStatus == core.HealthStatus_HEALTHY {
				healthy[l.Priority]++
			}
		}
	}
	return hosts, healthy
}

// envoyClusterSplit is envoySplit for the Cluster c that cla belongs to:
// when c turns on locality-weighted balancing, Envoy picks, within the
// priority its priority loads chose, a locality by effective weight
// (weights.EnvoyLocalityWeight), then one of that locality's healthy hosts
// by endpoint weight; a priority none of whose localities has an effective
// weight uses all its hosts if it panics (ZoneAwareLoadBalancerBase::
// hostSourceToUse).
func envoyClusterSplit(t *testing.T, c *cluster.Cluster, cla *endpoint.ClusterLoadAssignment) map[string]float64 {
	t.Helper()
	threshold := uint32(c.GetCommonLbConfig().GetHealthyPanicThreshold().GetValue())
	if c.GetCommonLbConfig().GetLocalityWeightedLbConfig() == nil {
		return envoySplit(t, cla, threshold)
	}
	op := cla.GetPolicy().GetOverprovisioningFactor().GetValue()
	hosts, healthy := priorityHosts(cla)
	load, panic := weights.EnvoyPriorityLoad(hosts, healthy, op, threshold)
	out := map[string]float64{}
	for p := range hosts {
		if load[p] == 0 {
			continue
		}
		var locs []*endpoint.LocalityLbEndpoints
		var eff []float64
		var effSum float64
		for _, l := range cla.Endpoints {
			if int(l.Priority) != p {
				continue
			}
			n, h := 0, 0
			for _, e := range l.LbEndpoints {
				n++
				if e.HealthStatus == core.HealthStatus_HEALTHY {
					h++
				}
			}
			w := weights.EnvoyLocalityWeight(l.GetLoadBalancingWeight().GetValue(), n, h, op)
			locs, eff, effSum = append(locs, l), append(eff, w), effSum+w
		}
		if effSum == 0 {
			if !panic[p] {
				t.Fatalf("%s: priority %d has load %d but no healthy host", cla.ClusterName, p, load[p])
			}
			var sum float64
			for _, l := range locs {
				for _, e := range l.LbEndpoints {
					sum += float64(e.GetLoadBalancingWeight().GetValue())
				}
			}
			for _, l := range locs {
				for _, e := range l.LbEndpoints {
					out[e.GetEndpoint().GetAddress().GetSocketAddress().GetAddress()] += float64(load[p]) / 100 * float64(e.GetLoadBalancingWeight().GetValue()) / sum
				}
			}
			continue
		}
		for i, l := range locs {
			var sum float64
			for _, e := range l.LbEndpoints {
				if e.HealthStatus == core.HealthStatus_HEALTHY {
					sum += float64(e.GetLoadBalancingWeight().GetValue())
				}
			}
			for _, e := range l.LbEndpoints {
				if e.HealthStatus == core.HealthStatus_HEALTHY && eff[i] > 0 {
					out[e.GetEndpoint().GetAddress().GetSocketAddress().GetAddress()] +=
						float64(load[p]) / 100 * eff[i] / effSum * float64(e.GetLoadBalancingWeight().GetValue()) / sum
				}
			}
		}
	}
	return out
}

// clusterOf returns the Cluster of a service in r.
func clusterOf(t *testing.T, r Resources, service string) *cluster.Cluster {
	t.Helper()
	for _, c := range r.Clusters {
		if c.Name == service {
			return c
		}
	}
	t.Fatalf("no cluster %s", service)
	return nil
}

// randomPlan is a random world of 2 to 4 clusters and 1 to 3 services,
// each service with a random policy and spill mode, random ready and
// not-ready pods, 1 to 3 addresses per cluster, some of them down.
func randomPlan(r *rand.Rand, spill model.SpillMode) *model.Plan {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	places := []struct {
		region, zone string
		loc          model.Point
	}{{"eu-west-1", "eu-west-1a", dublin}, {"eu-west-1", "eu-west-1b", dublin}, {"us-east-1", "us-east-1b", virginia}, {"ap-southeast-1", "ap-southeast-1a", singapore}}
	var cls []model.Cluster
	for i := range 2 + r.IntN(3) {
		pl := places[r.IntN(len(places))]
		cls = append(cls, model.Cluster{Name: fmt.Sprintf("c%d", i), Locality: model.Locality{Region: pl.region, Zone: pl.zone}, Location: model.LocationAt(pl.loc)})
	}
	var bs []model.Backend
	var hs []model.TargetHealth
	var ps []model.ServicePolicy
	kinds := []model.PolicyKind{model.Geo, model.Geo, model.Weighted, model.Failover}
	for si := range 1 + r.IntN(3) {
		name := fmt.Sprintf("s%d.gslb.example.com", si)
		p := model.DefaultPolicy(name, kinds[r.IntN(len(kinds))])
		p.Spill, p.PanicThreshold, p.FailClosed = spill, []uint32{0, 50, 50}[r.IntN(3)], r.IntN(5) == 0
		for ci, c := range cls {
			if p.Kind == model.Failover {
				p.Order = append(p.Order, c.Name)
			}
			b := model.Backend{Service: name, Cluster: c.Name, ReadyPods: r.IntN(12), NotReadyPods: []int{0, 0, 2, 7}[r.IntN(4)]}
			for a := range 1 + r.IntN(3) {
				addr := netip.AddrFrom4([4]byte{10, byte(si), byte(ci), byte(a)})
				b.Ingress = append(b.Ingress, addr)
				if r.IntN(4) == 0 {
					hs = append(hs, model.TargetHealth{Service: name, Cluster: c.Name, Address: addr, State: model.Down})
				}
			}
			bs = append(bs, b)
		}
		ps = append(ps, p)
	}
	return weights.Solve(at, model.NewInventory(cls, bs), model.NewHealth(hs), model.NewOverrides(nil), model.NewPolicies(model.DefaultStaleGrace, ps))
}

// TestEnvoyFollowsThePlan builds gateway resources from many random Plans
// and checks, with the port of Envoy's arithmetic (priority loads, panic,
// locality-weighted balancing), that Envoy would split each service's
// traffic as the Plan does: with capacity spill from the pre-spilled
// encoding, with hosts spill from the priorities Envoy spills itself. The
// one known difference is left out: with hosts spill, nothing healthy and
// panic disabled, Envoy sends to no host while the Plan fails open.
func TestEnvoyFollowsThePlan(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	groups := []Group{{Role: Gateway}, {Role: Gateway, Region: "eu-west-1", Zone: "eu-west-1a"},
		{Role: Gateway, Region: "us-east-1", Zone: "us-east-1b"}, {Role: Gateway, Region: "ap-southeast-1", Zone: "ap-southeast-1a"}}
	compared := map[model.SpillMode]int{}
	for it := range 600 {
		spill := []model.SpillMode{model.SpillCapacity, model.SpillHosts}[it%2]
		plan := randomPlan(r, spill)
		for _, g := range groups {
			res, err := Build(plan, g, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range plan.Services {
				rt := s.Route(placeGroup(plan, g))
				if spill == model.SpillHosts && rt.Mode == model.FailedOpen && s.Policy.PanicThreshold == 0 {
					continue
				}
				if lw := clusterOf(t, res, s.Name).GetCommonLbConfig().GetLocalityWeightedLbConfig() != nil; lw != (spill == model.SpillCapacity) {
					t.Fatalf("%s spill: locality-weighted balancing %v", spill, lw)
				}
				want := planSplit(plan, s, g)
				got := envoyClusterSplit(t, clusterOf(t, res, s.Name), endpointsOf(t, res, s.Name))
				for _, a := range slices.Sorted(maps.Keys(mergeKeys(got, want))) {
					if math.Abs(got[a]-want[a]) > 1e-5 {
						t.Fatalf("iteration %d, %s spill, %s, %s (%v): Envoy would send %s %.6f, the Plan %.6f\nEnvoy %v\nPlan  %v",
							it, spill, g, s.Name, rt.Mode, a, got[a], want[a], got, want)
					}
				}
				compared[spill]++
			}
		}
	}
	t.Logf("routes compared: %v", compared)
}

func mergeKeys(a, b map[string]float64) map[string]float64 {
	out := maps.Clone(a)
	for k, v := range b {
		out[k] += v
	}
	return out
}

// planSplit is the fraction of traffic the Plan gives each address for a
// group's bucket.
func planSplit(p *model.Plan, s *model.ServicePlan, g Group) map[string]float64 {
	out := map[string]float64{}
	for _, sh := range s.Route(placeGroup(p, g)).Shares {
		out[s.Targets[sh.Target].Address.String()] += sh.Fraction
	}
	return out
}

// TestFailoverReachesEnvoyAsPlanned builds gateway resources for a
// failover service whose first cluster has half its addresses healthy,
// and for a geo service an API override fails over, and checks with
// Envoy's arithmetic that Envoy would split traffic as the Plan does
// (everything to the first cluster with a healthy address).
func TestFailoverReachesEnvoyAsPlanned(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var eu, us []netip.Addr
	var down []model.TargetHealth
	for i := range 10 {
		eu = append(eu, netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}))
		us = append(us, netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}))
	}
	for _, svc := range []string{"fo.gslb.example.com", "geo.gslb.example.com"} {
		for _, a := range eu[:5] {
			down = append(down, model.TargetHealth{Service: svc, Cluster: "eu-west", Address: a, State: model.Down, Since: at, Reason: "HTTP 503"})
		}
	}
	inv := model.NewInventory([]model.Cluster{
		{Name: "eu-west", Locality: model.Locality{Region: "eu-west-1", Zone: "eu-west-1a"}, Location: model.LocationAt(dublin)},
		{Name: "us-east", Locality: model.Locality{Region: "us-east-1", Zone: "us-east-1b"}, Location: model.LocationAt(virginia)},
	}, []model.Backend{
		{Service: "fo.gslb.example.com", Cluster: "eu-west", Ingress: eu, ReadyPods: 20},
		{Service: "fo.gslb.example.com", Cluster: "us-east", Ingress: us, ReadyPods: 20},
		{Service: "geo.gslb.example.com", Cluster: "eu-west", Ingress: eu, ReadyPods: 20},
		{Service: "geo.gslb.example.com", Cluster: "us-east", Ingress: us, ReadyPods: 20},
	})
	fo := model.DefaultPolicy("fo.gslb.example.com", model.Failover)
	fo.Order = []string{"eu-west", "us-east"}
	pol := model.NewPolicies(model.DefaultStaleGrace, []model.ServicePolicy{fo, model.DefaultPolicy("geo.gslb.example.com", model.Geo)})
	ovr := model.NewOverrides([]model.Override{{ID: "api/fo", Kind: model.ForceFailover, Service: "geo.gslb.example.com",
		Order: []string{"eu-west", "us-east"}, Reason: "test", Author: "ops", Created: at.Add(-time.Hour)}})
	plan := weights.Solve(at, inv, model.NewHealth(down), ovr, pol)

	// Clients in us-east: the geo policy alone would prefer us-east, the
	// override sends them to eu-west first.
	for _, g := range []Group{{Role: Gateway, Region: "us-east-1", Zone: "us-east-1b"}, {Role: Gateway, Region: "eu-west-1", Zone: "eu-west-1a"}, {Role: Gateway}} {
		r, err := Build(plan, g, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range plan.Services {
			t.Run(fmt.Sprintf("%s/%s", g, s.Name), func(t *testing.T) {
				if s.Policy.Kind != model.Failover {
					t.Fatalf("policy %s, want failover", s.Policy.Kind)
				}
				want := planSplit(plan, s, g)
				var first float64
				for _, a := range eu {
					first += want[a.String()]
				}
				if !near(first, 1) {
					t.Fatalf("the Plan gives eu-west %.3f of the traffic; the test expects all of it", first)
				}
				got := envoySplit(t, endpointsOf(t, r, s.Name), s.Policy.PanicThreshold)
				for _, a := range append(eu, us...) {
					if math.Abs(got[a.String()]-want[a.String()]) > 1e-9 {
						t.Errorf("%s: Envoy would send %.3f, the Plan %.3f (Envoy: %v)", a, got[a.String()], want[a.String()], got)
					}
				}
			})
		}
	}
	// Sidecars spill with the same factor.
	r, err := Build(plan, Group{Role: Sidecar, Region: "us-east-1"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range plan.Services {
		cla := endpointsOf(t, r, s.Name)
		got := cla.GetPolicy().GetOverprovisioningFactor().GetValue()
		// A healthy host in a priority of n hosts must make it fully
		// healthy for Envoy, as for the Plan: factor*1/n >= 100.
		if uint64(got)*1/uint64(len(eu)) < 100 {
			t.Errorf("sidecar %s: overprovisioning factor %d lets a priority with 1 of %d hosts healthy spill", s.Name, got, len(eu))
		}
	}
}

// TestFitWeights checks fitWeights on random weights of every magnitude:
// each result from 1 to 2^32-1, their sum within 32 bits, and each
// weight's share within 2^-31 of its share before, unless rounding a tiny
// weight up to 1 moved it.
func TestFitWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := 1 + r.IntN(40)
		ws := make([]uint64, n)
		shift := r.IntN(64)
		for i := range ws {
			ws[i] = r.Uint64() >> shift
			if r.IntN(8) == 0 {
				ws[i] = 0
			}
		}
		out := make([]uint32, n)
		fitWeights(ws, out)
		var sum uint64
		exact := new(big.Float)
		for i, w := range ws {
			if out[i] == 0 {
				t.Fatalf("%v: weight %d became 0", ws, i)
			}
			sum += uint64(out[i])
			exact.Add(exact, new(big.Float).SetUint64(max(w, 1)))
		}
		if sum > math.MaxUint32 {
			t.Fatalf("%v: sum %d", ws, sum)
		}
		total, _ := exact.Float64()
		for i, w := range ws {
			want := float64(max(w, 1)) / total
			got := float64(out[i]) / float64(sum)
			if out[i] > 1 && math.Abs(got-want) > float64(n+1)/(1<<31) {
				t.Fatalf("%v: weight %d has share %g, want %g", ws, i, got, want)
			}
		}
	}
}
