package dns

import (
	"crypto"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
)

// signedConf is testConf with its zone signed, keys in dir, and so
// without transfers.
func signedConf(dir string) string {
	conf := strings.Replace(testConf, "zone gslb.example.com {\n", "zone gslb.example.com {\n    dnssec {\n        keys "+dir+"\n    }\n", 1)
	return strings.Replace(conf, "    allow_transfer 10.0.0.0/8\n", "", 1)
}

// zoneDNSKEYs asks h for the zone's DNSKEY RRset, by key tag.
func zoneDNSKEYs(t *testing.T, h *Handler) map[uint16]*mdns.DNSKEY {
	t.Helper()
	r, _ := exchange(t, h, testQuery{name: "gslb.example.com.", qtype: mdns.TypeDNSKEY}.msg(), "", false)
	keys := map[uint16]*mdns.DNSKEY{}
	for _, rr := range r.Answer {
		if k, ok := rr.(*mdns.DNSKEY); ok {
			keys[k.KeyTag()] = k
		}
	}
	if len(keys) == 0 {
		t.Fatalf("no DNSKEY at the apex: %v", r)
	}
	return keys
}

// verify checks that every RRset of the answer and authority sections,
// and of the additional section but glue (NS targets of a referral), is
// covered by RRSIGs, one per key of wantSigs (1 when not given), that
// verify with keys now, and that no RRSIG is left over. It returns the
// first RRSIG of each type covered.
func verify(t *testing.T, r *mdns.Msg, keys map[uint16]*mdns.DNSKEY, wantSigs ...int) map[uint16]*mdns.RRSIG {
	t.Helper()
	want := 1
	if len(wantSigs) > 0 {
		want = wantSigs[0]
	}
	out := map[uint16]*mdns.RRSIG{}
	for si, sec := range [][]mdns.RR{r.Answer, r.Ns, r.Extra} {
		sets := map[string][]mdns.RR{}
		sigs := map[string][]*mdns.RRSIG{}
		var order []string
		for _, rr := range sec {
			h := rr.Header()
			if h.Rrtype == mdns.TypeOPT {
				continue
			}
			if sig, ok := rr.(*mdns.RRSIG); ok {
				k := strings.ToLower(h.Name) + "/" + mdns.Type(sig.TypeCovered).String()
				sigs[k] = append(sigs[k], sig)
				continue
			}
			k := strings.ToLower(h.Name) + "/" + mdns.Type(h.Rrtype).String()
			if sets[k] == nil {
				order = append(order, k)
			}
			sets[k] = append(sets[k], rr)
		}
		for _, k := range order {
			ss := sigs[k]
			delete(sigs, k)
			if len(ss) == 0 {
				if si == 1 && sets[k][0].Header().Rrtype == mdns.TypeNS || si == 2 {
					continue // a referral's NS and glue are the child's: unsigned
				}
				t.Errorf("%s has no RRSIG in\n%v", k, r)
				continue
			}
			if len(ss) != want && sets[k][0].Header().Rrtype != mdns.TypeDNSKEY && sets[k][0].Header().Rrtype != mdns.TypeCDS && sets[k][0].Header().Rrtype != mdns.TypeCDNSKEY {
				t.Errorf("%s has %d RRSIGs, want %d", k, len(ss), want)
			}
			for _, sig := range ss {
				key := keys[sig.KeyTag]
				if key == nil {
					t.Errorf("%s: RRSIG by unknown key %d", k, sig.KeyTag)
					continue
				}
				if err := sig.Verify(key, sets[k]); err != nil {
					t.Errorf("%s: RRSIG does not verify: %v\n%v", k, err, r)
				}
				if !sig.ValidityPeriod(time.Now()) {
					t.Errorf("%s: RRSIG not valid now: %d..%d", k, sig.Inception, sig.Expiration)
				}
			}
			out[ss[0].TypeCovered] = ss[0]
		}
		for k := range sigs {
			t.Errorf("an RRSIG for %s, which the section lacks", k)
		}
	}
	return out
}

// nsecOf returns the NSEC of the authority section.
func nsecOf(t *testing.T, r *mdns.Msg) *mdns.NSEC {
	t.Helper()
	for _, rr := range r.Ns {
		if n, ok := rr.(*mdns.NSEC); ok {
			return n
		}
	}
	t.Fatalf("no NSEC in\n%v", r)
	return nil
}

