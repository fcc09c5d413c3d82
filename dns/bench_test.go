package dns

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/geo"
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
