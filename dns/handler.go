package dns

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-gtm/meridian/geo"
	"github.com/meridian-gtm/meridian/model"
)

// Locator tells where a client address is; *geo.DB is one.
type Locator interface {
	Lookup(ip netip.Addr) geo.Location
}

// Options are the handler's settings that come from the config.
type Options struct {
	// ChaosVersion and ChaosID answer version.bind/version.server and
	// id.server/hostname.bind in class CHAOS; empty: REFUSED.
	ChaosVersion, ChaosID string
	// NSID, when set, is the name server identifier (RFC 5001) sent to
	// queries that ask for it; at most MaxNSIDLen bytes.
	NSID []byte
	// Cookies turns DNS Cookies on (RFC 7873), with server cookies made as
	// RFC 9018 says. The first of CookieSecrets makes them and every one
	// validates them; replicas given the same secrets accept each other's
	// cookies. Without secrets, a random secret of this Handler is used.
	Cookies       bool
	CookieSecrets [][CookieSecretLen]byte
}

// MaxNSIDLen bounds the NSID so that a truncated answer, which carries the
// OPT record in full, always fits 512 bytes: 271 of header and question,
// 11 of OPT, 24 of client subnet and 28 of cookie leave 178.
const MaxNSIDLen = 128

// ednsOptions are the Options of the response's OPT record, compiled.
type ednsOptions struct {
	nsid    []byte
	cookies *cookieJar // nil: cookies off
}

// Handler answers DNS queries from the current answer table. Answer may be
// called from many goroutines at once; Publish and SetZones swap the table.
type Handler struct {
	locator Locator
	stats   *Stats
	table   atomic.Pointer[table]
	edns    atomic.Pointer[ednsOptions]
	// secret is the cookie secret when Options give none: random, and
	// the same for the Handler's life, so that a reload keeps cookies good.
	secret [CookieSecretLen]byte

	ready     chan struct{} // closed once the first table is served
	readyOnce sync.Once

	mu    sync.Mutex // serialises rebuilding the table
	zones *Zones
	plan  *model.Plan
	opts  Options
	err   error // of the last compile
}

// NewHandler returns a handler for zones that locates clients with
// locator. It answers REFUSED until the first Plan is published: without a
// Plan it cannot know any answer. stats may be nil.
func NewHandler(zones *Zones, locator Locator, opts Options, stats *Stats) *Handler {
	h := &Handler{locator: locator, zones: zones, opts: opts, stats: stats, ready: make(chan struct{})}
	crand.Read(h.secret[:]) // never fails (crypto/rand)
	if stats != nil {
		stats.mu.Lock()
		stats.signers = func() map[string]*signer { return h.Zones().signers() }
		stats.mu.Unlock()
	}
	h.edns.Store(h.ednsOptions(opts))
	return h
}

// ednsOptions compiles the Options of the response's OPT record.
func (h *Handler) ednsOptions(opts Options) *ednsOptions {
	e := &ednsOptions{}
	if len(opts.NSID) > 0 {
		e.nsid = opts.NSID[:min(len(opts.NSID), MaxNSIDLen)]
	}
	if opts.Cookies {
		secrets := opts.CookieSecrets
		if len(secrets) == 0 {
			secrets = [][CookieSecretLen]byte{h.secret}
		}
		e.cookies = newCookieJar(secrets)
	}
	return e
}

// Publish compiles plan into a new answer table and swaps it in. Should
// the table not compile, which LoadZones' checks are there to rule out,
// the running table keeps answering and Err reports why.
func (h *Handler) Publish(plan *model.Plan) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.publishLocked(plan, false)
}

// publishLocked compiles plan with the zones in use and serves it; h.mu
// is held. Only the services whose plans changed are compiled again
// (nextTable), unless full.
func (h *Handler) publishLocked(plan *model.Plan, full bool) {
	h.plan = plan
	t, err := h.nextTable(h.zones, plan, h.opts, full)
	h.err = err
	if err == nil {
		h.serve(t)
	}
}

