package model

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

var (
	dublin    = Point{Lat: 53.35, Lon: -6.26}
	frankfurt = Point{Lat: 50.11, Lon: 8.68}
	virginia  = Point{Lat: 38.9, Lon: -77.0}
	london    = Point{Lat: 51.5, Lon: -0.13}
)

// TestPlaceBias: London is nearer Dublin (about 460 km) than Frankfurt
// (about 640 km); a bias of 50 on Frankfurt halves its distance and wins
// London, a bias of -50 on Dublin does too, and a bias does not reach a
// client far from both.
func TestPlaceBias(t *testing.T) {
	plan := func(dubBias, fraBias int) *Plan {
		return &Plan{Sites: []Site{
			{Cluster: "eu-central", Location: frankfurt, Bias: fraBias},
			{Cluster: "eu-west", Location: dublin, Bias: dubBias},
			{Cluster: "us-east", Location: virginia},
		}}
	}
	client := Client{Location: LocationAt(london)}
	for _, tc := range []struct {
		name             string
		dubBias, fraBias int
		client           Client
		want             string
	}{
		{"no bias: nearest", 0, 0, client, "eu-west"},
		{"Frankfurt grows", 0, 50, client, "eu-central"},
		{"Frankfurt grows too little", 0, 20, client, "eu-west"},
		{"Dublin shrinks", -50, 0, client, "eu-central"},
		{"Dublin grows against Frankfurt's growth", 50, 50, client, "eu-west"},
		{"New York stays in the US", 0, 50, Client{Location: LocationAt(Point{Lat: 40.7, Lon: -74})}, "us-east"},
	} {
		p := plan(tc.dubBias, tc.fraBias)
		if got := p.Sites[p.Place(tc.client).Bucket].Cluster; got != tc.want {
			t.Errorf("%s: placed at %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestPlaceNets: the longest subnet-list entry that holds the address
// places the client, whatever its location; NetBits is the widest prefix
// over which no other entry decides otherwise.
func TestPlaceNets(t *testing.T) {
	p := &Plan{
		Sites: []Site{{Cluster: "eu-west", Location: dublin}, {Cluster: "us-east", Location: virginia}},
		Nets: []Net{
			{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Clusters: []string{"us-east"}, List: 0, Source: "nets:1"},
			{Prefix: netip.MustParsePrefix("10.5.0.0/16"), Clusters: []string{"eu-west", "us-east"}, List: 1, Source: "nets:2"},
			{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Clusters: []string{"eu-west", "us-east"}, List: 1, Source: "nets:3"},
			{Prefix: netip.MustParsePrefix("2001:db8::/32"), Clusters: []string{"us-east"}, List: 0, Source: "nets:4"},
		},
		NetLists: [][]string{{"us-east"}, {"eu-west", "us-east"}},
	}
	inLondon := func(addr string) Client {
		return Client{Addr: netip.MustParseAddr(addr), Location: LocationAt(london)}
	}
	for _, tc := range []struct {
		client    Client
		bucket    int
		net, bits int
		who       string // how explain names the clients
	}{
		{inLondon("10.1.2.3"), 3, 0, 14, "clients of subnet list entry 10.0.0.0/8 (nets:1)"}, // 10.0/14 keeps clear of 10.5/16
		{inLondon("10.200.2.3"), 3, 0, 9, "clients of subnet list entry 10.0.0.0/8 (nets:1)"},
		{inLondon("10.5.9.9"), 4, 1, 16, "clients of subnet list entry 10.5.0.0/16 (nets:2)"}, // the longest prefix wins
		{inLondon("198.51.100.7"), 4, 2, 24, "clients of subnet list entry 198.51.100.0/24 (nets:3)"},
		{inLondon("198.51.101.7"), 0, -1, 24, "clients nearest eu-west"}, // distance decides, but not over the entry next door
		{inLondon("192.0.2.1"), 0, -1, 6, "clients nearest eu-west"},
		{inLondon("2001:db8::1"), 3, 3, 32, "clients of subnet list entry 2001:db8::/32 (nets:4)"}, // IPv6 entries for IPv6 addresses
		{inLondon("2001:db9::1"), 0, -1, 32, "clients nearest eu-west"},
		{inLondon("::ffff:10.5.0.1"), 4, 1, 16, "clients of subnet list entry 10.5.0.0/16 (nets:2)"},                         // a mapped address is its IPv4 one
		{Client{Locality: Locality{Region: "elsewhere"}, Location: LocationAt(london)}, 0, -1, 0, "clients nearest eu-west"}, // xDS: no address
		{Client{Addr: netip.MustParseAddr("203.0.113.1")}, 2, -1, 5, "clients of unknown location"},
	} {
		pl := p.Place(tc.client)
		if pl != (Placement{Bucket: tc.bucket, Net: tc.net, NetBits: tc.bits, MapNet: -1}) {
			t.Errorf("%v: placed %+v, want bucket %d, net %d, bits %d", tc.client.Addr, pl, tc.bucket, tc.net, tc.bits)
		}
		p.Services = []*ServicePlan{{Name: "svc", Routes: make([]Route, p.Buckets()), Listed: len(p.NetLists)}}
		if e, _ := p.Explain("svc", tc.client); !strings.HasPrefix(e.Summary, tc.who+":") {
			t.Errorf("%v: explain says %q, want it to start %q", tc.client.Addr, e.Summary, tc.who)
		}
	}
}

// TestPlaceNetBitsHold checks NetBits against its meaning by brute force:
// every address that shares the first NetBits bits of a client's address
// is placed by the same subnet-list entry (or by none).
func TestPlaceNetBitsHold(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func() netip.Addr {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], uint32(rng.Uint64N(1<<32))&0xF0F0FFFF|0x0A000000) // crowd a few /8s
		return netip.AddrFrom4(a)
	}
	for range 20 {
		p := &Plan{}
		for range 1 + rng.IntN(12) {
			a := random()
			p.Nets = append(p.Nets, Net{Prefix: netip.PrefixFrom(a, 4+rng.IntN(28)).Masked()})
		}
		for range 200 {
			a := random()
			pl := p.Place(Client{Addr: a})
			for range 50 {
				b := random()
				x, y := a.As4(), b.As4()
				ax, bx := binary.BigEndian.Uint32(x[:]), binary.BigEndian.Uint32(y[:])
				keep := ^uint32(0) << (32 - pl.NetBits)
				if pl.NetBits == 0 {
					keep = 0
				}
				var z [4]byte
				binary.BigEndian.PutUint32(z[:], ax&keep|bx&^keep)
				if got := p.Place(Client{Addr: netip.AddrFrom4(z)}); got.Net != pl.Net {
					t.Fatalf("nets %v: %v placed by entry %d with NetBits %d, but %v by entry %d", p.Nets, a, pl.Net, pl.NetBits, netip.AddrFrom4(z), got.Net)
				}
			}
		}
	}
}
