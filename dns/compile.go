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

	"github.com/meridian-gtm/meridian/model"
)

// table is everything the fast path needs to answer, compiled from the
// static zones and one Plan when the Plan is published. It is immutable; a
// new Plan or reload builds a new table that replaces it atomically. A new
// Plan shares with the table before it the zones, compiled once per
// version of the zones, and the answers of every service whose plan it
// did not change (withPlan).
type table struct {
	plan   *model.Plan
	layout *layout               // what the tables of one version of the zones share
	zones  map[string]*zoneTable // by lower-case wire origin; the layout's
	chaos  map[string]*template  // version.bind and friends, by wire name
	// services holds the global services' answers for plan, by the
	// serviceID their nodes and chains name.
	services serviceSet
	// buckets caches the bucket of each client location seen, so that the
	// nearest-site search runs once per location, not once per query; only
	// while the Plan has no subnet list (see table.place).
	buckets sync.Map // model.Point -> int
	// locs caches, per client address, its placement (an index in
	// classes) and the width of the network it holds for.
	locs    locCache
	classes placements
	// byAddress: the Plan has a subnet list or map subnets, so a client's
	// address places it, not only its location; byCountry: some service
	// maps countries or continents.
	byAddress, byCountry bool
}

// placements interns the placements of client addresses, so that the
// address cache holds a 16-bit index instead of a Placement: there are
// few distinct ones (buckets times map inputs). Reading one is a load and
// an index; only a new one takes the lock and allocates.
type placements struct {
	mu   sync.Mutex
	ids  map[model.Placement]int
	list atomic.Pointer[[]model.Placement]
}

// id returns the index of pl, adding it when new; false when the table
// is full (the placement is then not cached).
func (c *placements) id(pl model.Placement) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.ids[pl]; ok {
		return i, true
	}
	var list []model.Placement
	if l := c.list.Load(); l != nil {
		list = *l
	}
	if len(list) > 0xffff {
		return 0, false
	}
	if c.ids == nil {
		c.ids = map[model.Placement]int{}
	}
	next := append(list[:len(list):len(list)], pl)
	c.ids[pl] = len(list)
	c.list.Store(&next)
	return len(list), true
}

// get returns placement i, which id returned.
func (c *placements) get(i int) model.Placement { return (*c.list.Load())[i] }

// zoneTable is one zone, compiled: the same for every Plan, as the
// services' answers, which the Plan decides, are the table's (a node
// names its service by serviceID).
type zoneTable struct {
	static *staticZone
	// online holds the answers signed online that the zone's table
	// compiles, not its version of the zone (staticZone.online): a
	// wildcard CNAME, which may lead into a global service (by serviceID).
	online   onlineAnswers
	queries  *atomic.Uint64 // the zone's query counter
	origin   []byte
	nodes    map[string]*node // by lower-case wire name, empty non-terminals included
	apex     *node            // nodes[origin], which always exists (its SOA)
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
	// svc is the global service at this name, if any (table.service).
	svc serviceID
	// nodata is the NODATA answer at this name in a signed zone, whose
	// signed form proves it with an NSEC; nil in an unsigned zone, which
	// answers with zoneTable.nodata. proofs answer DO queries for the NSEC
	// and RRSIG types there.
	nodata *template
	proofs *proofAnswers
	// wildcard is the node of the `*` label just below this one, if any:
	// it answers for the names below this one that do not exist (RFC 4592).
	// Its templates name the question as their owner, so they serve the
	// literal `*` name and every name it stands for alike.
	wildcard *node
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
	// records are drawn per query and appended to the answer. tailNone is
	// the answer when the client's bucket has no record of the type: the
	// chain and the SOA, so that it is cached as NODATA (RFC 2308 2.2).
	tail      serviceID
	tailOwner []byte
	tailNone  *template
	// trim lists the shorter bodies the template may be cut to when the
	// whole does not fit the client's payload size: the addresses of MX,
	// SRV and NS targets in the additional section are optional, and are
	// left out an RRset at a time from the end, without TC, as Knot and
	// NSD do. trim[0] is the body without any of them. Empty: the body is
	// needed whole (a referral's glue, RFC 9471), and TC says it did not fit.
	trim []trimPoint
	// signed is the answer to queries with the DO bit, when a signed zone
	// gave any of its records: the same with their RRSIGs, and for a
	// negative answer the NSEC that proves it.
	signed *template
}

