package dns

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/geo"
	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
)

// BenchmarkAnswer runs the query path on packed queries: parse, look up,
// draw, write. It must not allocate. The queries have DO: signed/ asks the
// same of the zone signed, where the answers carry their signatures.
func BenchmarkAnswer(b *testing.B) {
	for _, zone := range []string{"unsigned", "signed"} {
		conf := testConf
		if zone == "signed" {
			conf = signedConf(b.TempDir())
		}
		b.Run(zone, func(b *testing.B) { benchmarkAnswer(b, newTestHandler(b, conf)) })
	}
}

func benchmarkAnswer(b *testing.B, h *Handler) {
	for _, tc := range []struct {
		name string
		q    testQuery
	}{
		{"geo-service-ecs", testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}},
		{"geo-service-no-edns", testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, edns: -1}},
		{"static-a", testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: 0}},
		{"apex-ns-glue", testQuery{name: "gslb.example.com.", qtype: mdns.TypeNS, edns: 0}},
		{"nxdomain", testQuery{name: "nope.gslb.example.com.", qtype: mdns.TypeA, edns: 0}},
		{"cname-to-service", testQuery{name: "go.gslb.example.com.", qtype: mdns.TypeA, subnet: "8.8.8.0/24"}},
		{"wildcard-a", testQuery{name: "host.wild.gslb.example.com.", qtype: mdns.TypeA, edns: 0}},
		{"wildcard-cname-to-service", testQuery{name: "host.svc.gslb.example.com.", qtype: mdns.TypeA, subnet: "8.8.8.0/24"}},
		{"mx-additional", testQuery{name: "gslb.example.com.", qtype: mdns.TypeMX, edns: 0}},
		{"referral", testQuery{name: "x.sub.gslb.example.com.", qtype: mdns.TypeA, edns: 0}},
		{"refused", testQuery{name: "www.example.org.", qtype: mdns.TypeA, edns: 0}},
	} {
		req, err := tc.q.msg().Pack()
		if err != nil {
			b.Fatal(err)
		}
		out := make([]byte, 0, 65535)
		client := netip.MustParseAddr("127.0.0.1")
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if resp, _ := h.Answer(req, out, client, false); len(resp) == 0 {
					b.Fatal("no answer")
				}
			}
		})
	}
}

// TestAnswerDoesNotAllocate keeps the benchmark's promise in every test
// run: a service, a wildcard, a wildcard CNAME to a service, an answer
// with additional addresses (TestAdditionalTrim checks the one cut short).
func TestAnswerDoesNotAllocate(t *testing.T) {
	h := newTestHandler(t, testConf)
	out := make([]byte, 0, 65535)
	client := netip.MustParseAddr("127.0.0.1")
	for _, q := range []testQuery{
		{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"},
		{name: "host.wild.gslb.example.com.", qtype: mdns.TypeA, edns: -1},
		{name: "host.svc.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"},
		{name: "gslb.example.com.", qtype: mdns.TypeMX, edns: 0},
	} {
		req, _ := q.msg().Pack()
		h.Answer(req, out, client, false) // warm the bucket cache
		if n := testing.AllocsPerRun(1000, func() { h.Answer(req, out, client, false) }); n != 0 {
			t.Errorf("Answer to %s %s allocates %v times per query, want 0", q.name, mdns.Type(q.qtype), n)
		}
	}
	// Signed answers (the queries have DO), once their signatures are made.
	signed := newTestHandler(t, signedConf(t.TempDir()))
	for _, q := range []testQuery{
		{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"},
		{name: "app.gslb.example.com.", qtype: mdns.TypeAAAA, subnet: "81.2.69.0/24"}, // NODATA with its NSEC
		{name: "all.gslb.example.com.", qtype: mdns.TypeA, subnet: "8.8.8.0/24"},
		{name: "www.gslb.example.com.", qtype: mdns.TypeA},
		{name: "go.gslb.example.com.", qtype: mdns.TypeA, subnet: "8.8.8.0/24"},
		{name: "nope.gslb.example.com.", qtype: mdns.TypeA},      // denied online, then from the cache
		{name: "host.wild.gslb.example.com.", qtype: mdns.TypeA}, // likewise
		{name: "host.svc.gslb.example.com.", qtype: mdns.TypeA, subnet: "8.8.8.0/24"},
	} {
		req, _ := q.msg().Pack()
		signed.Answer(req, out, client, false)
		if n := testing.AllocsPerRun(1000, func() { signed.Answer(req, out, client, false) }); n != 0 {
			t.Errorf("signed answer to %s %s allocates %v times per query, want 0", q.name, mdns.Type(q.qtype), n)
		}
	}
}

// BenchmarkAnswerBuiltinGeoIP is the geo case with the real built-in GeoIP
// database, as `meridian serve` runs by default: the tree walk and the
// nearest-site search a repeat client subnet skips (locCache).
func BenchmarkAnswerBuiltinGeoIP(b *testing.B) {
	db, err := geo.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	h := newTestHandlerWith(b, testConf, db)
	req, err := testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}.msg().Pack()
	if err != nil {
		b.Fatal(err)
	}
	out := make([]byte, 0, 65535)
	client := netip.MustParseAddr("127.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		if resp, _ := h.Answer(req, out, client, false); len(resp) == 0 {
			b.Fatal("no answer")
		}
	}
}

