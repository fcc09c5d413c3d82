package dns

import (
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/geo"
)

// BenchmarkAnswer runs the query path on packed queries: parse, look up,
// draw, write. It must not allocate.
func BenchmarkAnswer(b *testing.B) {
	h := newTestHandler(b, testConf)
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
