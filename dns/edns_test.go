package dns

import (
	"net/netip"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/geo"
)

// uniformConf has services whose answers do not depend on the client (one
// cluster, policy all, weighted, no IPv6 anywhere) and one whose answers do.
const uniformConf = `
cluster eu-west {
    region eu-west
    location 53.35 -6.26
    static {
        ingress 192.0.2.10
        pods geo 6
        pods all 6
        pods weighted 6
        pods v4 6
    }
}
cluster us-east {
    region us-east
    location 39.04 -77.49
    static {
        ingress 198.51.100.10 2001:db8::10
        pods geo 9
        pods one 9
        pods all 9
        pods weighted 9
    }
}
zone gslb.example.com {
    ns ns.example.net
    service geo {
    }
    service one {
    }
    service all {
        policy all
    }
    service weighted {
        policy weighted
    }
    service v4 {
    }
}
`

// TestECSScopeOfUniformAnswers checks RFC 7871 section 7.2.1: an answer that
// is the same for every client carries scope 0, so that a resolver caches
// one answer for all its clients instead of one per GeoIP network; an answer
// that depends on where the client is keeps the GeoIP network's scope.
func TestECSScopeOfUniformAnswers(t *testing.T) {
	h := newTestHandler(t, uniformConf)
	for _, tc := range []struct {
		name   string
		qname  string
		qtype  uint16
		answer []string // sorted; nil: NODATA
		scope  int
	}{
		{"a service in one cluster", "one.gslb.example.com.", mdns.TypeA,
			[]string{"one.gslb.example.com. 30 IN A 198.51.100.10"}, 0},
		{"its AAAA", "one.gslb.example.com.", mdns.TypeAAAA,
			[]string{"one.gslb.example.com. 30 IN AAAA 2001:db8::10"}, 0},
		{"policy all", "all.gslb.example.com.", mdns.TypeA,
			[]string{"all.gslb.example.com. 30 IN A 192.0.2.10", "all.gslb.example.com. 30 IN A 198.51.100.10"}, 0},
		{"AAAA of an IPv4-only service is NODATA for everyone", "v4.gslb.example.com.", mdns.TypeAAAA, nil, 0},
		{"a geo service in several clusters keeps the GeoIP network's scope", "geo.gslb.example.com.", mdns.TypeA,
			[]string{"geo.gslb.example.com. 30 IN A 192.0.2.10"}, 18},
		{"and its AAAA NODATA too, which is not everyone's", "geo.gslb.example.com.", mdns.TypeAAAA, nil, 18},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := testQuery{name: tc.qname, qtype: tc.qtype, subnet: "81.2.69.0/24"}
			r, _ := exchange(t, h, q.msg(), "", false)
			if got := section(r.Answer); !slices.Equal(got, tc.answer) {
				t.Errorf("answer %v, want %v", got, tc.answer)
			}
			if scope, ok := ecsScope(r); !ok || scope != tc.scope {
				t.Errorf("ECS scope %d (present %v), want %d", scope, ok, tc.scope)
			}
		})
	}
	// policy weighted without geo: every client gets the same draw, so
	// the scope is 0 whatever record is drawn.
	for range 20 {
		r, _ := exchange(t, h, testQuery{name: "weighted.gslb.example.com.", qtype: mdns.TypeA, subnet: "8.8.8.0/24"}.msg(), "", false)
		if scope, ok := ecsScope(r); !ok || scope != 0 || len(r.Answer) != 1 {
			t.Fatalf("weighted: scope %d (present %v), %d answers; want scope 0, one answer", scope, ok, len(r.Answer))
		}
	}
}

// TestUniformAnswerSkipsGeoIP checks that a uniform answer never asks the
// GeoIP database where the client is.
func TestUniformAnswerSkipsGeoIP(t *testing.T) {
	loc := &countingLocator{Locator: locator}
	h := newTestHandlerWith(t, uniformConf, loc)
	for _, name := range []string{"one.gslb.example.com.", "all.gslb.example.com.", "weighted.gslb.example.com."} {
		exchange(t, h, testQuery{name: name, qtype: mdns.TypeA, subnet: "81.2.69.0/24"}.msg(), "", false)
		exchange(t, h, testQuery{name: name, qtype: mdns.TypeA, from: "8.8.4.4", edns: -1}.msg(), "", false)
	}
	if loc.n != 0 {
		t.Errorf("%d GeoIP lookups for answers that are the same for every client, want 0", loc.n)
	}
	exchange(t, h, testQuery{name: "geo.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}.msg(), "", false)
	if loc.n != 1 {
		t.Errorf("%d GeoIP lookups for a geo answer, want 1", loc.n)
	}
}

type countingLocator struct {
	Locator
	n int
}

func (c *countingLocator) Lookup(ip netip.Addr) geo.Location {
	c.n++
	return c.Locator.Lookup(ip)
}
