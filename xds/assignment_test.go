package xds

import (
	"bytes"
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meridian-gtm/meridian/model"
)

// message is Envoy's load assignment that a finished assignment stands
// for, built field by field with go-control-plane's types: what encode
// must write, and what check must judge as Validate does.
func message(a *assignment, eds string) *endpoint.ClusterLoadAssignment {
	cla := &endpoint.ClusterLoadAssignment{ClusterName: eds}
	if a.policy {
		cla.Policy = &endpoint.ClusterLoadAssignment_Policy{OverprovisioningFactor: wrapperspb.UInt32(a.overprovisioning)}
	}
	eps := a.endpoints
	for _, l := range a.localities {
		loc := &endpoint.LocalityLbEndpoints{
			Locality:            &core.Locality{Region: l.group.Locality.Region, Zone: l.group.Locality.Zone, SubZone: l.group.Cluster},
			Priority:            l.priority,
			LoadBalancingWeight: wrapperspb.UInt32(uint32(l.weight)),
		}
		for _, e := range eps[:l.n] {
			loc.LbEndpoints = append(loc.LbEndpoints, &endpoint.LbEndpoint{
				HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{
					Address: &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
						Address:       e.addr.Addr().String(),
						PortSpecifier: &core.SocketAddress_PortValue{PortValue: uint32(e.addr.Port())},
					}}},
				}},
				HealthStatus:        e.health,
				LoadBalancingWeight: wrapperspb.UInt32(uint32(e.weight)),
			})
		}
		eps = eps[l.n:]
		cla.Endpoints = append(cla.Endpoints, loc)
	}
	return cla
}

// randomAssignment is a finished assignment with the edge values of every
// field among the ordinary ones: empty names, long names, priorities at
// and past Envoy's bound, weights of 0 and 2^32-1, ports 0 and 65535,
// IPv4 and IPv6, every health.
func randomAssignment(r *rand.Rand) *assignment {
	pick := func(xs ...uint64) uint64 { return xs[r.IntN(len(xs))] }
	names := []string{"", "eu-west-1", "us-east-1a", string(bytes.Repeat([]byte("z"), 200))}
	a := &assignment{}
	if r.IntN(3) > 0 {
		a.setPolicy(uint32(pick(0, 1, 100, 140, math.MaxUint32)))
	}
	for range r.IntN(5) {
		g := &model.Group{Cluster: names[r.IntN(len(names))], Locality: model.Locality{Region: names[r.IntN(len(names))], Zone: names[r.IntN(len(names))]}}
		n := r.IntN(4)
		a.localities = append(a.localities, assignedLocality{group: g, priority: uint32(pick(0, 1, 2, 127, 128, 129, 300)), weight: pick(0, 1, 7, 1_000_000, math.MaxUint32), n: n})
		for range n {
			var ip netip.Addr
			if r.IntN(2) == 0 {
				ip = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), 0, byte(r.IntN(256))})
			} else {
				ip = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(r.IntN(256))})
			}
			a.endpoints = append(a.endpoints, assignedEndpoint{
				addr:   netip.AddrPortFrom(ip, uint16(pick(0, 1, 80, 443, 65535))),
				health: core.HealthStatus(r.IntN(4)),
				weight: pick(0, 1, 7, 1_000_000, math.MaxUint32),
			})
		}
	}
	return a
}

// TestAssignmentEncoding: encode writes the very bytes proto.Marshal with
// Deterministic gives the message the assignment stands for, over random
// assignments and every node group's endpoints of the golden Plans.
func TestAssignmentEncoding(t *testing.T) {
	check := func(a *assignment, eds string) {
		t.Helper()
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(message(a, eds))
		if err != nil {
			t.Fatal(err)
		}
		got := a.encode(nil, eds)
		if !bytes.Equal(got, want) {
			t.Fatalf("encode wrote\n%x\nproto.Marshal writes\n%x\nfor %+v", got, want, message(a, eds))
		}
	}
	r := rand.New(rand.NewPCG(21, 3))
	for range 2000 {
		check(randomAssignment(r), "gateway/eu-west-1/eu-west-1a/app.gslb.example.com")
	}
	n := 0
	for _, spill := range []model.SpillMode{model.SpillHosts, model.SpillCapacity} {
		plan := testPlanSpill(t, spill)
		for _, role := range []Role{Gateway, GRPC, Sidecar} {
			for _, region := range []string{"eu-west-1", "us-east-1", "ap-southeast-1", ""} {
				g := Group{Role: role, Region: region}
				place := nodePlacement(plan, g)
				for _, s := range plan.Services {
					a := &assignment{}
					rt := s.RouteFor(place)
					switch {
					case role == Gateway && spill == model.SpillCapacity:
						preSpilledEndpoints(a, s, rt, 443)
					case role == Gateway:
						priorityEndpoints(a, s, rt, 443)
					case role == GRPC:
						spilledEndpoints(a, s, rt, 443)
					default:
						eastWestEndpoints(a, s, rt, testOptions().service(s.Name), testOptions().EastWestGateways)
					}
					a.finish()
					check(a, EndpointsName(g, s.Name))
					n += len(a.endpoints)
				}
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d endpoints of the golden Plans encoded", n)
	}
}

// TestAssignmentCheckMatchesValidate: check rejects exactly the
// assignments whose message Envoy's generated Validate rejects.
func TestAssignmentCheckMatchesValidate(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 4))
	valid, invalid := 0, 0
	for range 5000 {
		a := randomAssignment(r)
		want := message(a, "x").Validate()
		got := a.check()
		if (got == nil) != (want == nil) {
			t.Fatalf("check says %v, Validate says %v, for %+v", got, want, message(a, "x"))
		}
		if got == nil {
			valid++
		} else {
			invalid++
		}
	}
	if valid < 100 || invalid < 100 {
		t.Fatalf("%d valid and %d invalid assignments: the test covers too few of one kind", valid, invalid)
	}
}