// BenchmarkAnswerCookie is a query with DNS Cookies on, answered as the
// server answers it, with the time its batch was read: a client cookie
// alone (a server cookie is made), a valid server cookie (checked and sent
// back), and an NSID asked for. It must not allocate either.
// "clock-per-query" reads the clock for the query, as Answer does.
func BenchmarkAnswerCookie(b *testing.B) {
	h := newOptionsHandler(b, Options{Cookies: true, NSID: []byte("replica-1")})
	client := netip.MustParseAddr("127.0.0.1")
	now := uint32(1_700_000_000)
	out := make([]byte, 0, 65535)
	pack := func(m *mdns.Msg) []byte {
		req, err := m.Pack()
		if err != nil {
			b.Fatal(err)
		}
		return req
	}
	fresh := pack(cookieQuery("0102030405060708"))
	resp, _ := h.answer(fresh, out, client, false, now, signInline)
	var r mdns.Msg
	if err := r.Unpack(resp); err != nil {
		b.Fatal(err)
	}
	cookie, _ := cookieOf(&r)
	valid := pack(cookieQuery(cookie))
	ecs := cookieQuery(cookie)
	ecs.IsEdns0().Option = append(ecs.IsEdns0().Option, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: 24,
		Address: netip.MustParseAddr("81.2.69.0").AsSlice()})
	ecs.Question[0].Name = "app.gslb.example.com."
	nsid := pack(withOptions(testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg(), &mdns.EDNS0_NSID{Code: mdns.EDNS0NSID}))
	for _, tc := range []struct {
		name  string
		req   []byte
		valid bool
	}{
		{"client-cookie", fresh, false},
		{"server-cookie", valid, true},
		{"server-cookie-geo-service-ecs", pack(ecs), true},
		{"nsid", nsid, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if resp, o := h.answer(tc.req, out, client, false, now, signInline); len(resp) == 0 || o.cookie != tc.valid {
					b.Fatal("no answer, or not the cookie expected")
				}
			}
		})
	}
	b.Run("client-cookie-clock-per-query", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if resp, _ := h.Answer(fresh, out, client, false); len(resp) == 0 {
				b.Fatal("no answer")
			}
		}
	})
}

// TestCookieAnswerDoesNotAllocate keeps BenchmarkAnswerCookie's promise.
func TestCookieAnswerDoesNotAllocate(t *testing.T) {
	h := newOptionsHandler(t, Options{Cookies: true, NSID: []byte("replica-1")})
	client := netip.MustParseAddr("127.0.0.1")
	out := make([]byte, 0, 65535)
	m := cookieQuery("0102030405060708")
	m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_NSID{Code: mdns.EDNS0NSID})
	req, _ := m.Pack()
	resp, _ := h.answer(req, out, client, false, 1_700_000_000, signInline)
	var r mdns.Msg
	if err := r.Unpack(resp); err != nil {
		t.Fatal(err)
	}
	cookie, _ := cookieOf(&r)
	valid, _ := cookieQuery(cookie).Pack()
	for _, req := range [][]byte{req, valid} {
		if n := testing.AllocsPerRun(1000, func() { h.answer(req, out, client, false, 1_700_000_000, signInline) }); n != 0 {
			t.Errorf("a cookie query allocates %v times, want 0", n)
		}
	}
}