// nextTable compiles the table for zones, plan and opts: from the table
// served when it can (table.reusable), compiling again only the services
// whose plans changed; else, or when full, from scratch. h.mu is held.
func (h *Handler) nextTable(zones *Zones, plan *model.Plan, opts Options, full bool) (*table, error) {
	if t := h.table.Load(); !full && t != nil && t.reusable(zones, plan, opts.ChaosVersion, opts.ChaosID) {
		return t.withPlan(plan)
	}
	return compile(zones, plan, opts.ChaosVersion, opts.ChaosID, h.stats)
}

// SetZones replaces the static zones (on reload) and the settings. When
// a Plan has been published, the table is compiled first; if that fails,
// nothing changes and the error says why.
func (h *Handler) SetZones(zones *Zones, opts Options) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.plan != nil {
		t, err := h.nextTable(zones, h.plan, opts, false)
		if err != nil {
			return err
		}
		h.serve(t)
	}
	h.edns.Store(h.ednsOptions(opts))
	h.zones, h.opts, h.err = zones, opts, nil
	return nil
}

// RefreshSignatures compiles the whole table again with the same Plan and
// zones, so that signatures within a week of expiry are made again: a
// Plan compiles again only the services it changed. The caller runs it
// every hour or so while a zone is signed (Zones.Signed).
func (h *Handler) RefreshSignatures() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.plan == nil {
		return nil
	}
	h.publishLocked(h.plan, true)
	if h.err == nil {
		for _, z := range h.zones.zones {
			z.online.reset() // its answers' signatures age with the zone version
		}
	}
	return h.err
}

// ReplaceZones is SetZones with the settings in use: for a new version
// of the zones that only their keys made (Zones.RefreshKeys).
func (h *Handler) ReplaceZones(zones *Zones) error {
	h.mu.Lock()
	opts := h.opts
	h.mu.Unlock()
	return h.SetZones(zones, opts)
}

// Err returns why the last Plan published could not be compiled, nil if it was.
func (h *Handler) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// Zones returns the static zones in use.
func (h *Handler) Zones() *Zones {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.zones
}

// serve swaps in t, the answers from now on.
func (h *Handler) serve(t *table) {
	h.table.Store(t)
	h.readyOnce.Do(func() { close(h.ready) })
}