// trimPoint is a length the body of a template may be cut to, and the
// number of additional records left in it.
type trimPoint struct {
	len int
	ar  uint16
}

// patch marks a 2-byte compression pointer in a template body that points
// at the suffix of the question name that is suffix bytes long. Records
// owned by the question name itself need none: their pointer is always
// to offset 12 (atQName).
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
	// plan is the service's plan, which picks a client's route
	// (ServicePlan.RouteIndex); nil when the Plan lacks the service.
	plan *model.ServicePlan
	// mapped: the service has a map, so a client's route is not always
	// its bucket's.
	mapped bool
	// signer signs the service's answers when its zone is signed; nodataA
	// and nodataAAAA are then the answers for a bucket without records of
	// the family, whose signed forms deny the type with an NSEC.
	signer              *signer
	nodataA, nodataAAAA *template
}

// choices are the records one bucket may get: each a fixed-size record
// with a pointer owner, drawn in proportion to cum's steps.
type choices struct {
	rrs  []byte // n records of size bytes each; bytes 0-1 are the owner pointer
	size int
	cum  []uint64 // cumulative weights; cum[n-1] is the total
	// counters count the answers each record leads, by (service, cluster).
	counters []*atomic.Uint64
	// In a signed zone: sigs[i] is the RRSIGs of record i alone, packed as
	// the records are (a pointer owner), nsigs of them (one per signing
	// key); all, those of every record, for answers that give them all;
	// subsets, those of other draws, made on first use.
	sigs    [][]byte
	nsigs   int
	all     []byte
	subsets *subsetSigs
}

// subsetSigs holds the signatures of the subsets of a bucket's records
// that answers drew, by their sorted indices; bounded, as the subsets of
// many records are many.
type subsetSigs struct {
	mu   sync.Mutex
	sigs map[string][]byte
}

// maxSubsetSigs bounds subsetSigs: when full, it starts again.
const maxSubsetSigs = 1024

// Weights are scaled to integers for drawing.
const shareScale = 1 << 32