// TestSignedAnswers asks a signed zone every kind of question with DO and
// checks each answer's signatures with the zone's DNSKEY, as a validator
// would, and the compact denial of negative answers (RFC 9824); without
// DO, the answers are those of an unsigned zone.
func TestSignedAnswers(t *testing.T) {
	dir := t.TempDir()
	h := newTestHandler(t, signedConf(dir))
	keys := zoneDNSKEYs(t, h)
	ask := func(name string, qtype uint16, subnet string) *mdns.Msg {
		t.Helper()
		r, _ := exchange(t, h, testQuery{name: name, qtype: qtype, subnet: subnet}.msg(), "", false)
		return r
	}

	t.Run("geo answers", func(t *testing.T) {
		for subnet, want := range map[string]string{"81.2.69.0/24": "192.0.2.1", "8.8.8.0/24": "198.51.100.10"} {
			r := ask("app.gslb.example.com.", mdns.TypeA, subnet)
			if len(r.Answer) != 2 || !strings.HasPrefix(r.Answer[0].(*mdns.A).A.String(), want) {
				t.Errorf("%s: %v", subnet, r.Answer)
			}
			verify(t, r, keys)
		}
		// Every address of policy all, under one signature.
		r := ask("all.gslb.example.com.", mdns.TypeA, "81.2.69.0/24")
		if sigs := verify(t, r, keys); len(r.Answer) != 4 || sigs[mdns.TypeA] == nil {
			t.Errorf("all: %v", r.Answer)
		}
	})
	t.Run("static and chains", func(t *testing.T) {
		for _, q := range []struct {
			name  string
			qtype uint16
		}{{"www.gslb.example.com.", mdns.TypeA}, {"gslb.example.com.", mdns.TypeMX}, {"go.gslb.example.com.", mdns.TypeA},
			{"web.gslb.example.com.", mdns.TypeA}, {"_sip._tcp.gslb.example.com.", mdns.TypeSRV}, {"gslb.example.com.", mdns.TypeNS}} {
			r := ask(q.name, q.qtype, "81.2.69.0/24")
			if r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 || !r.Authoritative {
				t.Errorf("%s %s: %v", q.name, mdns.Type(q.qtype), r)
			}
			verify(t, r, keys)
		}
	})
	t.Run("DNSKEY, CDS and CDNSKEY by the key-signing key", func(t *testing.T) {
		for _, qtype := range []uint16{mdns.TypeDNSKEY, mdns.TypeCDS, mdns.TypeCDNSKEY} {
			r := ask("gslb.example.com.", qtype, "")
			if sig := verify(t, r, keys)[qtype]; sig == nil || keys[sig.KeyTag].Flags != 257 {
				t.Errorf("%s signature %v", mdns.Type(qtype), sig)
			}
		}
		var ksk *mdns.DNSKEY
		for _, k := range keys {
			ksk = k
		}
		r := ask("gslb.example.com.", mdns.TypeCDS, "")
		want := ksk.ToDS(mdns.SHA256)
		if cds, ok := r.Answer[0].(*mdns.CDS); !ok || cds.KeyTag != want.KeyTag || cds.Digest != want.Digest || cds.DigestType != mdns.SHA256 {
			t.Errorf("CDS %v, want the DS of the KSK %v", r.Answer[0], want)
		}
		info, ok := h.Zones().Keys("gslb.example.com")
		if !ok || len(info) != 1 || info[0].Role != "csk" || info[0].DS != oneLine(want) {
			t.Errorf("Keys: %+v, want the CSK with DS %s", info, want)
		}
		if _, ok := h.Zones().Keys("other.example"); ok {
			t.Error("Keys of an unsigned zone")
		}
	})
	t.Run("a name that does not exist", func(t *testing.T) {
		r := ask("nope.gslb.example.com.", mdns.TypeA, "")
		verify(t, r, keys)
		n := nsecOf(t, r)
		if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 || n.Hdr.Name != "nope.gslb.example.com." ||
			n.NextDomain != `\000.nope.gslb.example.com.` || !slices.Equal(n.TypeBitMap, []uint16{mdns.TypeRRSIG, mdns.TypeNSEC, typeNXNAME}) {
			t.Errorf("compact NXDOMAIN: rcode %d, NSEC %v", r.Rcode, n)
		}
		if n.Hdr.Ttl != 120 {
			t.Errorf("NSEC TTL %d, want the SOA minimum 120", n.Hdr.Ttl)
		}
		// Asked again, from the cache: the same answer.
		if again := ask("nope.gslb.example.com.", mdns.TypeA, ""); nsecOf(t, again).String() != n.String() {
			t.Error("the second answer differs")
		}
		// Without DO: plain NXDOMAIN.
		m := testQuery{name: "nope.gslb.example.com.", qtype: mdns.TypeA}.msg()
		m.IsEdns0().SetDo(false)
		if plain, _ := exchange(t, h, m, "", false); plain.Rcode != mdns.RcodeNameError || hasType(plain, mdns.TypeRRSIG) || hasType(plain, mdns.TypeNSEC) {
			t.Errorf("without DO: %v", plain)
		}
	})
	t.Run("a type the name lacks", func(t *testing.T) {
		for _, c := range []struct {
			name  string
			qtype uint16
			types []uint16
		}{
			{"www.gslb.example.com.", mdns.TypeMX, []uint16{mdns.TypeA, mdns.TypeAAAA}},
			{"app.gslb.example.com.", mdns.TypeMX, []uint16{mdns.TypeA, mdns.TypeAAAA}},
			{"a.b.gslb.example.com.", mdns.TypeMX, nil},                   // an empty non-terminal
			{"sub.gslb.example.com.", mdns.TypeDS, []uint16{mdns.TypeNS}}, // the parent's side of the cut
			// UK clients get eu-west, which has no IPv6 address.
			{"app.gslb.example.com.", mdns.TypeAAAA, []uint16{mdns.TypeA}},
		} {
			r := ask(c.name, c.qtype, "81.2.69.0/24")
			verify(t, r, keys)
			n := nsecOf(t, r)
			types := append(c.types, mdns.TypeRRSIG, mdns.TypeNSEC)
			slices.Sort(types)
			if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 || !strings.EqualFold(n.Hdr.Name, c.name) || !slices.Equal(n.TypeBitMap, types) {
				t.Errorf("%s %s: rcode %d, NSEC %v, want types %v", c.name, mdns.Type(c.qtype), r.Rcode, n, types)
			}
		}
	})
	t.Run("wildcard", func(t *testing.T) {
		r := ask("host.wild.gslb.example.com.", mdns.TypeA, "")
		sigs := verify(t, r, keys)
		if len(r.Answer) != 2 || r.Answer[0].Header().Name != "host.wild.gslb.example.com." || sigs[mdns.TypeA].Labels != 5 {
			t.Errorf("wildcard answer, signed as the name's own: %v", r.Answer)
		}
		// A wildcard CNAME, to a static name and into a global service.
		for _, name := range []string{"host.wc.gslb.example.com.", "host.svc.gslb.example.com."} {
			r := ask(name, mdns.TypeA, "81.2.69.0/24")
			sigs := verify(t, r, keys)
			if len(r.Answer) != 4 || r.Answer[0].Header().Name != name || sigs[mdns.TypeCNAME].Labels != 5 || sigs[mdns.TypeA] == nil {
				t.Errorf("%s: %v", name, r.Answer)
			}
		}
		r = ask("host.wild.gslb.example.com.", mdns.TypeMX, "")
		verify(t, r, keys)
		if n := nsecOf(t, r); !slices.Equal(n.TypeBitMap, []uint16{mdns.TypeA, mdns.TypeTXT, mdns.TypeRRSIG, mdns.TypeNSEC}) {
			t.Errorf("wildcard NODATA: %v", n)
		}
	})
	t.Run("referral", func(t *testing.T) {
		r := ask("host.sub.gslb.example.com.", mdns.TypeA, "")
		verify(t, r, keys)
		n := nsecOf(t, r)
		if r.Authoritative || n.Hdr.Name != "sub.gslb.example.com." || !slices.Equal(n.TypeBitMap, []uint16{mdns.TypeNS, mdns.TypeRRSIG, mdns.TypeNSEC}) {
			t.Errorf("referral proves no DS: AA %v, %v", r.Authoritative, n)
		}
	})
	t.Run("without DO nothing is signed", func(t *testing.T) {
		for _, name := range []string{"app.gslb.example.com.", "www.gslb.example.com.", "host.wild.gslb.example.com.", "host.sub.gslb.example.com."} {
			m := testQuery{name: name, qtype: mdns.TypeA, subnet: "81.2.69.0/24"}.msg()
			m.IsEdns0().SetDo(false)
			if r, _ := exchange(t, h, m, "", false); hasType(r, mdns.TypeRRSIG) || hasType(r, mdns.TypeNSEC) {
				t.Errorf("%s without DO: %v", name, r)
			}
		}
	})
}

