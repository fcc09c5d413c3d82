package dns

import (
	"bytes"
	"encoding/binary"
	"hash/fnv"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// Signature timing. A signature is valid for sigValidity plus up to
// sigJitter, so that those made together do not all expire together; its
// inception is backdated for resolvers whose clock is behind; and it is
// made again once less than sigRefresh of it is left, which leaves a
// week to notice that signing stopped, as Knot's defaults do.
const (
	sigValidity = 14 * 24 * time.Hour
	sigJitter   = 24 * time.Hour
	sigRefresh  = 7 * 24 * time.Hour
	sigBackdate = time.Hour
)

// signer signs a zone's RRsets with its keys and remembers each
// signature, so that an RRset compiled again for the next Plan, or asked
// again online, is signed again only when its signature nears expiry.
// It is shared by the tables of every Plan while the keys stay the same.
type signer struct {
	origin string // lower case, final dot
	keys   zoneKeys
	now    func() time.Time

	mu   sync.Mutex
	sigs map[string]*cachedSig // by canonical RRset (rrsetKey)
	gen  uint64                // the compile in progress, for sweep
	live int                   // the signatures the last sweep's compile used

	made    atomic.Uint64           // signatures made
	refused [refusals]atomic.Uint64 // online signatures refused, by why
	spend   budget                  // of online signatures
	// corrupt flips a byte of every signature made from now on: a test
	// hook, to show that validators reject what they should.
	corrupt atomic.Bool
}

type cachedSig struct {
	sigs []*mdns.RRSIG // one per signing key
	gen  uint64        // the last compile that used it
}

func newSigner(origin string, keys zoneKeys) *signer {
	return &signer{origin: origin, keys: keys, now: time.Now, sigs: map[string]*cachedSig{}}
}

// apexKeys returns the zone's DNSKEY RRset, and the CDS and CDNSKEY RRsets
// of its key-signing key (RFC 7344, RFC 8078), with which a parent that
// scans for them can keep its DS in step.
func (s *signer) apexKeys(ttl uint32) []mdns.RR {
	out := s.dnskeys(ttl)
	for _, k := range s.keys.ksks {
		ksk := *k.dnskey
		ksk.Hdr = mdns.RR_Header{Name: s.origin, Rrtype: mdns.TypeDNSKEY, Class: mdns.ClassINET, Ttl: ttl}
		cds := ksk.ToDS(mdns.SHA256).ToCDS()
		cds.Hdr.Ttl = ttl
		cdnskey := ksk.ToCDNSKEY()
		cdnskey.Hdr.Ttl = ttl
		out = append(out, cds, cdnskey)
	}
	return out
}

// dnskeys returns the zone's DNSKEY RRset: the keys it publishes.
func (s *signer) dnskeys(ttl uint32) []mdns.RR {
	var out []mdns.RR
	for _, k := range s.keys.published {
		if slices.ContainsFunc(out, func(rr mdns.RR) bool { return rr.(*mdns.DNSKEY).KeyTag() == k.tag }) {
			continue
		}
		rr := *k.dnskey
		rr.Hdr = mdns.RR_Header{Name: s.origin, Rrtype: mdns.TypeDNSKEY, Class: mdns.ClassINET, Ttl: ttl}
		out = append(out, &rr)
	}
	return out
}

// sign returns the RRSIGs of rrset, which is one RRset (one owner, type
// and class): the key-signing keys sign the DNSKEY, CDS and CDNSKEY
// RRsets, the zone-signing keys (one per algorithm) the rest. A wildcard
// owner (`*.x`) gets the wildcard's label count.
func (s *signer) sign(rrset []mdns.RR) ([]*mdns.RRSIG, error) {
	key := rrsetKey(rrset)
	now := s.now()
	s.mu.Lock()
	if c, ok := s.sigs[key]; ok && time.Unix(int64(c.sigs[0].Expiration), 0).Sub(now) > sigRefresh {
		c.gen = s.gen
		s.mu.Unlock()
		return c.sigs, nil
	}
	s.mu.Unlock()
	sigs, err := s.signAt(rrset, key, now)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.sigs[key] = &cachedSig{sigs: sigs, gen: s.gen}
	s.mu.Unlock()
	return sigs, nil
}

// signFresh signs rrset without keeping the signatures.
func (s *signer) signFresh(rrset []mdns.RR) ([]*mdns.RRSIG, error) {
	return s.signAt(rrset, rrset[0].Header().Name, s.now())
}

// signAt signs rrset as of now with every key that signs it; key (the
// RRset's, or its name) spreads the expiry.
func (s *signer) signAt(rrset []mdns.RR, key string, now time.Time) ([]*mdns.RRSIG, error) {
	keys := s.keys.zsks
	switch rrset[0].Header().Rrtype {
	case mdns.TypeDNSKEY, mdns.TypeCDS, mdns.TypeCDNSKEY:
		keys = s.keys.ksks // RFC 7344 4.1: keys the parent's DS names
	}
	sigs := make([]*mdns.RRSIG, 0, len(keys))
	for _, k := range keys {
		sig, err := s.signWith(k, rrset, key, now)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, sig)
	}
	return sigs, nil
}

