package dns

import (
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
)

// FuzzAnswer feeds arbitrary packets to the query path. It must never
// panic, every answer must be a well-formed message, and no UDP answer may
// be larger than the client allows (512 bytes without EDNS, its payload size
// up to 1232 with), so that Meridian cannot be used to amplify.
func FuzzAnswer(f *testing.F) {
	h := newTestHandler(f, testConf)
	for _, q := range []testQuery{
		{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"},
		{name: "app.gslb.example.com.", qtype: mdns.TypeAAAA, edns: -1},
		{name: "www.gslb.example.com.", qtype: mdns.TypeANY, edns: 0},
		{name: "gslb.example.com.", qtype: mdns.TypeNS, edns: 0},
		{name: "x.sub.gslb.example.com.", qtype: mdns.TypeA, edns: -1},
		{name: "go.gslb.example.com.", qtype: mdns.TypeA, subnet: "2001:db8::/56"},
		{name: "version.bind.", qtype: mdns.TypeTXT, edns: -1},
		{name: "gslb.example.com.", qtype: mdns.TypeAXFR, edns: -1},
	} {
		req, err := q.msg().Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(req, false)
	}
	out := make([]byte, 0, 65535)
	client := netip.MustParseAddr("10.1.2.3")
	f.Fuzz(func(t *testing.T, req []byte, tcp bool) {
		resp, _ := h.Answer(req, out, client, tcp)
		if resp == nil {
			return
		}
		var m mdns.Msg
		if err := m.Unpack(resp); err != nil {
			t.Fatalf("answer does not parse: %v\nrequest % x\nanswer % x", err, req, resp)
		}
		if tcp {
			return
		}
		var q query
		limit := minUDP
		if q.parse(req) == parsed && q.edns {
			limit = int(min(max(q.udpSize, minUDP), maxUDP))
		}
		if len(resp) > limit {
			t.Fatalf("UDP answer of %d bytes exceeds the %d the request allows", len(resp), limit)
		}
	})
}