func hasType(r *mdns.Msg, t uint16) bool {
	for _, sec := range [][]mdns.RR{r.Answer, r.Ns, r.Extra} {
		for _, rr := range sec {
			if rr.Header().Rrtype == t {
				return true
			}
		}
	}
	return false
}

// TestCorruptSignatureFailsVerification: the test hook that flips a byte
// of every new signature makes them fail, so the tests that verify would
// notice a wrong signature.
func TestCorruptSignatureFailsVerification(t *testing.T) {
	h := newTestHandler(t, signedConf(t.TempDir()))
	keys := zoneDNSKEYs(t, h)
	h.Zones().zones[0].signer.corrupt.Store(true)
	r, _ := exchange(t, h, testQuery{name: "fresh.gslb.example.com.", qtype: mdns.TypeA}.msg(), "", false)
	n := nsecOf(t, r)
	var sig *mdns.RRSIG
	for _, rr := range r.Ns {
		if s, ok := rr.(*mdns.RRSIG); ok && s.TypeCovered == mdns.TypeNSEC {
			sig = s
		}
	}
	if sig == nil || sig.Verify(keys[sig.KeyTag], []mdns.RR{n}) == nil {
		t.Errorf("a corrupted signature verifies: %v", sig)
	}
}

// TestSigningBudget: a client network that has spent its share of the
// zone's online signing budget gets TC for UDP queries that need a new
// signature, while other networks are still signed; over the zone's
// budget every network gets TC; TCP is always signed, and answers already
// made are served from the cache.
func TestSigningBudget(t *testing.T) {
	h := newTestHandler(t, signedConf(t.TempDir()))
	s := h.Zones().zones[0].signer
	now := time.Unix(1_800_000_000, 0)
	s.spend = budget{rate: 8} // a network's share: 2
	s.now = func() time.Time { return now }
	ask := func(name, from string, tcp bool) *mdns.Msg {
		r, _ := exchange(t, h, testQuery{name: name, qtype: mdns.TypeA}.msg(), from, tcp)
		return r
	}
	signed := func(name, from string, tcp bool) {
		t.Helper()
		if r := ask(name, from, tcp); r.Truncated || !hasType(r, mdns.TypeNSEC) {
			t.Errorf("%s from %s (TCP %v): %v, want it signed", name, from, tcp, r)
		}
	}
	refused := func(name, from string, why refusal) {
		t.Helper()
		before := s.refused[why].Load()
		if r := ask(name, from, false); !r.Truncated || len(r.Ns) != 0 {
			t.Errorf("%s from %s: %v, want TC", name, from, r)
		}
		if s.refused[why].Load() != before+1 {
			t.Errorf("%s from %s: not counted as refused by %s", name, from, refusalNames[why])
		}
	}
	signed("a0.gslb.example.com.", "192.0.2.1", false)
	signed("a1.gslb.example.com.", "192.0.2.1", false)
	refused("a2.gslb.example.com.", "192.0.2.200", networkSpent) // the same /24
	signed("a2.gslb.example.com.", "198.51.100.1", false)        // another network
	signed("a3.gslb.example.com.", "192.0.2.1", true)            // TCP
	signed("b0.gslb.example.com.", "2001:db8:0:1::1", false)
	signed("b1.gslb.example.com.", "2001:db8:0:2::1", false)
	refused("b2.gslb.example.com.", "2001:db8:0:ff::1", networkSpent) // the same /56
	signed("b2.gslb.example.com.", "2001:db8:0:100::1", false)        // another one
	signed("c0.gslb.example.com.", "203.0.113.1", false)
	signed("c1.gslb.example.com.", "203.0.113.1", false) // the zone's eighth
	refused("c2.gslb.example.com.", "198.51.100.1", zoneSpent)
	refused("c2.gslb.example.com.", "192.0.2.77", networkSpent) // the /24 that spent its share
	refused("c2.gslb.example.com.", "100.64.0.1", zoneSpent)    // a new network, but the zone is spent
	if r := ask("a0.gslb.example.com.", "100.64.0.1", false); r.Truncated {
		t.Errorf("a cached answer over the budget: %v", r)
	}
	now = now.Add(time.Second) // the budget refills
	signed("c2.gslb.example.com.", "192.0.2.1", false)
}

