package dns

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/model"
)

// table is everything the fast path needs to answer, compiled from the
// static zones and one Plan when the Plan is published. It is immutable; a
// new Plan or reload builds a new table that replaces it atomically.
type table struct {
	plan  *model.Plan
	zones map[string]*zoneTable // by lower-case wire origin
	chaos map[string]*template  // version.bind and friends, by wire name
	// buckets caches the bucket of each client location seen, so that the
	// nearest-site search runs once per location, not once per query.
	buckets sync.Map // model.Point -> int
	// locs caches the bucket and GeoIP network of client addresses.
	locs locCache
}

// zoneTable is one zone, compiled.
type zoneTable struct {
	static   *staticZone
	queries  *atomic.Uint64 // the zone's query counter
	origin   []byte
	nodes    map[string]*node // by lower-case wire name, empty non-terminals included
	cuts     map[string]*template
	nxdomain *template // NXDOMAIN with the SOA
	nodata   *template // NOERROR, no answer, with the SOA
}

// node is one owner name of a zone.
type node struct {
	rrs    map[uint16][]mdns.RR // the static records, kept for compiling chains
	static map[uint16]*template // answers to static types
	// any is the minimal answer to ANY (RFC 8482): one RRset, of anyType.
	any     *template
	anyType uint16
	// When a CNAME stands here, it answers the other types: chains are
	// followed inside our zones for the types the chain's end has
	// (cnameFor), and cnameOther answers the rest.
	cnameRR    *mdns.CNAME
	cnameFor   map[uint16]*template
	cnameOther *template
	service    *service
}

// template is a precompiled response body: the records after the question,
// with compression pointers to the question name patched per query, since
// the question's length differs for names below a zone cut or NXDOMAIN.
type template struct {
	rcode      int
	aa         bool
	an, ns, ar uint16
	body       []byte
	patches    []patch
	// tail, when set, is a global service a CNAME chain ends at; its
	// records are drawn per query and appended to the answer.
	tail      *service
	tailOwner []byte
}

// patch marks a 2-byte compression pointer in a template body that points
// at the suffix of the question name that is suffix bytes long.
type patch struct {
	off    int
	suffix int
}

// service is a global service's answers: per bucket of clients, per address
// family, the records of the targets with traffic and their shares.
type service struct {
	name       string
	ttl        uint32
	maxAnswers int
	ignoreECS  bool
	// a and aaaa hold the choices per bucket, or for a family whose every
	// bucket has the same choices (one cluster, policy all or weighted, no
	// address of the family at all), those of one bucket: the answer does
	// not depend on the client, so it is given without locating the
	// client, with ECS scope 0 (RFC 7871 section 7.2.1).
	a, aaaa []choices
	zone    *zoneTable
}

// choices are the records one bucket may get: each a fixed-size record
// with a pointer owner, drawn in proportion to cum's steps.
type choices struct {
	rrs  []byte // n records of size bytes each; bytes 0-1 are the owner pointer
	size int
	cum  []uint64 // cumulative weights; cum[n-1] is the total
	// counters count the answers each record leads, by (service, cluster).
	counters []*atomic.Uint64
}

// Weights are scaled to integers for drawing.
const shareScale = 1 << 32

