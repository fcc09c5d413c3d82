package dns

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// Online signing: what depends on the name a client asks, which no table
// can hold ahead of time, is signed when it is first asked: the denial of
// a name that does not exist (compact denial, RFC 9824) and a wildcard's
// records for the name they stand for. The answers are kept, a bounded
// number per zone version; and the signatures made per second are
// bounded per zone, and per client network within the zone's, so that a
// flood of random names cannot turn the server into a signing oracle nor
// take the budget of other networks: over its bound, a UDP query gets an
// empty truncated answer (TC), which a real resolver retries over TCP,
// and a spoofed flood cannot; TCP queries are always signed. A UDP
// reader never signs itself: it hands such a query to its socket's
// worker (worker_linux.go).

// maxOnlineAnswers bounds the answers kept per zone version: when full,
// it starts again.
const maxOnlineAnswers = 16384

// onlineAnswers holds a zone version's online answers, by question type
// and name (lower-case wire; type 0 for a denial, the same for every type).
type onlineAnswers struct {
	mu      sync.Mutex
	answers map[string]*template
}

// onlineKey is the type, then the name, in buf: a map lookup of it
// allocates nothing.
type onlineKey struct {
	buf [2 + 255]byte
	n   int
}

func newOnlineKey(q *query, qtype uint16) *onlineKey {
	var k onlineKey
	binary.BigEndian.PutUint16(k.buf[:], qtype)
	k.n = 2 + copy(k.buf[2:], q.wireName())
	return &k
}

func (k *onlineKey) name() string { return unwire(string(k.buf[2:k.n])) }

func (o *onlineAnswers) get(k *onlineKey) *template {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.answers[string(k.buf[:k.n])]
}

// reset forgets every answer, so that none is served with signatures
// older than the last refresh (RefreshSignatures).
func (o *onlineAnswers) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.answers = nil
}

func (o *onlineAnswers) put(k *onlineKey, tm *template) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.answers == nil || len(o.answers) >= maxOnlineAnswers {
		o.answers = map[string]*template{}
	}
	o.answers[string(k.buf[:k.n])] = tm
}

// DefaultSigningRate is the signatures per second a zone makes online at
// most: a denial signed online costs about 55-60 µs of CPU on the
// benchmark machine (33 µs of it the ECDSA P-256 signature), so this is
// about 0.6 of a core under a flood of new names (bench/RESULTS.md).
const DefaultSigningRate = 10000

// networkShare is the part of a zone's signing rate that one client
// network may take: a flood of new names from one network runs out of its
// share and is truncated, while the other networks are still signed. As
// in RRL, a network is the first 24 bits of an IPv4 address or the first
// 56 of an IPv6 one: its resolver's source addresses, not the client
// subnet it forwards.
const networkShare = 4 // a quarter

// netSlots is the number of per-network buckets: networks are hashed to
// one with a seed of the process, so the table is bounded whatever the
// sources of a flood, and which networks share a slot cannot be chosen.
const netSlots = 1024

var netSeed = maphash.MakeSeed()

// budget bounds the online signatures of a zone: a token bucket for the
// zone, and one per client network (slot), each with a networkShare of
// the zone's rate.
type budget struct {
	mu   sync.Mutex
	rate float64 // per second, also the burst; DefaultSigningRate when 0
	zone bucket
	nets [netSlots]bucket
}

type bucket struct {
	tokens float64
	last   int64 // Unix nanoseconds; 0: never used, full
}

// refill adds the tokens of the time since the bucket was last used, up to
// rate, and reports whether one is left.
func (b *bucket) refill(now int64, rate float64) bool {
	if b.last == 0 {
		b.tokens = rate
	} else {
		b.tokens = min(rate, b.tokens+float64(now-b.last)/1e9*rate)
	}
	b.last = now
	return b.tokens >= 1
}

// refusal says why a signature was refused: the metric's reason label.
type refusal uint8

const (
	notRefused   refusal = iota
	zoneSpent            // the zone's budget is spent
	networkSpent         // the client network's share is spent
	workerBusy           // the socket's signing worker has no room
	refusals
)