// TestSignModes: a UDP reader's query that needs an online signature is
// deferred, unanswered, with the budget spent, and its worker answers it
// signed without spending again; with the worker full it gets TC; a
// cached answer and one over the budget are never deferred.
func TestSignModes(t *testing.T) {
	h := newTestHandler(t, signedConf(t.TempDir()))
	s := h.Zones().zones[0].signer
	now := time.Unix(1_800_000_000, 0)
	s.spend = budget{rate: 4} // a network's share: 1
	s.now = func() time.Time { return now }
	client := netip.MustParseAddr("192.0.2.1")
	ask := func(name string, mode signMode) (*mdns.Msg, outcome) {
		t.Helper()
		req, _ := testQuery{name: name, qtype: mdns.TypeA}.msg().Pack()
		resp, o := h.answer(req, make([]byte, 0, 65535), client, false, 0, mode)
		if resp == nil {
			return nil, o
		}
		var r mdns.Msg
		if err := r.Unpack(resp); err != nil {
			t.Fatal(err)
		}
		return &r, o
	}
	made := s.made.Load()
	if r, o := ask("d0.gslb.example.com.", signDefer); r != nil || !o.deferred || s.made.Load() != made {
		t.Fatalf("deferred: %v %+v, %d signatures made", r, o, s.made.Load()-made)
	}
	if r, o := ask("d1.gslb.example.com.", signDefer); r == nil || !r.Truncated || o.deferred || s.refused[networkSpent].Load() != 1 {
		t.Errorf("deferred over the network's share (the first was counted): %v %+v", r, o)
	}
	if r, o := ask("d0.gslb.example.com.", signPaid); r == nil || r.Truncated || !hasType(r, mdns.TypeNSEC) || o.deferred {
		t.Errorf("the worker's answer, over the share but paid: %v %+v", r, o)
	}
	if r, o := ask("d0.gslb.example.com.", signDefer); r == nil || r.Truncated || o.deferred {
		t.Errorf("cached, not deferred: %v %+v", r, o)
	}
	now = now.Add(time.Second)
	if r, o := ask("d2.gslb.example.com.", signBusy); r == nil || !r.Truncated || s.refused[workerBusy].Load() != 1 {
		t.Errorf("with the worker full: %v %+v", r, o)
	}
	if _, o := ask("d2.gslb.example.com.", signDefer); !o.deferred {
		t.Errorf("the busy refusal spent the budget: %+v", o)
	}
}

// TestClientNetwork: the networks that share a signing bucket.
func TestClientNetwork(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.77":           "192.0.2.0/24",
		"::ffff:192.0.2.77":    "192.0.2.0/24",
		"2001:db8:1:2ff::1":    "2001:db8:1:200::/56",
		"2001:db8:1:2ff::1%e0": "2001:db8:1:200::/56",
	} {
		if got := clientNetwork(netip.MustParseAddr(addr)); got.String() != want {
			t.Errorf("%s: %s, want %s", addr, got, want)
		}
	}
}

