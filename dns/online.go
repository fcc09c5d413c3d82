package dns

import (
	"encoding/binary"
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
// bounded per zone, so that a flood of random names cannot turn the
// server into a signing oracle: over the budget, a UDP query gets an
// empty truncated answer (TC), which a real resolver retries over TCP,
// and a spoofed flood cannot; TCP queries are always signed.

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

// budget is a token bucket of signatures.
type budget struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
}

// take spends n signatures, false when the budget does not have them.
func (b *budget) take(now time.Time, n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rate == 0 {
		b.rate = DefaultSigningRate
	}
	if !b.last.IsZero() {
		b.tokens = min(b.rate, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	} else {
		b.tokens = b.rate
	}
	b.last = now
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}

// batchSignatures bounds the signatures one batch of UDP packets (up to
// batchSize, read by one recvmmsg) makes online: the reader signs on its
// own thread, and a legitimate query read in the batch of a flood of new
// names would otherwise wait for every one of them (about 60 µs each).
// Beyond it a query gets TC, as over the zone's budget, and asks again
// over TCP.
const batchSignatures = 2

// onlineAllowed spends one online signature of the zone's budget, and of
// the UDP batch's (q.signQuota); false, for UDP, when either is spent:
// the query is then answered with TC and counted. TCP is always signed.
func (s *signer) onlineAllowed(q *query, tcp bool, o *outcome) bool {
	if tcp {
		return true
	}
	if (q.signQuota == nil || *q.signQuota > 0) && s.spend.take(s.now(), 1) {
		if q.signQuota != nil {
			*q.signQuota--
		}
		return true
	}
	s.refused.Add(1)
	o.truncated = true
	return false
}

// onlineDenial answers a DO query for a name of zt that does not exist:
// NOERROR with the SOA and an NSEC at the name whose types are NXNAME,
// each signed (RFC 9824); NXDOMAIN when the query says it understands
// that (the CO flag). A query for the NSEC or RRSIG type gets that NSEC,
// or its signature. rcode NXDOMAIN without NSEC is for queries without DO.
func (h *Handler) onlineDenial(zt *zoneTable, out []byte, q *query, tcp bool, o *outcome) []byte {
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
		if !zt.static.signer.onlineAllowed(q, tcp, o) {
			return truncated(out, q, o.rcode, flagAA)
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
// then the chain it leads to, as for any CNAME; kept in the table, as the
// chain may end at a global service, whose records the Plan decides.
func (h *Handler) onlineWildcardChain(t *table, zt *zoneTable, w *node, out []byte, q *query, client netip.Addr, tcp bool, o *outcome) []byte {
	key := newOnlineKey(q, q.qtype)
	tm := zt.online.get(key)
	if tm == nil {
		if !zt.static.signer.onlineAllowed(q, tcp, o) {
			return truncated(out, q, rcodeOK, flagAA)
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
	if tm.tail != nil {
		return h.serviceAnswer(t, out, q, client, tm.tail, tm, o)
	}
	return finish(out, q, tm, tm.rcode, 0)
}

// onlineWildcard answers a DO query that the wildcard w answers: its
// records of the type, owned by the question name and signed as that
// name's own, so that no proof of the name's absence is needed (RFC 9824
// section 3.3); or a NODATA that denies the type at the name; or for the
// NSEC and RRSIG types, the name's NSEC or its signature.
func (h *Handler) onlineWildcard(zt *zoneTable, w *node, out []byte, q *query, tcp bool, o *outcome) []byte {
	key := newOnlineKey(q, q.qtype)
	if tm := zt.static.online.get(key); tm != nil {
		return finish(out, q, tm, rcodeOK, 0)
	}
	s := zt.static.signer
	if !s.onlineAllowed(q, tcp, o) {
		return truncated(out, q, rcodeOK, flagAA)
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
