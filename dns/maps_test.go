package dns

import (
	"net/netip"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/model"
)

const mapsConf = `
cluster eu-west {
    location 53.35 -6.26
    static {
        ingress 192.0.2.10
        pods app 2
        pods plain 2
    }
}
cluster us-east {
    location 39.04 -77.49
    static {
        ingress 198.51.100.10
        pods app 2
        pods plain 2
    }
}
zone gslb.example.com {
    ns ns.example.net
    service app {
        ttl 30
        map {
            country GB -> us-east
            subnet 8.8.8.0/24 -> eu-west
            fence continent EU -> eu-west
        }
    }
    service plain {
        ttl 30
    }
}
`

var mapsLocator = fakeLocator{
	netip.MustParsePrefix("81.2.64.0/18"): {Country: "GB", Continent: "EU", At: model.LocationAt(model.Point{Lat: 54, Lon: -2})},
	netip.MustParsePrefix("5.0.0.0/12"):   {Country: "DE", Continent: "EU", At: model.LocationAt(model.Point{Lat: 51, Lon: 10})},
	netip.MustParsePrefix("8.8.0.0/15"):   {Country: "US", Continent: "NA", At: model.LocationAt(model.Point{Lat: 38, Lon: -97})},
}

// TestMapAnswers: DNS answers by the service's map, most specific entry
// first, with an ECS scope never wider than what decided; a fence whose
// clusters are all drained answers NODATA, while clients outside it and
// services without a map are answered as before.
func TestMapAnswers(t *testing.T) {
	const eu, us = "192.0.2.10", "198.51.100.10"
	for _, drained := range []bool{false, true} {
		conf := mapsConf
		if drained {
			conf = strings.Replace(conf, "    location 53.35 -6.26\n", "    location 53.35 -6.26\n    drain residency test\n", 1)
		}
		h := newTestHandlerWith(t, conf, mapsLocator)
		for _, tc := range []struct {
			name, qname, subnet string
			want                string // the address, or "" for NODATA
			scope               int
		}{
			{"country beats continent", "app", "81.2.69.0/24", us, 18},
			{"a map subnet beats the country", "app", "8.8.8.0/24", eu, 24},
			{"unmatched: by distance, scope narrowed off the map subnet", "app", "8.8.9.0/24", us, 24},
			{"the fence", "app", "5.1.0.0/16", eu, 12},
			{"a service without a map", "plain", "5.1.0.0/16", eu, 12},
		} {
			want := tc.want
			if drained && want == eu {
				want = us // drained eu-west: clients leave it...
				if tc.name == "the fence" {
					want = "" // ...except the fence's, which fails closed
				}
			}
			r, _ := exchange(t, h, testQuery{name: tc.qname + ".gslb.example.com.", qtype: mdns.TypeA, subnet: tc.subnet}.msg(), "", false)
			var got string
			if len(r.Answer) == 1 {
				got = r.Answer[0].(*mdns.A).A.String()
			}
			if r.Rcode != mdns.RcodeSuccess || got != want || (want == "" && len(r.Ns) != 1) {
				t.Errorf("drained %v, %s: rcode %s, answer %v, authority %d records; want %q", drained, tc.name, mdns.RcodeToString[r.Rcode], r.Answer, len(r.Ns), want)
			}
			scope := tc.scope
			if drained && tc.qname == "plain" {
				scope = 0 // one cluster left: the same answer for everyone
			}
			if got, ok := ecsScope(r); !ok || got != scope {
				t.Errorf("drained %v, %s: ECS scope %d (present %v), want %d", drained, tc.name, got, ok, scope)
			}
		}
		// No allocation per query, IPv4 (cached) or IPv6 (placed per query).
		out := make([]byte, 0, 65535)
		for _, subnet := range []string{"81.2.69.0/24", "8.8.8.0/24", "5.1.0.0/16", "2001:db8::/48"} {
			req, _ := testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: subnet}.msg().Pack()
			h.Answer(req, out, netip.MustParseAddr("127.0.0.1"), false)
			if n := testing.AllocsPerRun(500, func() { h.Answer(req, out, netip.MustParseAddr("127.0.0.1"), false) }); n != 0 {
				t.Errorf("answer to %s allocates %v times per query", subnet, n)
			}
		}
	}
}
