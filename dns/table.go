package dns

import (
	"net/netip"
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/model"
)

// table is everything the handler needs to answer, compiled from the zones
// of the config and one Plan. It is immutable once built.
type table struct {
	plan  *model.Plan
	zones map[string]*zone // by origin: lower case, final dot
}

// zone is one authoritative zone.
type zone struct {
	origin string
	soa    *mdns.SOA
	ns     []mdns.RR
	// negTTL is the TTL of negative answers: min(SOA TTL, SOA minimum) (RFC 2308).
	negTTL uint32
	names  map[string]*name // every name that exists in the zone, lower case with final dot
}

// name is one owner name of a zone and what it holds.
type name struct {
	// rrsets holds fixed records by type: the apex's SOA and NS, glue.
	rrsets map[uint16][]mdns.RR
	// service, when set, makes the name a global service whose A and AAAA
	// records depend on the client's bucket.
	service *serviceAnswers
}

// serviceAnswers holds a global service's records for every client bucket.
type serviceAnswers struct {
	ttl uint32
	// a and aaaa hold, per bucket, the addresses of the targets that get
	// traffic. The first version answers with all of them; weighted
	// selection comes with max_answers.
	a, aaaa [][]netip.Addr
}

// compile builds the answer table for zones and plan. serial is the SOA serial.
func compile(zones []config.Zone, plan *model.Plan, serial uint32) *table {
	t := &table{plan: plan, zones: make(map[string]*zone, len(zones))}
	for _, zc := range zones {
		z := &zone{origin: fqdn(zc.Origin), names: map[string]*name{}}
		z.soa = &mdns.SOA{
			Hdr:     mdns.RR_Header{Name: z.origin, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: zc.TTL},
			Ns:      fqdn(zc.SOA.MName),
			Mbox:    fqdn(zc.SOA.RName),
			Serial:  serial,
			Refresh: zc.SOA.Refresh,
			Retry:   zc.SOA.Retry,
			Expire:  zc.SOA.Expire,
			Minttl:  zc.SOA.Minimum,
		}
		z.negTTL = min(zc.TTL, zc.SOA.Minimum)
		apex := z.node(z.origin)
		apex.rrsets[mdns.TypeSOA] = []mdns.RR{z.soa}
		for _, ns := range zc.NS {
			rr := &mdns.NS{Hdr: hdr(z.origin, mdns.TypeNS, zc.TTL), Ns: fqdn(ns.Name)}
			z.ns = append(z.ns, rr)
			for _, ip := range ns.Glue {
				glue := z.node(fqdn(ns.Name))
				rr := addrRR(fqdn(ns.Name), ip, zc.TTL)
				t := rr.Header().Rrtype
				glue.rrsets[t] = append(glue.rrsets[t], rr)
			}
		}
		apex.rrsets[mdns.TypeNS] = z.ns
		for _, s := range zc.Services {
			z.node(fqdn(s.FQDN)).service = serviceFromPlan(plan, s)
		}
		t.zones[z.origin] = z
	}
	return t
}

// node returns the name n of the zone, creating it and the empty
// non-terminals between it and the apex, so that they answer NODATA, not
// NXDOMAIN.
func (z *zone) node(n string) *name {
	if nd, ok := z.names[n]; ok {
		return nd
	}
	nd := &name{rrsets: map[uint16][]mdns.RR{}}
	z.names[n] = nd
	for p := n; p != z.origin; {
		i := strings.IndexByte(p, '.')
		p = p[i+1:]
		if _, ok := z.names[p]; ok {
			break
		}
		z.names[p] = &name{rrsets: map[uint16][]mdns.RR{}}
	}
	return nd
}

// serviceFromPlan extracts the addresses every bucket gets for one service.
func serviceFromPlan(plan *model.Plan, s config.Service) *serviceAnswers {
	sa := &serviceAnswers{ttl: s.TTL}
	sp, ok := plan.Service(s.FQDN)
	if !ok {
		return sa
	}
	for b := range sp.Routes {
		var a, aaaa []netip.Addr
		for _, sh := range sp.Route(b).Shares {
			ip := sp.Targets[sh.Target].Address
			if ip.Is4() {
				a = append(a, ip)
			} else {
				aaaa = append(aaaa, ip)
			}
		}
		sa.a = append(sa.a, a)
		sa.aaaa = append(sa.aaaa, aaaa)
	}
	return sa
}

// findZone returns the zone that holds qname (lower case, final dot): the
// one with the longest origin that is a suffix of qname.
func (t *table) findZone(qname string) *zone {
	for n := qname; ; {
		if z, ok := t.zones[n]; ok {
			return z
		}
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return nil
		}
		n = n[i+1:]
	}
}

func hdr(owner string, rrtype uint16, ttl uint32) mdns.RR_Header {
	return mdns.RR_Header{Name: owner, Rrtype: rrtype, Class: mdns.ClassINET, Ttl: ttl}
}

// addrRR returns an A or AAAA record for ip.
func addrRR(owner string, ip netip.Addr, ttl uint32) mdns.RR {
	if ip.Is4() {
		return &mdns.A{Hdr: hdr(owner, mdns.TypeA, ttl), A: ip.AsSlice()}
	}
	return &mdns.AAAA{Hdr: hdr(owner, mdns.TypeAAAA, ttl), AAAA: ip.AsSlice()}
}

// fqdn turns a canonical config name into a lower-case absolute DNS name.
func fqdn(s string) string { return strings.ToLower(s) + "." }