// WaitReady returns nil once the first Plan's answers are served, or
// ctx's error if it ends first. Until then every query is REFUSED, so a
// NOTIFY sent earlier would have secondaries ask in vain and wait their
// retry interval.
func (h *Handler) WaitReady(ctx context.Context) error {
	select {
	case <-h.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ready reports whether a Plan has been published.
func (h *Handler) Ready() bool { return h.table.Load() != nil }

// outcome says what an answer was, for metrics and rate limiting.
type outcome struct {
	rcode     int
	qtype     uint16
	ecs       bool
	truncated bool
	transfer  bool // a zone transfer the caller must stream (TCP)
	// deferred is set, with no response, for a UDP query handed to its
	// socket's signing worker, which answers and counts it (signDefer).
	deferred bool
	// cookie is set when the query's server cookie was valid: the
	// client's address is proven, so rate limiting leaves it alone.
	cookie  bool
	zone    *zoneTable
	counter *atomic.Uint64 // the (service, cluster) that answered, if any
}

// Answer writes the response to the request req from client into out[:0]
// and returns it, or nil when the request deserves no answer. Over UDP
// (tcp false) the response is cut to the client's payload size with TC set.
// When the outcome is a transfer, the caller streams it (TCP only).
func (h *Handler) Answer(req, out []byte, client netip.Addr, tcp bool) ([]byte, outcome) {
	return h.answer(req, out, client, tcp, 0, signInline)
}

// answer is Answer at now, the Unix time in seconds (mod 2^32) that server
// cookies name: the server reads the clock once per batch of packets. With
// now 0 the clock is read when a cookie needs it. sign says how it may
// sign online (onlineAllowed).
func (h *Handler) answer(req, out []byte, client netip.Addr, tcp bool, now uint32, sign signMode) ([]byte, outcome) {
	var q query
	q.sign = sign
	switch q.parse(req) {
	case drop:
		return nil, outcome{rcode: -1}
	case badOpcode:
		return errorOnly(out, &q, notImp), outcome{rcode: notImp}
	case malformed:
		return errorOnly(out, &q, formErr), outcome{rcode: formErr}
	}
	o := outcome{qtype: q.qtype, ecs: q.ecs}
	if q.options != 0 {
		if ok := h.optOptions(&q, client, now, &o); !ok {
			return badCookieOption(out, &q), outcome{rcode: formErr}
		}
	}
	limit := 0xFFFF
	if !tcp {
		limit = minUDP
		if q.edns {
			limit = int(min(max(q.udpSize, minUDP), maxUDP))
		}
	}
	q.limit = limit
	var resp []byte
	switch t := h.table.Load(); {
	case q.edns && q.version != 0:
		o.rcode = badVers
		resp = appendOPT(append(appendHeader(out[:0], &q, 0, badVers, 0, 0, 1), q.question...), &q, badVers, 0)
	case t == nil:
		o.rcode = refused
		resp = finish(out, &q, nil, refused, 0)
	case q.qclass == classCH:
		resp = h.chaos(t, out, &q, &o)
	case q.qclass != classIN && q.qclass != classANY:
		o.rcode = refused
		resp = finish(out, &q, nil, refused, 0)
	default:
		resp = h.answerIN(t, out, &q, client, tcp, &o)
	}
	if len(resp) > limit {
		rcode, aa := codeOf(resp, &o)
		resp, o.truncated = truncated(out, &q, rcode, aa), true
	}
	if q.qclass == classANY && len(resp) > 2 {
		// An answer to class ANY is never authoritative (RFC 1034
		// section 3.7.1): other classes may hold more. NSD says so too.
		resp[2] &^= flagAA >> 8
	}
	return resp, o
}

// optOptions puts in q what the response's OPT record carries besides the
// client subnet: the NSID when the query asks for it, and with cookies on,
// the cookie (RFC 7873 section 5.2: a client cookie alone, or with a
// server cookie that is not valid, gets a fresh server cookie and a normal
// answer; a valid one is sent back, or a fresh one when it is old). It is
// false for a malformed COOKIE option, which is FORMERR. A query of an
// EDNS version other than 0 (BADVERS) gets the NSID but no cookie, as from
// Knot: its options are not ours to read.
func (h *Handler) optOptions(q *query, client netip.Addr, now uint32, o *outcome) bool {
	e := h.edns.Load()
	if q.options&hasNSID != 0 && e.nsid != nil {
		q.nsid = e
	}
	if q.options&hasCookie == 0 || e.cookies == nil || q.version != 0 {
		return true
	}
	if !cookieLenOK(len(q.cookie)) {
		return false
	}
	if now == 0 {
		now = uint32(time.Now().Unix())
	}
	o.cookie = e.cookies.respond(q, client, now)
	return true
}

// badCookieOption answers a malformed COOKIE option: FORMERR, as Knot
// answers it, with the question and an OPT record, so that the client does
// not take EDNS itself for unsupported (RFC 6891 section 7). Without the
// NSID, it is never bigger than the query.
func badCookieOption(out []byte, q *query) []byte {
	q.nsid = nil
	b := append(appendHeader(out[:0], q, 0, formErr, 0, 0, 1), q.question...)
	return appendOPT(b, q, formErr, 0)
}

// slip is what a rate-limited client gets instead of nothing now and then.
// A query with a cookie gets BADCOOKIE with a fresh server cookie, as BIND
// answers, so that a real client asks again over UDP with the cookie, which
// exempts it; others get the truncated answer (TC), so that a real client
// retries over TCP, where no limit applies.
//
// resp is the answer the limit withheld, whose rcode and AA bit the
// truncated one keeps; it may share out.
func (h *Handler) slip(req, out, resp []byte, client netip.Addr, now uint32, withheld *outcome) []byte {
	rcode, aa := codeOf(resp, withheld)
	var q query
	if q.parse(req) != parsed {
		return nil
	}
	var o outcome
	if q.options != 0 && !h.optOptions(&q, client, now, &o) {
		return nil
	}
	if q.respCookie == cookieNone {
		return truncated(out, &q, rcode, aa)
	}
	b := appendHeader(out[:0], &q, 0, badCookie, 0, 0, 1)
	b = append(b, q.question...)
	return appendOPT(b, &q, badCookie, 0)
}

// answerIN answers a class IN query.
func (h *Handler) answerIN(t *table, out []byte, q *query, client netip.Addr, tcp bool, o *outcome) []byte {
	name := q.wireName()
	var zt *zoneTable
	apex := 0 // index of the zone's first label in q.labels
	for i := 0; i < q.nLabels; i++ {
		z, ok := t.zones[string(name[q.labels[i]:])]
		if !ok {
			continue
		}
		if zt != nil {
			// The DS RRset of a zone served here lies in its parent: when
			// the parent is served here too and delegates the name, the
			// parent answers (RFC 4035 section 3.1.4.1).
			if _, cut := z.cuts[string(name)]; cut {
				zt, apex = z, i
			}
			break
		}
		zt, apex = z, i
		if i > 0 || q.qtype != typeDS {
			break
		}
	}
	if zt == nil {
		o.rcode = refused
		return finish(out, q, nil, refused, 0)
	}
	o.zone = zt
	if q.qtype == typeAXFR || q.qtype == typeIXFR {
		return h.transfer(zt, out, q, client, tcp, o)
	}
	if q.qtype == typeNXNAME { // a meta-type, never asked for (RFC 9824 section 3.5)
		o.rcode = formErr
		return finish(out, q, formErrAnswer, formErr, 0)
	}
	// A name at or below a zone cut gets a referral, except the parent's
	// own DS question at the cut.
	if len(zt.cuts) > 0 {
		for i := apex - 1; i >= 0; i-- {
			if ref, ok := zt.cuts[string(name[q.labels[i]:])]; ok {
				if i == 0 && q.qtype == typeDS {
					break
				}
				return finish(out, q, ref, rcodeOK, 0)
			}
		}
	}
	n := zt.nodes[string(name)]
	if n == nil {
		// RFC 4592: a wildcard may stand for the name. One label below
		// the apex, the apex is the closest encloser.
		if n = zt.apex.wildcard; apex > 1 {
			n = zt.wildcard(q, apex)
		}
		signed := q.do && zt.static.signer != nil
		switch {
		case n == nil && signed:
			return h.onlineDenial(zt, out, q, client, tcp, o)
		case n == nil:
			o.rcode = nxDomain
			return finish(out, q, zt.nxdomain, nxDomain, 0)
		case signed && n.cnameRR == nil:
			return h.onlineWildcard(zt, n, out, q, client, tcp, o)
		case signed:
			return h.onlineWildcardChain(t, zt, n, out, q, client, tcp, o)
		}
	}
	switch {
	// In a signed zone the NSEC type is the name's own, CNAME or not
	// (RFC 4035 section 2.5); RRSIG gets the NSEC's signature.
	case q.do && n.proofs != nil && (q.qtype == typeNSEC || q.qtype == typeRRSIG):
		return finish(out, q, n.proofs.answer(q.qtype), rcodeOK, 0)
	// ANY matches the CNAME itself: it is the answer, alone (RFC 1034
	// section 4.3.2 step 3a), as Knot and NSD answer.
	case n.cnameRR != nil && q.qtype != typeCNAME && q.qtype != typeANY:
		tm := n.cnameFor[q.qtype]
		if tm == nil {
			tm = n.cnameOther
		}
		o.rcode = tm.rcode
		if tm.tail != 0 {
			return h.serviceAnswer(t, out, q, client, t.service(tm.tail), tm, o)
		}
		return finish(out, q, tm, tm.rcode, 0)
	case n.svc != 0 && (q.qtype == typeA || q.qtype == typeAAAA || q.qtype == typeANY):
		return h.serviceAnswer(t, out, q, client, t.service(n.svc), nil, o)
	case n.svc != 0:
		return finish(out, q, n.nodataOr(zt), rcodeOK, 0)
	case q.qtype == typeANY && n.any != nil:
		return finish(out, q, n.any, rcodeOK, 0)
	}
	if tm := n.static[q.qtype]; tm != nil {
		return finish(out, q, tm, rcodeOK, 0)
	}
	return finish(out, q, n.nodataOr(zt), rcodeOK, 0)
}

// nodataOr is the NODATA answer at n: its own in a signed zone, whose
// signed form holds n's NSEC, else the zone's.
func (n *node) nodataOr(zt *zoneTable) *template {
	if n.nodata != nil {
		return n.nodata
	}
	return zt.nodata
}

// wildcard returns the node whose records answer for the question name,
// which does not exist in zt (apex is the index of zt's first label): the
// `*` child of the closest encloser, the longest suffix of the name that
// exists, or nil (RFC 4592 section 3.3.1). No name at or below a cut gets
// here; those got their referral. Only the names that would be NXDOMAIN
// pay for the walk: it stays out of answerIN (noinline), where inlined it
// made every answer some nanoseconds slower.
//
//go:noinline
func (zt *zoneTable) wildcard(q *query, apex int) *node {
	name := q.wireName()
	for i := 1; i < apex; i++ {
		if ce := zt.nodes[string(name[q.labels[i]:])]; ce != nil {
			return ce.wildcard
		}
	}
	return zt.apex.wildcard
}

// finish writes the header, the question, template tm (nil: none) and the
// OPT record. The rcode is tm's unless tm is nil.
func finish(out []byte, q *query, tm *template, rcode int, scope uint8) []byte {
	if q.do && tm != nil && tm.signed != nil {
		tm = tm.signed
	}
	var flags uint16
	var an, ns, ar uint16
	if tm != nil {
		rcode, an, ns, ar = tm.rcode, tm.an, tm.ns, tm.ar
		if tm.aa {
			flags |= flagAA
		}
	} else if rcode != refused {
		flags |= flagAA
	}
	b := appendHeader(out[:0], q, flags, rcode, an, ns, ar)
	b = append(b, q.question...)
	if tm != nil {
		b = appendTemplate(b, tm, q.nameLen)
	}
	if q.edns {
		b = appendOPT(b, q, rcode, scope)
		binary.BigEndian.PutUint16(b[10:], ar+1)
	}
	if len(b) > q.limit && tm != nil && len(tm.trim) > 0 {
		b = trimOptional(b, tm, headerLen+len(q.question), q.limit)
	}
	return b
}

// trimOptional cuts the optional additional records of tm out of the
// response b, whose body starts at start and is followed by the OPT
// record, if any: the fewest RRsets from the end that make b fit limit.
// When the body without any of them does not fit either, b is left whole
// for the caller to answer with TC.
func trimOptional(b []byte, tm *template, start, limit int) []byte {
	end := start + len(tm.body)
	after := len(b) - end
	for i := len(tm.trim) - 1; i >= 0; i-- {
		if cut := start + tm.trim[i].len; cut+after <= limit {
			copy(b[cut:], b[end:])
			binary.BigEndian.PutUint16(b[10:], binary.BigEndian.Uint16(b[10:])-(tm.ar-tm.trim[i].ar))
			return b[:cut+after]
		}
	}
	return b
}

// appendTemplate appends tm's body, pointing its compression pointers at
// the question name (which starts at offset 12 and is nameLen long).
func appendTemplate(b []byte, tm *template, nameLen int) []byte {
	start := len(b)
	b = append(b, tm.body...)
	for _, p := range tm.patches {
		binary.BigEndian.PutUint16(b[start+p.off:], uint16(0xC000|(headerLen+nameLen-p.suffix)))
	}
	return b
}

// serviceAnswer answers A, AAAA (or ANY, as A) for a global service: up
// to maxAnswers records drawn from the client's bucket in proportion to
// their shares. prefix, when set, is a CNAME chain that ends at the
// service; the service's records then name it in full.
func (h *Handler) serviceAnswer(t *table, out []byte, q *query, client netip.Addr, svc *service, prefix *template, o *outcome) []byte {
	cs := svc.a
	if q.qtype == typeAAAA {
		cs = svc.aaaa
	}
	// A family answered the same for every client has one bucket: it
	// needs no GeoIP lookup, and says so with scope 0.
	bucket, scope := 0, uint8(0)
	if len(cs) > 1 {
		var pl model.Placement
		pl, scope = h.locate(t, q, client, svc.ignoreECS)
		bucket = pl.Bucket
		if svc.mapped {
			bucket = svc.plan.RouteIndex(pl)
		}
	}
	var c *choices
	if bucket < len(cs) {
		c = &cs[bucket]
	}
	if c == nil || c.n() == 0 {
		if prefix != nil {
			return finish(out, q, prefix.tailNone, rcodeOK, scope)
		}
		nodata := svc.zone.nodata
		switch {
		case q.qtype == typeAAAA && svc.nodataAAAA != nil:
			nodata = svc.nodataAAAA
		case q.qtype != typeAAAA && svc.nodataA != nil:
			nodata = svc.nodataA
		}
		return finish(out, q, nodata, rcodeOK, scope)
	}
	k := min(svc.maxAnswers, c.n())
	var picked [64]int
	if k == c.n() {
		o.counter = c.counters[0]
	} else {
		for j := range k {
			picked[j] = c.draw(picked[:j])
		}
		o.counter = c.counters[picked[0]]
	}
	// With DO in a signed zone, the records are followed by the signature
	// of exactly the RRset given: precompiled for one record or all of
	// them, made on first use for other draws.
	var sig []byte
	if q.do && c.sigs != nil {
		switch {
		case k == c.n() && k > 1:
			sig = c.all
		case k == c.n():
			sig = c.sigs[0]
		case k == 1:
			sig = c.sigs[picked[0]]
		default:
			sig = c.subsetSig(svc.signer, svc.name, picked[:k])
		}
	}
	pre := prefix
	var an uint16
	if prefix != nil {
		if q.do && prefix.signed != nil {
			pre = prefix.signed
		}
		an = pre.an
	}
	if sig != nil {
		an += uint16(c.nsigs)
	}
	b := appendHeader(out[:0], q, flagAA, rcodeOK, an+uint16(k), 0, 0)
	b = append(b, q.question...)
	if pre != nil {
		b = appendTemplate(b, pre, q.nameLen)
	}
	appendOwned := func(b, rec []byte) []byte {
		if prefix != nil {
			return append(append(b, prefix.tailOwner...), rec[2:]...)
		}
		return append(b, rec...)
	}
	for j := range k {
		i := j
		if k < c.n() {
			i = picked[j]
		}
		b = appendOwned(b, c.rrs[i*c.size:(i+1)*c.size])
	}
	for len(sig) >= 12 { // nsigs records: owner pointer, type, class, TTL, RDLENGTH, RDATA
		n := 12 + int(binary.BigEndian.Uint16(sig[10:]))
		b = appendOwned(b, sig[:n])
		sig = sig[n:]
	}
	if q.edns {
		b = appendOPT(b, q, rcodeOK, scope)
		binary.BigEndian.PutUint16(b[10:], 1)
	}
	return b
}

// draw picks a record in proportion to its weight, other than those
// already picked.
func (c *choices) draw(picked []int) int {
	total := c.cum[len(c.cum)-1]
	for range 16 {
		r := rand.Uint64N(total)
		i, lo, hi := 0, 0, len(c.cum)
		for lo < hi { // the first cum above r
			mid := int(uint(lo+hi) >> 1)
			if c.cum[mid] > r {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		i = lo
		if !contains(picked, i) {
			return i
		}
	}
	for i := range c.cum { // heavy records already taken: the first left
		if !contains(picked, i) {
			return i
		}
	}
	return 0
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// locate returns the client's placement and the ECS scope to answer with:
// never wider than the narrowest input that decided, the prefix length of
// the GeoIP network or of the matching subnet-list entry (Placement.NetBits,
// which also keeps a GeoIP answer off any subnet of the list or of a map
// inside its network), and never more than the query's source prefix. The
// client subnet decides when the query has one (and the service does not
// ignore it); otherwise the resolver's address does.
func (h *Handler) locate(t *table, q *query, client netip.Addr, ignoreECS bool) (model.Placement, uint8) {
	ip, source := client, 0
	useECS := q.ecs && q.ecsSource > 0 && !ignoreECS
	if useECS {
		ip, source = q.ecsPrefix()
	}
	var pl model.Placement
	class, bits, ok := t.locs.get(ip)
	if ok {
		pl = t.classes.get(class)
	} else {
		loc := h.locator.Lookup(ip)
		bits = -1
		if loc.Network.IsValid() {
			bits = loc.Network.Bits()
		}
		pl = t.place(ip, loc)
		switch {
		case pl.Net >= 0:
			bits = pl.NetBits
		case t.byAddress:
			bits = max(bits, pl.NetBits)
		}
		pl.NetBits = 0 // now in bits: placements differ by what routes them
		if class, ok := t.classes.id(pl); ok {
			t.locs.put(ip, class, bits)
		}
	}
	var scope uint8
	if useECS && bits >= 0 {
		if ip.Is4In6() {
			bits += 96 // an IPv4 network, in the IPv6 option it came in
		}
		scope = uint8(min(bits, source))
	}
	return pl, scope
}

// place places a client address at a location. When the Plan has neither
// a subnet list nor a map the location alone decides, so the placement is
// cached per location (the nearest-site search runs once per location, not
// once per IPv6 query, which the address cache does not hold); otherwise
// the address and the country decide too, and IPv6 clients are placed per
// query (without allocating).
func (t *table) place(ip netip.Addr, loc geo.Location) model.Placement {
	if t.byAddress || t.byCountry {
		c := model.Client{Addr: ip, Location: loc.At}
		if t.byCountry {
			c.Country, c.Continent, c.Subdivision = loc.Country, loc.Continent, loc.Subdivision
		}
		return t.plan.Place(c)
	}
	pl := model.Placement{Bucket: len(t.plan.Sites), Net: -1, MapNet: -1}
	p, ok := loc.At.Point()
	if !ok {
		return pl
	}
	if b, ok := t.buckets.Load(p); ok {
		pl.Bucket = b.(int)
		return pl
	}
	pl.Bucket = t.plan.Place(model.Client{Location: loc.At}).Bucket
	t.buckets.Store(p, pl.Bucket)
	return pl
}

// chaos answers the CHAOS-class identity queries when configured.
func (h *Handler) chaos(t *table, out []byte, q *query, o *outcome) []byte {
	if tm := t.chaos[string(q.wireName())]; tm != nil && (q.qtype == typeTXT || q.qtype == typeANY) {
		return finish(out, q, tm, rcodeOK, 0)
	}
	o.rcode = refused
	return finish(out, q, nil, refused, 0)
}

// codeOf returns the rcode (extended, from o) and the AA bit of the
// response resp, read before a truncated answer overwrites it.
func codeOf(resp []byte, o *outcome) (int, uint16) {
	return int(resp[3]&0xF) | max(o.rcode, 0)&^0xF, binary.BigEndian.Uint16(resp[2:]) & flagAA
}

// errorOnly answers a request that cannot be parsed or served with just a
// header: nothing of the request is echoed, so the answer is never larger
// than the request, whatever it held.
func errorOnly(out []byte, q *query, rcode int) []byte {
	q.question = nil
	return appendHeader(out[:0], q, 0, rcode, 0, 0, 0)
}

// truncated is the answer that does not fit: TC set, the question and the
// OPT record only, so that the client asks again over TCP.
//
// rcode and aa (flagAA or 0) are those of the answer that did not fit: a
// referral stays without AA, a REFUSED stays REFUSED.
func truncated(out []byte, q *query, rcode int, aa uint16) []byte {
	b := appendHeader(out[:0], q, flagTC|aa, max(rcode, 0)&0xF, 0, 0, 0)
	b = append(b, q.question...)
	if q.edns {
		b = appendOPT(b, q, max(rcode, 0), 0)
		binary.BigEndian.PutUint16(b[10:], 1)
	}
	return b
}