// bigZones is issue 21's scale: one zone of 2,000 global services, each in
// every one of 50 clusters (10 regions of 5 zones) behind 4 ingress
// addresses, as weights' benchmarks have it; signed when keys is a
// directory. It returns the zones, the inputs of the Solver, and the
// name of the service the benchmarks change.
func bigZones(tb testing.TB, services int, keys string) (*Zones, model.Inventory, model.Policies, string) {
	tb.Helper()
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
	zc := ZoneConfig{Origin: "gslb.example.com", TTL: 300,
		SOA: SOAConfig{MName: "ns1.gslb.example.com", RName: "hostmaster.example.com", Refresh: 3600, Retry: 600, Expire: 86400, Minimum: 60},
		NS:  []NameServer{{Name: "ns1.gslb.example.com", Glue: []netip.Addr{netip.MustParseAddr("192.0.2.53")}}}}
	if keys != "" {
		zc.DNSSEC = &DNSSECConfig{Keys: keys, Algorithm: mdns.ECDSAP256SHA256}
	}
	var bs []model.Backend
	var ps []model.ServicePolicy
	for s := range services {
		name := fmt.Sprintf("svc-%04d.gslb.example.com", s)
		zc.Services = append(zc.Services, ServiceConfig{FQDN: name, TTL: 30, MaxAnswers: 2})
		ps = append(ps, model.DefaultPolicy(name, model.Geo))
		for c := range clusters {
			b := model.Backend{Service: name, Cluster: cs[c].Name, ReadyPods: 1 + (s+c)%25}
			for a := range addrs {
				b.Ingress = append(b.Ingress, netip.AddrFrom4([4]byte{10, byte(c), byte(a), 1}))
			}
			bs = append(bs, b)
		}
	}
	zs, err := LoadZones([]ZoneConfig{zc}, nil, time.Unix(1_700_000_000, 0))
	if err != nil {
		tb.Fatal(err)
	}
	return zs, model.NewInventory(cs, bs), model.NewPolicies(model.DefaultStaleGrace, ps), fmt.Sprintf("svc-%04d.gslb.example.com", services/2)
}

// oneServiceChanges returns n Inventories, each inv with the ready pods
// of one cluster of service changed: one EndpointSlice event each.
func oneServiceChanges(inv model.Inventory, service string, n int) []model.Inventory {
	base := inv.BackendsOf(service)
	out := make([]model.Inventory, n)
	for i := range out {
		bs := slices.Clone(base)
		bs[7].ReadyPods = 1 + i%30
		out[i] = inv.WithBackends(service, bs)
	}
	return out
}

// BenchmarkOneServiceChange is issue 21's measure: at 50 clusters and
// 2,000 services, one service's backends change in one cluster (an
// EndpointSlice event), and the time and memory from that Inventory to
// the DNS table swapped in, through the Solver that remembers the last
// solve (as the weights loop runs it) and the Handler's Publish. solve/
// is the Solver alone, publish/ the DNS compile and swap alone (of a
// Plan that moved that one service's shares), end-to-end/ both.
// signed-200/ is end-to-end in a signed zone of 200 services.
func BenchmarkOneServiceChange(b *testing.B) {
	run := func(b *testing.B, services int, keys string) {
		zs, inv, pol, svc := bigZones(b, services, keys)
		h := NewHandler(zs, locator, Options{}, nil)
		var s weights.Solver
		at := time.Unix(1_700_000_000, 0)
		h.Publish(s.Solve(at, inv, model.Health{}, model.Overrides{}, pol))
		invs := oneServiceChanges(inv, svc, 30)
		plans := make([]*model.Plan, len(invs))
		for i, inv := range invs {
			plans[i] = s.Solve(at, inv, model.Health{}, model.Overrides{}, pol)
		}
		b.Run("solve", func(b *testing.B) {
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				s.Solve(at, invs[i%len(invs)], model.Health{}, model.Overrides{}, pol)
				i++
			}
		})
		b.Run("publish", func(b *testing.B) {
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				h.Publish(plans[i%len(plans)])
				i++
			}
		})
		b.Run("end-to-end", func(b *testing.B) {
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				h.Publish(s.Solve(at, invs[i%len(invs)], model.Health{}, model.Overrides{}, pol))
				i++
			}
		})
	}
	b.Run("unsigned-2000", func(b *testing.B) { run(b, 2000, "") })
	b.Run("signed-200", func(b *testing.B) { run(b, 200, b.TempDir()) })
}

// BenchmarkAnswerBuiltinGeoIPSubnets is BenchmarkAnswerBuiltinGeoIP with
// queries from 1,000 client subnets in turn (random public /24s, as
// bench/dns/ecsqueries makes for dnsperf), so that the location cache
// holds many networks and misses where two share a slot.
func BenchmarkAnswerBuiltinGeoIPSubnets(b *testing.B) {
	db, err := geo.Builtin()
	if err != nil {
		b.Fatal(err)
	}
	h := newTestHandlerWith(b, testConf, db)
	r := rand.New(rand.NewPCG(21, 1))
	var reqs [][]byte
	for len(reqs) < 1000 {
		subnet := fmt.Sprintf("%d.%d.%d.0/24", 1+r.IntN(223), r.IntN(256), r.IntN(256))
		if p := netip.MustParsePrefix(subnet); p.Addr().IsPrivate() || p.Addr().IsLoopback() {
			continue
		}
		req, err := testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: subnet}.msg().Pack()
		if err != nil {
			b.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	out := make([]byte, 0, 65535)
	client := netip.MustParseAddr("127.0.0.1")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if resp, _ := h.Answer(reqs[i%len(reqs)], out, client, false); len(resp) == 0 {
			b.Fatal("no answer")
		}
		i++
	}
}