var refusalNames = [refusals]string{"", "zone", "network", "busy"}

// take spends one signature of the zone's budget and of the client's
// network's share, or says which was spent.
func (b *budget) take(now time.Time, client netip.Addr) refusal {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rate == 0 {
		b.rate = DefaultSigningRate
	}
	t := now.UnixNano()
	net := &b.nets[maphash.Comparable(netSeed, clientNetwork(client))%netSlots]
	switch {
	case !net.refill(t, b.rate/networkShare):
		return networkSpent
	case !b.zone.refill(t, b.rate):
		return zoneSpent
	}
	net.tokens--
	b.zone.tokens--
	return notRefused
}

// clientNetwork is the network of client whose signatures share a bucket.
func clientNetwork(client netip.Addr) netip.Prefix {
	bits := 56
	if client.Is4() || client.Is4In6() {
		client, bits = client.Unmap(), 24
	}
	p, _ := client.Prefix(bits)
	return p
}

// signMode says how the handler may sign online for a query.
type signMode uint8

const (
	// signInline signs on the caller's goroutine: TCP, which is never
	// bounded, and UDP where no worker takes queries (within the budget).
	signInline signMode = iota
	// signDefer is a UDP reader's query: a signature within the budget is
	// not made on the reader's thread, but the query is handed, unanswered
	// (outcome.deferred), to its socket's signing worker
	// (worker_linux.go), so that the queries read with it do not wait.
	signDefer
	// signBusy is a UDP reader's query when its worker has no room: a
	// query needing a signature gets TC.
	signBusy
	// signPaid is a deferred query answered by the worker: its signature
	// is already counted in the budget.
	signPaid
)

// onlineAllowed says whether the handler may now sign online for q from
// client. When it may not, the query is either deferred (o.deferred) or
// to be answered with TC (o.truncated), and counted.
func (s *signer) onlineAllowed(q *query, client netip.Addr, tcp bool, o *outcome) bool {
	if tcp || q.sign == signPaid {
		return true
	}
	why := workerBusy
	if q.sign != signBusy {
		why = s.spend.take(s.now(), client)
	}
	switch {
	case why == notRefused && q.sign == signDefer:
		o.deferred = true
		return false
	case why == notRefused:
		return true
	}
	s.refused[why].Add(1)
	o.truncated = true
	return false
}

// notSigned is the response to a query that may not sign now: none when it
// is deferred to a worker, else an empty answer with TC.
func notSigned(out []byte, q *query, o *outcome) []byte {
	if o.deferred {
		return nil
	}
	return truncated(out, q, o.rcode, flagAA)
}

// onlineDenial answers a DO query for a name of zt that does not exist:
// NOERROR with the SOA and an NSEC at the name whose types are NXNAME,
// each signed (RFC 9824); NXDOMAIN when the query says it understands
// that (the CO flag). A query for the NSEC or RRSIG type gets that NSEC,
// or its signature. rcode NXDOMAIN without NSEC is for queries without DO.
func (h *Handler) onlineDenial(zt *zoneTable, out []byte, q *query, client netip.Addr, tcp bool, o *outcome) []byte {
	o.rcode = rcodeOK
	if q.co {
		o.rcode = nxDomain
	}
	proof := q.qtype == typeNSEC || q.qtype == typeRRSIG
	key := newOnlineKey(q, 0)
	if proof {
		key = newOnlineKey(q, q.qtype)
	}
	tm := zt.static.online.get(key)
	if tm == nil {
		if !zt.static.signer.onlineAllowed(q, client, tcp, o) {
			return notSigned(out, q, o)
		}
		var err error
		if tm, err = zt.onlineDenialTemplate(key.name(), q.qtype, proof); err != nil {
			o.rcode = servFail
			return finish(out, q, nil, servFail, 0)
		}
		zt.static.online.put(key, tm)
	}
	if q.co && !proof {
		nx := *tm
		nx.rcode = nxDomain
		return finish(out, q, &nx, nxDomain, 0)
	}
	return finish(out, q, tm, rcodeOK, 0)
}