// TestSignaturesKeptAcrossPlans: a new Plan or a refresh signs nothing
// already signed, until a signature nears expiry.
func TestSignaturesKeptAcrossPlans(t *testing.T) {
	h := newTestHandler(t, signedConf(t.TempDir()))
	s := h.Zones().zones[0].signer
	made := s.made.Load()
	if err := h.RefreshSignatures(); err != nil {
		t.Fatal(err)
	}
	if again := s.made.Load(); again != made {
		t.Errorf("a refresh made %d signatures, want none", again-made)
	}
	s.now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) } // within a week of expiry
	if err := h.RefreshSignatures(); err != nil {
		t.Fatal(err)
	}
	if again := s.made.Load(); again-made < made/2 {
		t.Errorf("8 days on, a refresh made %d signatures of %d", again-made, made)
	}
}

// TestKeys: a generated key is written in BIND's format and read back
// the same; a KSK and ZSK split signs DNSKEY with one and the rest with
// the other; bad key directories are refused with the file named.
func TestKeys(t *testing.T) {
	dir := t.TempDir()
	h1 := newTestHandler(t, signedConf(dir))
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 2 {
		t.Fatalf("generated %v, want a .key and a .private", files)
	}
	for _, f := range files {
		fi, _ := os.Stat(f)
		if strings.HasSuffix(f, ".private") && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	h2 := newTestHandler(t, signedConf(dir)) // a restart, or another replica with the directory
	k1, k2 := zoneDNSKEYs(t, h1), zoneDNSKEYs(t, h2)
	if len(k1) != 1 || fmt.Sprint(k1) != fmt.Sprint(k2) {
		t.Errorf("keys %v, then %v", k1, k2)
	}

	split := t.TempDir()
	ksk := writeKey(t, split, mdns.ECDSAP256SHA256, 257)
	zsk := writeKey(t, split, mdns.ECDSAP256SHA256, 256)
	h := newTestHandler(t, signedConf(split))
	keys := zoneDNSKEYs(t, h)
	if len(keys) != 2 {
		t.Fatalf("DNSKEY RRset %v, want the KSK and the ZSK", keys)
	}
	r, _ := exchange(t, h, testQuery{name: "gslb.example.com.", qtype: mdns.TypeDNSKEY}.msg(), "", false)
	if sigs := verify(t, r, keys); sigs[mdns.TypeDNSKEY].KeyTag != ksk {
		t.Errorf("DNSKEY signed by %d, want the KSK %d", sigs[mdns.TypeDNSKEY].KeyTag, ksk)
	}
	r, _ = exchange(t, h, testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}.msg(), "", false)
	if sigs := verify(t, r, keys); sigs[mdns.TypeA].KeyTag != zsk {
		t.Errorf("A signed by %d, want the ZSK %d", sigs[mdns.TypeA].KeyTag, zsk)
	}

	for name, setup := range map[string]func(dir string) string{
		"RSA": func(dir string) string {
			writeKey(t, dir, mdns.RSASHA256, 257)
			return "RSASHA256 (8) is not supported"
		},
		"only a ZSK": func(dir string) string {
			writeKey(t, dir, mdns.ECDSAP256SHA256, 256)
			return ": no active key-signing key"
		},
		"another key's private half": func(dir string) string {
			a := writeKey(t, dir, mdns.ECDSAP256SHA256, 257)
			other := t.TempDir()
			b := writeKey(t, other, mdns.ECDSAP256SHA256, 257)
			data, _ := os.ReadFile(filepath.Join(other, fmt.Sprintf("Kgslb.example.com.+013+%05d.private", b)))
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("Kgslb.example.com.+013+%05d.private", a)), data, 0o600)
			return "the private key does not belong to the DNSKEY"
		},
	} {
		dir := t.TempDir()
		want := setup(dir)
		if _, err := loadKeysFor(dir); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: %v, want an error naming %s that says %q", name, err, dir, want)
		}
	}
}

// loadKeysFor loads the test zone's keys from dir.
func loadKeysFor(dir string) (zoneKeys, error) {
	return loadKeys("gslb.example.com.", &DNSSECConfig{Keys: dir, Algorithm: mdns.ECDSAP256SHA256}, nil, time.Now(), 3600, true)
}