// compile builds the table for zones and a Plan. LoadZones packed every
// static record, so an error here is a bug, not bad input; the caller keeps
// the table it has.
func compile(zs *Zones, plan *model.Plan, chaosVersion, chaosID string, stats *Stats) (*table, error) {
	t := &table{plan: plan, zones: map[string]*zoneTable{}, chaos: map[string]*template{}}
	if zs != nil {
		for _, z := range zs.zones {
			zt, err := compileZone(z, plan, stats)
			if err != nil {
				return nil, err
			}
			t.zones[string(wire(z.origin))] = zt
		}
	}
	for _, zt := range t.zones {
		for _, n := range zt.nodes {
			if n.cnameRR != nil {
				if err := t.compileChains(n); err != nil {
					return nil, err
				}
			}
		}
	}
	for name, text := range map[string]string{"version.bind.": chaosVersion, "version.server.": chaosVersion,
		"id.server.": chaosID, "hostname.bind.": chaosID} {
		if text == "" {
			continue
		}
		// miekg/dns reads backslash escapes in TXT strings; the config's text is literal.
		rr := &mdns.TXT{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeTXT, Class: mdns.ClassCHAOS},
			Txt: []string{strings.ReplaceAll(text, `\`, `\\`)}}
		var b builder
		if err := b.add(0, rr, len(wire(name))); err != nil {
			return nil, fmt.Errorf("dns: chaos: %w", err)
		}
		t.chaos[string(wire(name))] = b.template(rcodeOK, true)
	}
	return t, nil
}

func compileZone(z *staticZone, plan *model.Plan, stats *Stats) (*zoneTable, error) {
	zt := &zoneTable{static: z, origin: wire(z.origin), nodes: map[string]*node{}, cuts: map[string]*template{},
		queries: stats.zone(strings.TrimSuffix(z.origin, "."))}
	var b builder
	if err := b.add(1, zt.negativeSOA(), len(zt.origin)); err != nil {
		return nil, err
	}
	zt.nxdomain = b.template(nxDomain, true)
	nodata := *zt.nxdomain // the same body; templates are never changed
	nodata.rcode = rcodeOK
	zt.nodata = &nodata

	// Group the static records by owner and type.
	rrsets := map[string]map[uint16][]mdns.RR{}
	for _, rr := range append([]mdns.RR{z.soa}, z.rrs...) {
		name := rr.Header().Name
		if rrsets[name] == nil {
			rrsets[name] = map[uint16][]mdns.RR{}
		}
		rrsets[name][rr.Header().Rrtype] = append(rrsets[name][rr.Header().Rrtype], rr)
	}
	// NS records below the apex delegate the name: a zone cut.
	for name, sets := range rrsets {
		if ns := sets[mdns.TypeNS]; len(ns) > 0 && name != z.origin {
			ref, err := referral(name, ns, rrsets)
			if err != nil {
				return nil, err
			}
			zt.cuts[string(wire(name))] = ref
		}
	}
	for name, sets := range rrsets {
		n := zt.node(name)
		n.rrs = sets
		n.static = map[uint16]*template{}
		for _, typ := range slices.Sorted(maps.Keys(sets)) {
			var b builder
			for _, rr := range sets[typ] {
				if err := b.add(0, rr, len(wire(name))); err != nil {
					return nil, err
				}
			}
			if name == z.origin && typ == mdns.TypeNS {
				for _, g := range glue(sets[typ], rrsets) {
					if err := b.add(2, g, -1); err != nil {
						return nil, err
					}
				}
			}
			n.static[typ] = b.template(rcodeOK, true)
			if n.any == nil || anyRank(typ) < anyRank(n.anyType) {
				n.any, n.anyType = n.static[typ], typ
			}
		}
		if cn := sets[mdns.TypeCNAME]; len(cn) > 0 {
			n.cnameRR = cn[0].(*mdns.CNAME)
		}
	}
	for name, s := range z.services {
		zt.node(name).service = compileService(name, s, plan, zt, stats)
	}
	return zt, nil
}

// anyRank orders the RRsets an ANY query may get: the first present wins.
func anyRank(typ uint16) int {
	if i := slices.Index([]uint16{typeSOA, typeNS, typeCNAME, typeA, typeAAAA}, typ); i >= 0 {
		return i
	}
	return 5 + int(typ)
}

// negativeSOA is the SOA for negative answers, its TTL min(TTL, MINIMUM)
// as RFC 2308 asks.
func (zt *zoneTable) negativeSOA() *mdns.SOA {
	neg := *zt.static.soa
	neg.Hdr.Ttl = min(neg.Hdr.Ttl, neg.Minttl)
	return &neg
}

// maxChain bounds how many CNAMEs a chain may follow.
const maxChain = 8

// compileChains precompiles the answers of a CNAME node: one per type the
// chain's end has (and A and AAAA, for services), and one for other types.
func (t *table) compileChains(n *node) error {
	n.cnameFor = map[uint16]*template{}
	types := map[uint16]bool{typeA: true, typeAAAA: true}
	cur := n.cnameRR.Target
	for range maxChain {
		_, end := t.lookupName(cur)
		if end == nil || end.cnameRR == nil {
			if end != nil {
				for typ := range end.rrs {
					types[typ] = true
				}
			}
			break
		}
		cur = end.cnameRR.Target
	}
	var err error
	for typ := range types {
		if n.cnameFor[typ], err = t.chain(n, typ); err != nil {
			return err
		}
	}
	n.cnameOther, err = t.chain(n, 0)
	return err
}

// chain follows the CNAME at n for qtype (0: a type no name has) and
// compiles the answer: the CNAMEs, then the records, the global service, or
// the negative answer of where the chain ends inside our zones (RFC 6604:
// the rcode is the last name's). A chain that leaves our zones or enters a
// delegation stops at its last CNAME, for the resolver to follow.
func (t *table) chain(n *node, qtype uint16) (*template, error) {
	var b builder
	if err := b.add(0, n.cnameRR, len(wire(n.cnameRR.Hdr.Name))); err != nil {
		return nil, err
	}
	cur := n.cnameRR.Target
	for range maxChain {
		zt, next := t.lookupName(cur)
		var err error
		switch {
		case zt == nil || zt.below(cur):
			return b.template(rcodeOK, true), nil
		case next == nil:
			err = b.add(1, zt.negativeSOA(), -1)
			return b.template(nxDomain, true), err
		case next.cnameRR != nil:
			if err := b.add(0, next.cnameRR, -1); err != nil {
				return nil, err
			}
			cur = next.cnameRR.Target
			continue
		case next.service != nil && (qtype == typeA || qtype == typeAAAA):
			tm := b.template(rcodeOK, true)
			tm.tail, tm.tailOwner = next.service, wire(cur)
			return tm, nil
		case len(next.rrs[qtype]) > 0:
			for _, rr := range next.rrs[qtype] {
				if err := b.add(0, rr, -1); err != nil {
					return nil, err
				}
			}
			return b.template(rcodeOK, true), nil
		default:
			err = b.add(1, zt.negativeSOA(), -1)
			return b.template(rcodeOK, true), err
		}
	}
	return b.template(rcodeOK, true), nil // a loop, or too long: what we have
}

// lookupName finds the zone holding name and its node there (nil when the
// name does not exist in that zone).
func (t *table) lookupName(name string) (*zoneTable, *node) {
	w := wire(name)
	for off := 0; off < len(w); off += int(w[off]) + 1 {
		if zt, ok := t.zones[string(w[off:])]; ok {
			return zt, zt.nodes[string(w)]
		}
		if w[off] == 0 {
			break
		}
	}
	return nil, nil
}

// below reports whether name lies at or below one of the zone's cuts.
func (zt *zoneTable) below(name string) bool {
	w := wire(name)
	for off := 0; off < len(w)-len(zt.origin); off += int(w[off]) + 1 {
		if _, ok := zt.cuts[string(w[off:])]; ok {
			return true
		}
	}
	return false
}

// node returns the node of name, creating it and the empty non-terminals
// between it and the apex, so that they answer NODATA rather than NXDOMAIN.
func (zt *zoneTable) node(name string) *node {
	key := string(wire(name))
	if n, ok := zt.nodes[key]; ok {
		return n
	}
	n := &node{}
	zt.nodes[key] = n
	// Walk up label by label in wire form, where an escaped dot inside a
	// label (a\.b) is no label boundary. name lies in the zone (LoadZones).
	for off := 0; len(key)-off > len(zt.origin); {
		off += int(key[off]) + 1
		k := key[off:]
		if _, ok := zt.nodes[k]; ok {
			break
		}
		zt.nodes[k] = &node{}
	}
	return n
}

// referral is the answer for names at or below a zone cut: the cut's NS
// records in the authority section, glue in the additional, without AA.
func referral(cut string, ns []mdns.RR, rrsets map[string]map[uint16][]mdns.RR) (*template, error) {
	var b builder
	for _, rr := range ns {
		if err := b.add(1, rr, len(wire(cut))); err != nil {
			return nil, err
		}
	}
	for _, g := range glue(ns, rrsets) {
		if err := b.add(2, g, -1); err != nil {
			return nil, err
		}
	}
	return b.template(rcodeOK, false), nil
}

// glue returns the addresses of the name servers of ns that the zone holds.
func glue(ns []mdns.RR, rrsets map[string]map[uint16][]mdns.RR) []mdns.RR {
	var out []mdns.RR
	for _, rr := range ns {
		host := rr.(*mdns.NS).Ns
		out = append(out, rrsets[host][mdns.TypeA]...)
		out = append(out, rrsets[host][mdns.TypeAAAA]...)
	}
	return out
}

// compileService turns a service's routes into choices per bucket.
func compileService(name string, s config.Service, plan *model.Plan, zt *zoneTable, stats *Stats) *service {
	svc := &service{name: name, ttl: s.TTL, maxAnswers: int(max(s.MaxAnswers, 1)), ignoreECS: s.IgnoreECS, zone: zt}
	sp, ok := plan.Service(s.FQDN)
	buckets := len(plan.Sites) + 1
	svc.a, svc.aaaa = make([]choices, buckets), make([]choices, buckets)
	if !ok {
		svc.a, svc.aaaa = svc.a[:1:1], svc.aaaa[:1:1]
		return svc
	}
	for b := range buckets {
		r := sp.Route(b)
		for _, sh := range r.Shares {
			ip := sp.Targets[sh.Target].Address
			c := &svc.aaaa[b]
			if ip.Is4() {
				c = &svc.a[b]
			}
			c.add(ip, s.TTL, sh.Fraction)
			c.counters = append(c.counters, stats.answers(s.FQDN, sp.ClusterOf(sh.Target)))
		}
	}
	for _, cs := range []*[]choices{&svc.a, &svc.aaaa} {
		if uniform(*cs) {
			*cs = (*cs)[:1:1]
		}
	}
	return svc
}

// uniform reports whether every bucket has the same choices: the same
// records with the same weights. (Their counters are those of the same
// clusters, but without Stats each is a counter of its own.)
func uniform(cs []choices) bool {
	for i := 1; i < len(cs); i++ {
		if !bytes.Equal(cs[i].rrs, cs[0].rrs) || !slices.Equal(cs[i].cum, cs[0].cum) {
			return false
		}
	}
	return true
}

// add appends one address record with a pointer owner and its weight.
func (c *choices) add(ip netip.Addr, ttl uint32, share float64) {
	rec := []byte{0xC0, headerLen}
	typ := uint16(typeA)
	if ip.Is6() {
		typ = typeAAAA
	}
	rec = binary.BigEndian.AppendUint16(rec, typ)
	rec = binary.BigEndian.AppendUint16(rec, classIN)
	rec = binary.BigEndian.AppendUint32(rec, ttl)
	raw := ip.AsSlice()
	rec = binary.BigEndian.AppendUint16(rec, uint16(len(raw)))
	rec = append(rec, raw...)
	c.size = len(rec)
	c.rrs = append(c.rrs, rec...)
	w := uint64(share * shareScale)
	if w == 0 {
		w = 1
	}
	prev := uint64(0)
	if n := len(c.cum); n > 0 {
		prev = c.cum[n-1]
	}
	c.cum = append(c.cum, prev+w)
}

func (c *choices) n() int { return len(c.cum) }

// builder assembles a template from records, packed with miekg/dns.
type builder struct {
	body       []byte
	patches    []patch
	an, ns, ar uint16
}

// add packs rr into section (0 answer, 1 authority, 2 additional). With
// suffix >= 0 its owner is written as a pointer to the question name's
// suffix of that length; with -1, in full. A record that does not pack is
// an error: LoadZones should have refused it.
func (b *builder) add(section int, rr mdns.RR, suffix int) error {
	buf := make([]byte, mdns.Len(rr)+256)
	n, err := mdns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return fmt.Errorf("dns: packing %s: %w", rr, err)
	}
	rec := buf[:n]
	if suffix >= 0 {
		ownerLen := len(wire(rr.Header().Name))
		b.patches = append(b.patches, patch{off: len(b.body), suffix: suffix})
		b.body = append(b.body, 0xC0, 0)
		rec = rec[ownerLen:]
	}
	b.body = append(b.body, rec...)
	switch section {
	case 0:
		b.an++
	case 1:
		b.ns++
	default:
		b.ar++
	}
	return nil
}

func (b *builder) template(rcode int, aa bool) *template {
	return &template{rcode: rcode, aa: aa, an: b.an, ns: b.ns, ar: b.ar, body: b.body, patches: b.patches}
}

// wire returns a domain name in lower-case wire format, lowered after
// packing as queries are (parseName), so that an escaped letter (\087 is W)
// matches too. Names reach it from the config, whose names are checked,
// and from records LoadZones has packed, so it cannot fail on user data.
func wire(name string) []byte {
	buf := make([]byte, 256)
	n, err := mdns.PackDomainName(mdns.Fqdn(name), buf, 0, nil, false)
	if err != nil {
		panic("dns: bad name " + name)
	}
	b := buf[:n]
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A' // a length octet is at most 63, below 'A'
		}
	}
	return b
}

// fqdn turns a canonical config name into a lower-case absolute DNS name.
func fqdn(s string) string { return strings.ToLower(s) + "." }

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