// onlineDenialTemplate is onlineDenial's answer, made.
func (zt *zoneTable) onlineDenialTemplate(name string, qtype uint16, proof bool) (*template, error) {
	if proof {
		p, err := zt.compileProofs(name, []uint16{typeNXNAME}, true)
		if err != nil {
			return nil, err
		}
		return p.answer(qtype).signed, nil
	}
	b := builder{fresh: true}
	if err := zt.addDenial(&b, name, []uint16{typeNXNAME}, atQName); err != nil {
		return nil, err
	}
	return b.template(rcodeOK, true).signed, nil
}

// onlineWildcardChain answers a DO query that the wildcard CNAME at w
// answers: the CNAME owned by the question name and signed as its own,
// then the chain it leads to, as for any CNAME; kept with the compiled
// zone (zoneTable.online), which the tables of its version share: a chain
// that ends at a global service names it, and the table of each Plan
// gives its records.
func (h *Handler) onlineWildcardChain(t *table, zt *zoneTable, w *node, out []byte, q *query, client netip.Addr, tcp bool, o *outcome) []byte {
	key := newOnlineKey(q, q.qtype)
	tm := zt.online.get(key)
	if tm == nil {
		if !zt.static.signer.onlineAllowed(q, client, tcp, o) {
			o.rcode = rcodeOK
			return notSigned(out, q, o)
		}
		qtype := q.qtype
		if w.cnameFor[qtype] == nil {
			qtype = 0 // a type the chain's end lacks
		}
		var err error
		if tm, err = t.chainAs(w, qtype, key.name()); err != nil {
			return finish(out, q, nil, servFail, 0)
		}
		zt.online.put(key, tm)
	}
	o.rcode = tm.rcode
	if tm.tail != 0 {
		return h.serviceAnswer(t, out, q, client, t.service(tm.tail), tm, o)
	}
	return finish(out, q, tm, tm.rcode, 0)
}

// onlineWildcard answers a DO query that the wildcard w answers: its
// records of the type, owned by the question name and signed as that
// name's own, so that no proof of the name's absence is needed (RFC 9824
// section 3.3); or a NODATA that denies the type at the name; or for the
// NSEC and RRSIG types, the name's NSEC or its signature.
func (h *Handler) onlineWildcard(zt *zoneTable, w *node, out []byte, q *query, client netip.Addr, tcp bool, o *outcome) []byte {
	key := newOnlineKey(q, q.qtype)
	if tm := zt.static.online.get(key); tm != nil {
		return finish(out, q, tm, rcodeOK, 0)
	}
	s := zt.static.signer
	if !s.onlineAllowed(q, client, tcp, o) {
		o.rcode = rcodeOK
		return notSigned(out, q, o)
	}
	name := key.name()
	typ := q.qtype
	if typ == typeANY && w.any != nil {
		typ = w.anyType
	}
	var tm *template
	var err error
	switch rrs := w.rrs[typ]; {
	case len(rrs) == 0 && (typ == typeNSEC || typ == typeRRSIG):
		var p *proofAnswers
		if p, err = zt.compileProofs(name, w.types(), true); err == nil {
			tm = p.answer(typ).signed
		}
	case len(rrs) > 0:
		b := builder{fresh: true}
		rrs = owned(rrs, name)
		err = b.addSet(0, rrs, atQName, s)
		if err == nil && (typ == mdns.TypeMX || typ == mdns.TypeSRV) {
			err = b.addOptional(zt.additional(rrs), s)
		}
		tm = b.template(rcodeOK, true).signed
	default:
		b := builder{fresh: true}
		err = zt.addDenial(&b, name, w.types(), atQName)
		tm = b.template(rcodeOK, true).signed
	}
	if err != nil || tm == nil {
		o.rcode = servFail
		return finish(out, q, nil, servFail, 0)
	}
	zt.static.online.put(key, tm)
	return finish(out, q, tm, rcodeOK, 0)
}