// signWith signs rrset with k.
func (s *signer) signWith(k zoneKey, rrset []mdns.RR, key string, now time.Time) (*mdns.RRSIG, error) {
	h := fnv.New64a()
	h.Write([]byte(key))
	jitter := time.Duration(h.Sum64() % uint64(sigJitter))
	sig := &mdns.RRSIG{Algorithm: k.dnskey.Algorithm, KeyTag: k.tag, SignerName: s.origin,
		Inception: uint32(now.Add(-sigBackdate).Unix()), Expiration: uint32(now.Add(sigValidity + jitter).Unix())}
	if err := sig.Sign(k.priv, rrset); err != nil {
		return nil, err
	}
	sig.Hdr.Ttl = rrset[0].Header().Ttl
	if s.corrupt.Load() {
		raw := []byte(sig.Signature)
		if i := len(raw) / 2; raw[i] == 'A' { // another base64 letter: still valid base64
			raw[i] = 'B'
		} else {
			raw[i] = 'A'
		}
		sig.Signature = string(raw)
	}
	s.made.Add(1)
	return sig, nil
}

// beginCompile starts a compile: signatures it does not use are dropped
// by the sweep after the next one.
func (s *signer) beginCompile() {
	s.mu.Lock()
	s.gen++
	s.mu.Unlock()
}

// sweep drops the signatures that neither this compile nor the one
// before used: of records that left the zone or the Plan. Only a full
// compile sweeps (beginCompile, compile): one that compiles a few services
// again cannot tell what the others use.
func (s *signer) sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live = 0
	for k, c := range s.sigs {
		switch {
		case c.gen+1 < s.gen:
			delete(s.sigs, k)
		case c.gen == s.gen:
			s.live++
		}
	}
}

// pileSlack is how many signatures beyond twice those in use the
// incremental compiles may add before a full compile sweeps them.
const pileSlack = 1024

// piledUp reports whether the signatures kept outnumber twice those the
// last full compile used, plus pileSlack: enough made since for records
// that are gone that a full compile should sweep them. The signatures
// kept stay below about three times those in use.
func (s *signer) piledUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sigs) > 2*s.live+pileSlack
}

// rrsetKey is the RRset in a canonical form: each record packed without
// compression, owner in lower case, sorted.
func rrsetKey(rrset []mdns.RR) string {
	recs := make([][]byte, len(rrset))
	for i, rr := range rrset {
		buf := make([]byte, mdns.Len(rr)+16)
		c := mdns.Copy(rr)
		c.Header().Name = mdns.CanonicalName(c.Header().Name)
		n, err := mdns.PackRR(c, buf, 0, nil, false)
		if err != nil {
			n = copy(buf, rr.String()) // cannot happen: LoadZones packed it
		}
		recs[i] = buf[:n]
	}
	slices.SortFunc(recs, bytes.Compare)
	var b []byte
	for _, r := range recs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(r)))
		b = append(b, r...)
	}
	return string(b)
}

// nsec returns the NSEC of compact denial (RFC 9824) at name: the next
// name is name's own \000 child, so that it covers no other name, and the
// bitmap lists types (RRSIG and NSEC added).
func nsec(name string, ttl uint32, types []uint16) *mdns.NSEC {
	bitmap := append(slices.Clone(types), mdns.TypeRRSIG, mdns.TypeNSEC)
	slices.Sort(bitmap)
	return &mdns.NSEC{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeNSEC, Class: mdns.ClassINET, Ttl: ttl},
		NextDomain: successor(name), TypeBitMap: slices.Compact(bitmap)}
}

// successor is the name right after name in canonical order that no
// other name sorts between (RFC 4471 section 3.1.1): its \000 child; when
// that would pass 255 octets, name with a \000 octet added to its first
// label; when that label is full, its last octet increased (an octet of
// 255 dropped, and the one before increased).
func successor(name string) string {
	w := wire(name)
	switch {
	case len(w)+2 <= 255:
		return `\000.` + name
	case w[0] < 63:
		w = slices.Insert(w, 1+int(w[0]), 0)
		w[0]++
	default:
		label := w[1 : 1+int(w[0])]
		i := len(label) - 1
		for i >= 0 && label[i] == 0xff {
			i--
		}
		if i < 0 {
			return `\000.` + name // cannot happen: no label of 63 octets of 255 fits a name
		}
		label[i]++
		w = append(w[:1+i+1:1+i+1], w[1+len(label):]...)
		w[0] = byte(i + 1)
	}
	next, _, err := mdns.UnpackDomainName(w, 0)
	if err != nil {
		return `\000.` + name
	}
	return next
}