// writeKey writes a new key of the test zone as dnssec-keygen would and
// returns its tag.
func writeKey(t *testing.T, dir string, alg uint8, flags uint16) uint16 {
	t.Helper()
	k := &mdns.DNSKEY{Hdr: mdns.RR_Header{Name: "gslb.example.com.", Rrtype: mdns.TypeDNSKEY, Class: mdns.ClassINET, Ttl: 3600},
		Flags: flags, Protocol: 3, Algorithm: alg}
	bits := 256
	if alg == mdns.RSASHA256 {
		bits = 2048
	}
	priv, err := k.Generate(bits)
	if err != nil {
		t.Fatal(err)
	}
	_ = priv.(crypto.Signer)
	base := filepath.Join(dir, fmt.Sprintf("Kgslb.example.com.+%03d+%05d", alg, k.KeyTag()))
	if err := os.WriteFile(base+".key", []byte("; a key\n"+k.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".private", []byte(k.PrivateKeyString(priv)), 0o600); err != nil {
		t.Fatal(err)
	}
	return k.KeyTag()
}

// TestSigningMetrics: the signatures made and the online ones refused are
// counted per zone.
func TestSigningMetrics(t *testing.T) {
	c, err := config.Parse("t.conf", []byte(signedConf(t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	zs, err := LoadZones(zonesOf(c.Zones), nil, time.Unix(1_700_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h := NewHandler(zs, locator, Options{}, NewStats(reg))
	h.Publish(weights.Solve(time.Time{}, config.StaticInventory(c.Clusters), model.Health{}, model.NewOverrides(nil), c.Policies()))
	zs.zones[0].signer.spend = budget{rate: 4} // a network's share: 1
	for _, name := range []string{"n1.gslb.example.com.", "n2.gslb.example.com."} {
		exchange(t, h, testQuery{name: name, qtype: mdns.TypeA}.msg(), "", false)
	}
	values := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["zone"] == "gslb.example.com" {
				values[f.GetName()+labels["reason"]] = m.GetCounter().GetValue()
			}
		}
	}
	made := float64(zs.zones[0].signer.made.Load())
	if want := map[string]float64{
		"meridian_dns_zone_queries_total":             0, // counted by the server, per batch
		"meridian_dnssec_signatures_total":            made,
		"meridian_dnssec_online_refused_totalnetwork": 1,
		"meridian_dnssec_online_refused_totalzone":    0,
		"meridian_dnssec_online_refused_totalbusy":    0,
	}; made < 10 || !maps.Equal(values, want) {
		t.Errorf("metrics %v, want %v", values, want)
	}
}

// TestSignedEdgeCases: what an outside tester found bogus or malformed:
// a wildcard's own name asked literally, queries for the NSEC and RRSIG
// types, names of 254 and 255 octets, the NXNAME type, the CO flag, and
// budget truncations counted.
func TestSignedEdgeCases(t *testing.T) {
	h := newTestHandler(t, signedConf(t.TempDir()))
	keys := zoneDNSKEYs(t, h)
	ask := func(name string, qtype uint16) *mdns.Msg {
		t.Helper()
		r, _ := exchange(t, h, testQuery{name: name, qtype: qtype}.msg(), "", true)
		return r
	}
	t.Run("a wildcard's own name", func(t *testing.T) {
		for _, q := range []struct {
			name  string
			qtype uint16
		}{{"*.wild.gslb.example.com.", mdns.TypeA}, {"*.wc.gslb.example.com.", mdns.TypeA}, {"*.wmx.gslb.example.com.", mdns.TypeMX}} {
			r := ask(q.name, q.qtype)
			if sigs := verify(t, r, keys); len(r.Answer) < 2 || len(sigs) == 0 {
				t.Errorf("%s %s: %v", q.name, mdns.Type(q.qtype), r.Answer)
			}
		}
	})
	t.Run("NSEC and RRSIG asked for", func(t *testing.T) {
		for _, name := range []string{"www.gslb.example.com.", "gslb.example.com.", "app.gslb.example.com.", "nope.gslb.example.com.", "x.wild.gslb.example.com."} {
			r := ask(name, mdns.TypeNSEC)
			verify(t, r, keys)
			if len(r.Answer) != 2 || r.Answer[0].Header().Rrtype != mdns.TypeNSEC || !strings.EqualFold(r.Answer[0].Header().Name, name) || r.Rcode != mdns.RcodeSuccess {
				t.Errorf("%s NSEC: %v", name, r)
			}
			r = ask(name, mdns.TypeRRSIG)
			if len(r.Answer) != 1 || r.Answer[0].(*mdns.RRSIG).TypeCovered != mdns.TypeNSEC || len(r.Ns) != 0 {
				t.Errorf("%s RRSIG: %v", name, r)
			}
		}
	})
	t.Run("names of 254 and 255 octets", func(t *testing.T) {
		for _, last := range []int{42, 43, 44} { // 253, 254 and 255 octets
			name := strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("a", last) + ".gslb.example.com."
			r := ask(name, mdns.TypeA)
			verify(t, r, keys)
			n := nsecOf(t, r)
			if len(wire(n.NextDomain)) > 255 || strings.ToLower(n.NextDomain) <= strings.ToLower(name) && !strings.HasPrefix(n.NextDomain, `\000.`) {
				t.Errorf("%d octets: next %q", len(wire(name)), n.NextDomain)
			}
		}
		for name, want := range map[string]string{
			"x.gslb.example.com.": `\000.x.gslb.example.com.`,
		} {
			if got := successor(name); got != want {
				t.Errorf("successor(%s) = %s, want %s", name, got, want)
			}
		}
		long := strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("a", 44) + ".gslb.example.com." // 255 octets
		if got := successor(long); len(wire(got)) != 255 || !strings.HasPrefix(got, strings.Repeat("a", 62)+"b.") {
			t.Errorf("successor of a full first label: %s", got)
		}
		shorter := strings.Repeat("a", 62) + "." + strings.Repeat(strings.Repeat("a", 63)+".", 2) + strings.Repeat("a", 44) + ".gslb.example.com." // 254 octets, 62 in the first label
		if got := successor(shorter); !strings.HasPrefix(got, strings.Repeat("a", 62)+`\000.`) {
			t.Errorf("successor with room in the first label: %s", got)
		}
	})
	t.Run("NXNAME", func(t *testing.T) {
		if r := ask("nope.gslb.example.com.", typeNXNAME); r.Rcode != mdns.RcodeFormatError || r.Authoritative {
			t.Errorf("NXNAME: %v", r)
		}
	})
	t.Run("the CO flag", func(t *testing.T) {
		m := testQuery{name: "nope.gslb.example.com.", qtype: mdns.TypeA}.msg()
		m.IsEdns0().Hdr.Ttl |= 0x4000 // the flags are the low 16 bits of the OPT's TTL
		r, o := exchange(t, h, m, "", false)
		verify(t, r, keys)
		if r.Rcode != mdns.RcodeNameError || nsecOf(t, r) == nil || o.rcode != nxDomain {
			t.Errorf("with CO: rcode %d (counted %d)", r.Rcode, o.rcode)
		}
		if _, o := exchange(t, h, testQuery{name: "nope.gslb.example.com.", qtype: mdns.TypeA}.msg(), "", false); o.rcode != rcodeOK {
			t.Errorf("without CO the NOERROR sent is counted as %d", o.rcode)
		}
	})
	t.Run("a budget truncation is counted as one", func(t *testing.T) {
		h.Zones().zones[0].signer.spend = budget{rate: 4}
		exchange(t, h, testQuery{name: "b1.gslb.example.com.", qtype: mdns.TypeA}.msg(), "", false)
		if r, o := exchange(t, h, testQuery{name: "b2.gslb.example.com.", qtype: mdns.TypeA}.msg(), "", false); !r.Truncated || !o.truncated {
			t.Errorf("over the budget: TC %v, counted %v", r.Truncated, o.truncated)
		}
	})
}

// TestKeysRefused: keys a validator cannot use as given.
func TestKeysRefused(t *testing.T) {
	for name, setup := range map[string]func(dir string) string{
		"revoked": func(dir string) string {
			writeKey(t, dir, mdns.ECDSAP256SHA256, 257|mdns.REVOKE)
			return "the key is revoked"
		},
		"two algorithms": func(dir string) string {
			writeKey(t, dir, mdns.ECDSAP256SHA256, 257)
			writeKey(t, dir, mdns.ED25519, 256)
			return "of which no key-signing key is active"
		},
		"a tag the name does not say": func(dir string) string {
			tag := writeKey(t, dir, mdns.ECDSAP256SHA256, 257)
			for _, ext := range []string{".key", ".private"} {
				os.Rename(filepath.Join(dir, fmt.Sprintf("Kgslb.example.com.+013+%05d%s", tag, ext)), filepath.Join(dir, "Kgslb.example.com.+013+00001"+ext))
			}
			return "the file name says key tag 00001"
		},
	} {
		dir := t.TempDir()
		want := setup(dir)
		if _, err := loadKeysFor(dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
	// CRLF line ends are read.
	dir := t.TempDir()
	writeKey(t, dir, mdns.ECDSAP256SHA256, 257)
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		os.WriteFile(f, []byte(strings.ReplaceAll(string(data), "\n", "\r\n")), 0o600)
	}
	if _, err := loadKeysFor(dir); err != nil {
		t.Errorf("CRLF: %v", err)
	}
}

// TestTwoKSKsAndTwoAlgorithms: the states a KSK rollover and an algorithm
// rollover pass through. Two key-signing keys of one algorithm both sign
// the DNSKEY RRset, and both are in CDS; keys of two algorithms each sign
// every RRset, geo answers and denials included, so that a validator that
// knows either algorithm's key validates.
func TestTwoKSKsAndTwoAlgorithms(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, mdns.ECDSAP256SHA256, 257)
	writeKey(t, dir, mdns.ECDSAP256SHA256, 257)
	h := newTestHandler(t, signedConf(dir))
	keys := zoneDNSKEYs(t, h)
	r, _ := exchange(t, h, testQuery{name: "gslb.example.com.", qtype: mdns.TypeDNSKEY}.msg(), "", false)
	verify(t, r, keys)
	if n := len(r.Answer) - 2; n != 2 {
		t.Errorf("two KSKs: %d RRSIGs on DNSKEY, want 2: %v", n, r.Answer)
	}
	if r, _ := exchange(t, h, testQuery{name: "gslb.example.com.", qtype: mdns.TypeCDS}.msg(), "", false); len(r.Answer) != 4 {
		t.Errorf("CDS of two KSKs: %v", r.Answer)
	}

	dir = t.TempDir()
	writeKey(t, dir, mdns.ECDSAP256SHA256, 257)
	writeKey(t, dir, mdns.ECDSAP256SHA256, 256)
	writeKey(t, dir, mdns.ED25519, 257)
	writeKey(t, dir, mdns.ED25519, 256)
	h = newTestHandler(t, signedConf(dir))
	keys = zoneDNSKEYs(t, h)
	if len(keys) != 4 {
		t.Fatalf("DNSKEY RRset of %d keys, want 4", len(keys))
	}
	for _, q := range []testQuery{
		{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"},
		{name: "all.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"},
		{name: "www.gslb.example.com.", qtype: mdns.TypeMX},
		{name: "nope.gslb.example.com.", qtype: mdns.TypeA},
		{name: "host.wild.gslb.example.com.", qtype: mdns.TypeA},
		{name: "go.gslb.example.com.", qtype: mdns.TypeA, subnet: "8.8.8.0/24"},
	} {
		r, _ := exchange(t, h, q.msg(), "", false)
		verify(t, r, keys, 2)
	}
	info, _ := h.Zones().Keys("gslb.example.com")
	var roles []string
	for _, k := range info {
		roles = append(roles, k.Role)
	}
	slices.Sort(roles)
	if !slices.Equal(roles, []string{"ksk", "ksk", "zsk", "zsk"}) {
		t.Errorf("roles %v", roles)
	}
}

// TestOnlineAnswersRefreshed: answers signed online are made again after
// a refresh, so that a zone version that lives for weeks never serves
// signatures near their expiry.
func TestOnlineAnswersRefreshed(t *testing.T) {
	h := newTestHandler(t, signedConf(t.TempDir()))
	s := h.Zones().zones[0].signer
	ask := func() *mdns.RRSIG {
		r, _ := exchange(t, h, testQuery{name: "nope.gslb.example.com.", qtype: mdns.TypeA}.msg(), "", false)
		for _, rr := range r.Ns {
			if sig, ok := rr.(*mdns.RRSIG); ok && sig.TypeCovered == mdns.TypeNSEC {
				return sig
			}
		}
		t.Fatalf("no NSEC signature: %v", r)
		return nil
	}
	first := ask()
	if again := ask(); again.Signature != first.Signature {
		t.Fatal("the second answer was signed again, not served from the cache")
	}
	s.now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	if err := h.RefreshSignatures(); err != nil {
		t.Fatal(err)
	}
	if later := ask(); later.Expiration <= first.Expiration {
		t.Errorf("after a refresh 8 days on, the denial's signature expires at %d, before %d", later.Expiration, first.Expiration)
	}
}

// TestKeysFromTheSecondOutsideTest: a private key file without its key
// (an Ed25519 one used to panic), keys that vanish before a reload, a key
// signing before it is published, and keygen's checks.
func TestKeysFromTheSecondOutsideTest(t *testing.T) {
	for _, alg := range []uint8{mdns.ED25519, mdns.ECDSAP256SHA256} {
		dir := t.TempDir()
		tag := writeKey(t, dir, alg, 257)
		priv := filepath.Join(dir, fmt.Sprintf("Kgslb.example.com.+%03d+%05d.private", alg, tag))
		os.WriteFile(priv, fmt.Appendf(nil, "Private-key-format: v1.3\nAlgorithm: %d (X)\n", alg), 0o600)
		if _, err := loadKeysFor(dir); err == nil || !strings.Contains(err.Error(), "no private key in the file") {
			t.Errorf("algorithm %d without its private key: %v", alg, err)
		}
	}

	// A reload finds the keys of a signed zone gone: it fails, and makes none.
	dir := t.TempDir()
	c, err := config.Parse("t.conf", []byte(signedConf(dir)))
	if err != nil {
		t.Fatal(err)
	}
	zs, err := LoadZones(zonesOf(c.Zones), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		os.Remove(f)
	}
	if _, err := LoadZones(zonesOf(c.Zones), zs, time.Now()); err == nil || !strings.Contains(err.Error(), "the keys in use stay") {
		t.Errorf("a reload with the keys gone: %v", err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
		t.Errorf("a reload made a new key: %v", files)
	}

	// keygen refuses what is not a zone's name, and a key published after it signs.
	now := time.Now()
	for _, zone := range []string{"", ".", "a/../../escaped", "../../etc", "a..b", `x\y`} {
		if _, err := WriteNewKey(zone, mdns.ECDSAP256SHA256, false, now, now, t.TempDir()); err == nil {
			t.Errorf("keygen %q: no error", zone)
		}
	}
	if _, err := WriteNewKey("gslb.example.com", mdns.ECDSAP256SHA256, true, now.Add(time.Hour), now, t.TempDir()); err == nil {
		t.Error("keygen of a key published after it signs: no error")
	}

	// A KSK not yet active gets no DS: the parent must not name it yet.
	dir = t.TempDir()
	writeKey(t, dir, mdns.ECDSAP256SHA256, 257)
	if _, err := WriteNewKey("gslb.example.com", mdns.ED25519, false, now, now.Add(time.Hour), dir); err != nil {
		t.Fatal(err)
	}
	h := newTestHandler(t, signedConf(dir))
	info, _ := h.Zones().Keys("gslb.example.com")
	withDS := 0
	for _, k := range info {
		if k.DS != "" {
			withDS++
		}
		if k.Algorithm == mdns.ED25519 && (k.Role != "standby" || k.DS != "") {
			t.Errorf("a KSK not yet active: %+v", k)
		}
	}
	if withDS != 1 {
		t.Errorf("%d keys with a DS, want the active KSK's alone: %+v", withDS, info)
	}
}