// compile builds the table for zones and a Plan from scratch: every zone
// and every service (withPlan builds the next one from it). LoadZones
// packed every static record, so an error here is a bug, not bad input;
// the caller keeps the table it has.
func compile(zs *Zones, plan *model.Plan, chaosVersion, chaosID string, stats *Stats) (*table, error) {
	l := &layout{zones: zs, chaosVersion: chaosVersion, chaosID: chaosID, stats: stats, byFQDN: map[string][]serviceID{}}
	t := &table{plan: plan, layout: l, zones: map[string]*zoneTable{}, chaos: map[string]*template{}}
	t.placeBy(plan)
	if zs != nil {
		for _, z := range zs.zones {
			if z.signer != nil {
				z.signer.beginCompile()
				defer z.signer.sweep()
			}
		}
		for _, z := range zs.zones {
			zt, err := compileZone(z, l, stats)
			if err != nil {
				return nil, err
			}
			t.zones[string(wire(z.origin))] = zt
		}
	}
	svcs := make([]*service, len(l.slots))
	for i := range svcs {
		var err error
		if svcs[i], err = l.compileService(serviceID(i+1), plan); err != nil {
			return nil, err
		}
	}
	t.services = newServiceSet(svcs)
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

// placeBy sets what places a client for plan: its address, its country.
func (t *table) placeBy(plan *model.Plan) {
	if plan == nil {
		return
	}
	t.byAddress = len(plan.Nets) > 0 || len(plan.MapNets) > 0
	for _, sp := range plan.Services {
		t.byCountry = t.byCountry || len(sp.Map.Countries) > 0 || len(sp.Map.Continents) > 0 || len(sp.Map.Subdivisions) > 0
	}
}

// compileZone compiles z's static part, and gives each of its global
// services a slot in l, whose answers compile then compiles for a Plan.
func compileZone(z *staticZone, l *layout, stats *Stats) (*zoneTable, error) {
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
	sig := z.signer
	for name, sets := range rrsets {
		if ns := sets[mdns.TypeNS]; len(ns) > 0 && name != z.origin {
			ref, err := zt.referral(name, ns, rrsets)
			if err != nil {
				return nil, err
			}
			zt.cuts[string(wire(name))] = ref
		}
	}
	for name, sets := range rrsets {
		zt.node(name).rrs = sets
	}
	for name := range z.services {
		zt.node(name) // before any lookup, so that no wildcard stands for it
	}
	zt.apex = zt.nodes[string(zt.origin)]
	// Every name below the apex has a node for its parent (node), so a
	// wildcard's closest encloser is found by name.
	for key, n := range zt.nodes {
		if len(key) > 2 && key[0] == 1 && key[1] == '*' {
			if parent := zt.nodes[key[2:]]; parent != nil {
				parent.wildcard = n
			}
		}
	}
	for name, sets := range rrsets {
		n := zt.nodes[string(wire(name))]
		n.static = map[uint16]*template{}
		// A wildcard's templates answer for the `*` name itself; the names
		// it stands for are signed online (answerIN) as their own.
		nodeSig := sig
		for _, typ := range slices.Sorted(maps.Keys(sets)) {
			var b builder
			if err := b.addSet(0, sets[typ], atQName, nodeSig); err != nil {
				return nil, err
			}
			// The apex NS answer carries the name servers' addresses; an NS
			// below the apex is a cut, answered by its referral.
			if typ == mdns.TypeMX || typ == mdns.TypeSRV || (typ == mdns.TypeNS && name == z.origin) {
				if err := b.addOptional(zt.additional(sets[typ]), nodeSig); err != nil {
					return nil, err
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
	for _, name := range slices.Sorted(maps.Keys(z.services)) {
		zt.node(name).svc = l.addSlot(zt, name, z.services[name])
	}
	if sig != nil {
		if err := zt.compileSigned(); err != nil {
			return nil, err
		}
	}
	return zt, nil
}

// compileSigned compiles what a signed zone answers for names that exist:
// the NODATA with its NSEC, and the answers to the NSEC and RRSIG types.
func (zt *zoneTable) compileSigned() error {
	for key, n := range zt.nodes {
		types := n.types()
		if _, cut := zt.cuts[key]; cut {
			types = delegationTypes(n.rrs)
		}
		nd, err := zt.compileNodata(unwire(key), types)
		if err != nil {
			return err
		}
		n.nodata = nd
		if n.proofs, err = zt.compileProofs(unwire(key), types, false); err != nil {
			return err
		}
	}
	return nil
}

// types returns the types a node has, for its NSEC: its static records',
// or a global service's A and AAAA.
func (n *node) types() []uint16 {
	if n.svc != 0 {
		return []uint16{typeA, typeAAAA}
	}
	return slices.Sorted(maps.Keys(n.rrs))
}

// compileNodata compiles the NODATA answer at name, which exists: the SOA
// and, for DO queries, the compact-denial NSEC with its types (RFC 9824,
// as for any existing name) and the signatures.
func (zt *zoneTable) compileNodata(name string, types []uint16) (*template, error) {
	var b builder
	if err := zt.addDenial(&b, name, types, atQName); err != nil {
		return nil, err
	}
	return b.template(rcodeOK, true), nil
}

// proofAnswers are the answers to DO queries for the types NSEC and RRSIG
// at a name of a signed zone: the name's compact-denial NSEC with its
// signature, and that signature alone. Without them, a NODATA for NSEC
// would carry an NSEC that says the type is there.
type proofAnswers struct{ nsec, rrsig *template }

// formErrAnswer is FORMERR, without AA.
var formErrAnswer = &template{rcode: formErr}

func (p *proofAnswers) answer(qtype uint16) *template {
	if qtype == typeNSEC {
		return p.nsec
	}
	return p.rrsig
}

// compileProofs compiles the proofAnswers at name, which has types; fresh
// when name is one a client asked for that no table holds (online).
func (zt *zoneTable) compileProofs(name string, types []uint16, fresh bool) (*proofAnswers, error) {
	proof := []mdns.RR{nsec(name, zt.negativeSOA().Hdr.Ttl, types)}
	nsecAnswer, rrsigAnswer := builder{fresh: fresh}, builder{}
	sigs, err := nsecAnswer.sign(proof, zt.static.signer) // once, for both answers
	if err != nil {
		return nil, err
	}
	if err := nsecAnswer.addSigned(0, proof[0], atQName); err != nil {
		return nil, err
	}
	if err := nsecAnswer.addSigs(0, sigs, atQName); err != nil {
		return nil, err
	}
	if err := rrsigAnswer.addSigs(0, sigs, atQName); err != nil {
		return nil, err
	}
	return &proofAnswers{nsec: nsecAnswer.template(rcodeOK, true), rrsig: rrsigAnswer.template(rcodeOK, true)}, nil
}

// unwire is the presentation form of a wire name.
func unwire(w string) string {
	name, _, err := mdns.UnpackDomainName([]byte(w), 0)
	if err != nil {
		panic("dns: bad wire name")
	}
	return name
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

// additional returns the address RRsets (A, then AAAA) of the targets of
// MX, SRV and NS records that the zone answers with authority, for the
// additional section (RFC 1035 section 3.3.9, RFC 2782), one target once:
// each owned by the target, synthesised from a wildcard when that is where
// the target leads. As with Knot and NSD, a target in another zone gets
// nothing, even one Meridian serves, and so does one that is a CNAME or a
// global service, whose addresses depend on the client; as with NSD (Knot
// differs), so does one at or below a cut, whose addresses are the child's.
func (zt *zoneTable) additional(rrs []mdns.RR) [][]mdns.RR {
	var out [][]mdns.RR
	seen := map[string]bool{}
	for _, rr := range rrs {
		var target string
		switch r := rr.(type) {
		case *mdns.MX:
			target = r.Mx
		case *mdns.SRV:
			target = r.Target
		case *mdns.NS:
			target = r.Ns
		}
		if target == "." || seen[target] || !mdns.IsSubDomain(zt.static.origin, target) || zt.below(target) {
			continue
		}
		seen[target] = true
		n := zt.find(wire(target))
		if n == nil {
			continue
		}
		for _, typ := range []uint16{typeA, typeAAAA} {
			if set := n.rrs[typ]; len(set) > 0 {
				out = append(out, owned(set, target))
			}
		}
	}
	return out
}

// owned returns rrs with name as their owner: the records of a wildcard
// for a name it stands for. Records already owned by name are returned as
// they are.
func owned(rrs []mdns.RR, name string) []mdns.RR {
	if len(rrs) == 0 || rrs[0].Header().Name == name {
		return rrs
	}
	out := make([]mdns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = mdns.Copy(rr)
		out[i].Header().Name = name
	}
	return out
}

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
// the rcode is the last name's). A chain that leaves our zones stops at its
// last CNAME, for the resolver to follow; one that enters a delegation ends
// with the referral, as the search restarted at the target meets the cut
// (RFC 1034 4.3.2). A loop ends at the CNAME that closes it: each record
// once (RFC 2181 5).
func (t *table) chain(n *node, qtype uint16) (*template, error) {
	return t.chainAs(n, qtype, "")
}

// chainAs is chain for the question name owner, which the wildcard n
// stands for: its CNAME is signed as owner's own, online (answerIN).
// With owner "", the CNAME is signed as n's.
func (t *table) chainAs(n *node, qtype uint16, owner string) (*template, error) {
	var b builder
	var first *signer
	if zt, _ := t.lookupName(n.cnameRR.Hdr.Name); zt != nil {
		first = zt.static.signer
	}
	cname := []mdns.RR{n.cnameRR}
	if owner != "" {
		cname, b.fresh = owned(cname, owner), true
	}
	if err := b.addSet(0, cname, atQName, first); err != nil {
		return nil, err
	}
	b.fresh = false
	cur := n.cnameRR.Target
	seen := map[string]bool{canonicalName(n.cnameRR.Hdr.Name): true}
	for range maxChain {
		if seen[cur] {
			break
		}
		seen[cur] = true
		zt, next := t.lookupName(cur)
		var s *signer
		if zt != nil {
			s = zt.static.signer
		}
		// Records a wildcard gives cur are signed as cur's own: cur is
		// known here, and a signature of the wildcard would need a proof
		// that cur does not exist.
		switch {
		case zt == nil:
			return b.template(rcodeOK, true), nil
		case zt.cut(cur) != nil:
			err := zt.addReferral(&b, zt.cut(cur))
			return b.template(rcodeOK, true), err
		case next == nil:
			// Compact denial answers a name that does not exist as one
			// without the type, NOERROR with an NSEC of NXNAME (RFC 9824).
			if err := zt.addDenial(&b, cur, []uint16{typeNXNAME}, -1); err != nil {
				return nil, err
			}
			tm := b.template(nxDomain, true)
			if tm.signed != nil {
				tm.signed.rcode = rcodeOK
			}
			return tm, nil
		case next.cnameRR != nil:
			if err := b.addSet(0, owned([]mdns.RR{next.cnameRR}, cur), -1, s); err != nil {
				return nil, err
			}
			cur = next.cnameRR.Target
			continue
		case next.svc != 0 && (qtype == typeA || qtype == typeAAAA):
			tm := b.template(rcodeOK, true)
			tm.tail, tm.tailOwner = next.svc, wire(cur)
			other := uint16(typeAAAA)
			if qtype == typeAAAA {
				other = typeA
			}
			err := zt.addDenial(&b, cur, []uint16{other}, -1)
			tm.tailNone = b.template(rcodeOK, true)
			return tm, err
		case len(next.rrs[qtype]) > 0:
			rrs := owned(next.rrs[qtype], cur)
			if err := b.addSet(0, rrs, -1, s); err != nil {
				return nil, err
			}
			if qtype == mdns.TypeMX || qtype == mdns.TypeSRV || qtype == mdns.TypeNS {
				if err := b.addOptional(zt.additional(next.rrs[qtype]), s); err != nil {
					return nil, err
				}
			}
			return b.template(rcodeOK, true), nil
		default:
			err := zt.addDenial(&b, cur, next.types(), -1)
			return b.template(rcodeOK, true), err
		}
	}
	return b.template(rcodeOK, true), nil // a loop, or too long: what we have
}

// addDenial adds a negative answer's authority: the SOA, and in a signed
// zone its signature and the compact-denial NSEC at name with types, signed
// (RFC 9824), to the signed template; suffix is how the NSEC's owner is
// written (atQName when name is the question's, -1 in full).
func (zt *zoneTable) addDenial(b *builder, name string, types []uint16, suffix int) error {
	s := zt.static.signer
	neg := zt.negativeSOA()
	if err := b.addSet(1, []mdns.RR{neg}, -1, s); err != nil {
		return err
	}
	if s == nil {
		return nil
	}
	proof := nsec(name, neg.Hdr.Ttl, types)
	if err := b.addSigned(1, proof, suffix); err != nil {
		return err
	}
	return b.addSig(1, []mdns.RR{proof}, suffix, s)
}

// lookupName finds the zone holding name and its node there, or the
// wildcard that stands for it (nil when neither exists in that zone).
func (t *table) lookupName(name string) (*zoneTable, *node) {
	w := wire(name)
	for off := 0; off < len(w); off += int(w[off]) + 1 {
		if zt, ok := t.zones[string(w[off:])]; ok {
			return zt, zt.find(w)
		}
		if w[off] == 0 {
			break
		}
	}
	return nil, nil
}

// find returns the node of the wire name w, which lies in the zone, or
// when there is none the wildcard that stands for it: the `*` child of its
// closest encloser, the longest suffix of w that exists (RFC 4592 section
// 3.3.1); nil if that has no `*` child. Cuts are the caller's to check.
func (zt *zoneTable) find(w []byte) *node {
	if n := zt.nodes[string(w)]; n != nil {
		return n
	}
	for off := 0; len(w)-off > len(zt.origin); {
		off += int(w[off]) + 1
		if ce := zt.nodes[string(w[off:])]; ce != nil {
			return ce.wildcard
		}
	}
	return nil
}

// below reports whether name lies at or below one of the zone's cuts.
func (zt *zoneTable) below(name string) bool { return zt.cut(name) != nil }

// cut returns the node of the zone cut name lies at or below, nil if none.
func (zt *zoneTable) cut(name string) *node {
	w := wire(name)
	for off := 0; off < len(w)-len(zt.origin); off += int(w[off]) + 1 {
		if _, ok := zt.cuts[string(w[off:])]; ok {
			return zt.nodes[string(w[off:])]
		}
	}
	return nil
}

// addReferral adds the NS records of the cut at n to the authority
// section and their glue to the additional, whole, as a referral has them.
func (zt *zoneTable) addReferral(b *builder, n *node) error {
	for _, rr := range n.rrs[typeNS] {
		if err := b.add(1, rr, -1); err != nil {
			return err
		}
	}
	if err := zt.addDelegationProof(b, n.rrs, -1); err != nil {
		return err
	}
	for _, rr := range n.rrs[typeNS] {
		if host := zt.nodes[string(wire(rr.(*mdns.NS).Ns))]; host != nil {
			for _, g := range append(slices.Clone(host.rrs[typeA]), host.rrs[typeAAAA]...) {
				if err := b.add(2, g, -1); err != nil {
					return err
				}
			}
		}
	}
	return nil
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
// In a signed zone, the answer to DO queries proves what the parent says
// of the child: its DS RRset, signed, or an NSEC without DS, which makes
// the child insecure (RFC 4035 section 3.1.4).
func (zt *zoneTable) referral(cut string, ns []mdns.RR, rrsets map[string]map[uint16][]mdns.RR) (*template, error) {
	var b builder
	for _, rr := range ns {
		if err := b.add(1, rr, len(wire(cut))); err != nil {
			return nil, err
		}
	}
	if err := zt.addDelegationProof(&b, rrsets[cut], len(wire(cut))); err != nil {
		return nil, err
	}
	for _, g := range glue(ns, rrsets) {
		if err := b.add(2, g, -1); err != nil {
			return nil, err
		}
	}
	return b.template(rcodeOK, false), nil
}

// addDelegationProof adds, to the signed template of a referral, what the
// parent says of the child at a cut with records sets: its DS RRset, or an
// NSEC without DS, which makes the child insecure (RFC 4035 3.1.4); each
// signed, owned by the cut (suffix as builder.add takes it).
func (zt *zoneTable) addDelegationProof(b *builder, sets map[uint16][]mdns.RR, suffix int) error {
	s := zt.static.signer
	if s == nil {
		return nil
	}
	proof := sets[mdns.TypeDS]
	if len(proof) == 0 {
		cut := sets[mdns.TypeNS][0].Header().Name
		proof = []mdns.RR{nsec(cut, zt.negativeSOA().Hdr.Ttl, delegationTypes(sets))}
	}
	for _, rr := range proof {
		if err := b.addSigned(1, rr, suffix); err != nil {
			return err
		}
	}
	return b.addSig(1, proof, suffix, s)
}

// delegationTypes are the types of a cut's NSEC: NS, and DS when the
// parent has it; the rest at the name (glue) is the child's (RFC 4035
// section 2.3).
func delegationTypes(sets map[uint16][]mdns.RR) []uint16 {
	if len(sets[mdns.TypeDS]) > 0 {
		return []uint16{mdns.TypeNS, mdns.TypeDS}
	}
	return []uint16{mdns.TypeNS}
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
func compileService(name string, s ServiceConfig, plan *model.Plan, zt *zoneTable, stats *Stats) *service {
	svc := &service{name: name, ttl: s.TTL, maxAnswers: int(max(s.MaxAnswers, 1)), ignoreECS: s.IgnoreECS, zone: zt}
	sp, ok := plan.Service(s.FQDN)
	if !ok {
		svc.a, svc.aaaa = make([]choices, 1), make([]choices, 1)
		return svc
	}
	svc.plan, svc.mapped = sp, len(sp.Policy.Map) > 0
	buckets := len(sp.Routes)
	svc.a, svc.aaaa = make([]choices, buckets), make([]choices, buckets)
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

// signService signs every bucket's records: each alone, and all of them
// when an answer gives them all. Signatures are the signer's, made once
// per record content, so a new Plan signs only records that are new.
func signService(svc *service, owner string) error {
	s := svc.zone.static.signer
	if s == nil {
		return nil
	}
	svc.signer = s
	var err error
	if svc.nodataA, err = svc.zone.compileNodata(owner, []uint16{typeAAAA}); err != nil {
		return err
	}
	if svc.nodataAAAA, err = svc.zone.compileNodata(owner, []uint16{typeA}); err != nil {
		return err
	}
	for _, cs := range [][]choices{svc.a, svc.aaaa} {
		for i := range cs {
			c := &cs[i]
			c.sigs, c.nsigs = make([][]byte, c.n()), len(s.keys.zsks)
			for j := range c.n() {
				if c.sigs[j], err = c.sign(s, owner, j); err != nil {
					return err
				}
			}
			if n := c.n(); n > 1 && svc.maxAnswers >= n {
				if c.all, err = c.sign(s, owner, seq(n)...); err != nil {
					return err
				}
			}
			if n := c.n(); n > 2 && svc.maxAnswers > 1 && svc.maxAnswers < n {
				c.subsets = &subsetSigs{sigs: map[string][]byte{}}
			}
		}
	}
	return nil
}

// seq is 0, 1, ..., n-1.
func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// sign returns the packed RRSIG of the records picked, owned by owner and
// written with a pointer owner as the records are.
func (c *choices) sign(s *signer, owner string, picked ...int) ([]byte, error) {
	rrs := make([]mdns.RR, len(picked))
	for k, i := range picked {
		rec := c.rrs[i*c.size : (i+1)*c.size]
		ip, _ := netip.AddrFromSlice(rec[12:])
		rrs[k] = addrRR(owner, ip, binary.BigEndian.Uint32(rec[6:]))
	}
	sigs, err := s.sign(rrs)
	if err != nil {
		return nil, err
	}
	var b builder
	for _, sig := range sigs {
		if err := b.addOne(0, sig, atQName); err != nil {
			return nil, err
		}
	}
	return b.body, nil
}

// subsetSig returns the signature of the records picked (k of them), made
// and kept on first use.
func (c *choices) subsetSig(s *signer, owner string, picked []int) []byte {
	var sorted [64]int
	idx := sorted[:copy(sorted[:], picked)]
	slices.Sort(idx)
	var key [128]byte
	for k, i := range idx {
		binary.BigEndian.PutUint16(key[2*k:], uint16(i))
	}
	c.subsets.mu.Lock()
	sig, ok := c.subsets.sigs[string(key[:2*len(idx)])]
	c.subsets.mu.Unlock()
	if ok {
		return sig
	}
	sig, err := c.sign(s, owner, idx...)
	if err != nil {
		return nil
	}
	c.subsets.mu.Lock()
	if len(c.subsets.sigs) >= maxSubsetSigs {
		clear(c.subsets.sigs)
	}
	c.subsets.sigs[string(key[:2*len(idx)])] = sig
	c.subsets.mu.Unlock()
	return sig
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
	trim       []trimPoint
	an, ns, ar uint16
	// signed is the template for queries with the DO bit: the same
	// records with the RRSIGs of the signed zones' RRsets. It is made on
	// the first signature, from what was added so far; nil when none.
	signed *builder
	// fresh: the records below the apex are owned by a name a client
	// asked for (online signing), and are signed without keeping the
	// signature in the signer, which a flood of names would fill.
	fresh bool
}

// atQName, as add's suffix, writes the owner as a pointer to the whole
// question name, at offset 12 of every message: for records owned by the
// question name, a wildcard's included, whose own name differs.
const atQName = -2

// add packs rr into section (0 answer, 1 authority, 2 additional). With
// suffix >= 0 its owner is written as a pointer to the question name's
// suffix of that length; with atQName, as a pointer to the question name;
// with -1, in full. A record that does not pack is an error: LoadZones
// should have refused it.
func (b *builder) add(section int, rr mdns.RR, suffix int) error {
	if b.signed != nil {
		if err := b.signed.add(section, rr, suffix); err != nil {
			return err
		}
	}
	return b.addOne(section, rr, suffix)
}

// addSet adds an RRset, and when s is set (its zone is signed) its
// signature to the signed template, owned as the records are.
func (b *builder) addSet(section int, rrs []mdns.RR, suffix int, s *signer) error {
	for _, rr := range rrs {
		if err := b.add(section, rr, suffix); err != nil {
			return err
		}
	}
	return b.addSig(section, rrs, suffix, s)
}

// addSig adds the signature of rrs (added already) to the signed template.
func (b *builder) addSig(section int, rrs []mdns.RR, suffix int, s *signer) error {
	if s == nil || len(rrs) == 0 {
		return nil
	}
	sigs, err := b.sign(rrs, s)
	if err != nil {
		return err
	}
	return b.addSigs(section, sigs, suffix)
}

// sign signs rrs with s: fresh for a name a client asked for (b.fresh).
func (b *builder) sign(rrs []mdns.RR, s *signer) ([]*mdns.RRSIG, error) {
	sign := s.sign
	if b.fresh && !strings.EqualFold(rrs[0].Header().Name, s.origin) {
		sign = s.signFresh
	}
	sigs, err := sign(rrs)
	if err != nil {
		return nil, fmt.Errorf("dns: signing %s: %w", rrs[0].Header(), err)
	}
	return sigs, nil
}

// addSigs adds signatures to the signed template.
func (b *builder) addSigs(section int, sigs []*mdns.RRSIG, suffix int) error {
	for _, sig := range sigs {
		if err := b.twin().addOne(section, sig, suffix); err != nil {
			return err
		}
	}
	return nil
}

// twin returns the signed template under construction, made from what was
// added so far when there is none yet.
func (b *builder) twin() *builder {
	if b.signed == nil {
		b.signed = &builder{body: slices.Clone(b.body), patches: slices.Clone(b.patches), trim: slices.Clone(b.trim), an: b.an, ns: b.ns, ar: b.ar}
	}
	return b.signed
}

// addSigned adds rr to the signed template only: an NSEC or DS that
// proves what an unsigned answer needs not.
func (b *builder) addSigned(section int, rr mdns.RR, suffix int) error {
	return b.twin().addOne(section, rr, suffix)
}

// addOne packs one record into b alone.
func (b *builder) addOne(section int, rr mdns.RR, suffix int) error {
	buf := make([]byte, mdns.Len(rr)+256)
	n, err := packRR(rr, buf)
	if err != nil {
		return fmt.Errorf("dns: packing %s: %w", rr, err)
	}
	rec := buf[:n]
	if suffix == atQName {
		b.body = append(b.body, 0xC0, headerLen)
		rec = rec[len(wire(rr.Header().Name)):]
	} else if suffix >= 0 {
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

// addOptional adds RRsets to the additional section that the answer may
// go without, marking before each where the body may be cut (trim).
func (b *builder) addOptional(sets [][]mdns.RR, s *signer) error {
	for _, set := range sets {
		b.trim = append(b.trim, trimPoint{len: len(b.body), ar: b.ar})
		if b.signed != nil {
			b.signed.trim = append(b.signed.trim, trimPoint{len: len(b.signed.body), ar: b.signed.ar})
		}
		if err := b.addSet(2, set, -1, s); err != nil {
			return err
		}
	}
	return nil
}

// template returns what was added so far; the builder may go on adding
// for a longer template.
func (b *builder) template(rcode int, aa bool) *template {
	tm := &template{rcode: rcode, aa: aa, an: b.an, ns: b.ns, ar: b.ar,
		body: slices.Clip(b.body), patches: slices.Clip(b.patches), trim: slices.Clip(b.trim)}
	if b.signed != nil {
		tm.signed = b.signed.template(rcode, aa)
	}
	return tm
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
