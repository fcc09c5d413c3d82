package dns

import (
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

// TestDSFromTheParentServedHere serves the signed test zone, which
// delegates sub, and its signed child sub.gslb.example.com from one
// handler, each with its own key: the DS question at the cut is answered
// from the parent, signed by the parent's key (RFC 4035 section 3.1.4.1),
// every other question at or below the child's apex from the child. A
// nested zone its parent does not delegate answers its DS itself, as
// before: there is no cut for the parent to speak of.
func TestDSFromTheParentServedHere(t *testing.T) {
	const ds = "    record sub DS 12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
	conf := strings.Replace(signedConf(t.TempDir()), "    record sub       NS    ns1.sub\n", "    record sub       NS    ns1.sub\n"+ds, 1)
	if !strings.Contains(conf, ds) {
		t.Fatal("the test zone has no delegation sub: update this test")
	}
	for _, child := range []string{"sub", "nocut"} {
		conf += "zone " + child + ".gslb.example.com {\n    ns ns1.example.net\n    dnssec {\n        keys " + t.TempDir() + "\n    }\n    record www A 192.0.2.81\n}\n"
	}
	h := newTestHandler(t, conf)
	keys := map[string]map[uint16]*mdns.DNSKEY{}
	for _, zone := range []string{"gslb.example.com.", "sub.gslb.example.com.", "nocut.gslb.example.com."} {
		r, _ := exchange(t, h, testQuery{name: zone, qtype: mdns.TypeDNSKEY}.msg(), "", false)
		keys[zone] = map[uint16]*mdns.DNSKEY{}
		for _, rr := range r.Answer {
			if k, ok := rr.(*mdns.DNSKEY); ok {
				keys[zone][k.KeyTag()] = k
			}
		}
		if len(keys[zone]) != 1 {
			t.Fatalf("DNSKEY of %s: %v", zone, r.Answer)
		}
	}

	for _, c := range []struct {
		name   string
		qtype  uint16
		signer string // the zone that answers
		answer int    // records in the answer section, RRSIGs aside
	}{
		{"sub.gslb.example.com.", mdns.TypeDS, "gslb.example.com.", 1},
		{"sub.gslb.example.com.", mdns.TypeSOA, "sub.gslb.example.com.", 1},
		{"sub.gslb.example.com.", mdns.TypeDNSKEY, "sub.gslb.example.com.", 1},
		{"www.sub.gslb.example.com.", mdns.TypeA, "sub.gslb.example.com.", 1},
		{"www.sub.gslb.example.com.", mdns.TypeDS, "sub.gslb.example.com.", 0}, // no cut there
		{"nocut.gslb.example.com.", mdns.TypeDS, "nocut.gslb.example.com.", 0},
		{"gslb.example.com.", mdns.TypeDS, "gslb.example.com.", 0}, // no parent served
	} {
		r, _ := exchange(t, h, testQuery{name: c.name, qtype: c.qtype}.msg(), "", false)
		sigs := verify(t, r, keys[c.signer])
		n := 0
		for _, rr := range r.Answer {
			if _, ok := rr.(*mdns.RRSIG); !ok {
				n++
			}
		}
		var signer string
		for _, s := range sigs {
			signer = s.SignerName
		}
		if r.Rcode != mdns.RcodeSuccess || !r.Authoritative || n != c.answer || signer != c.signer {
			t.Errorf("%s %s: rcode %d, AA %v, answer %v, signed by %q; want %d records signed by %s", c.name, mdns.Type(c.qtype), r.Rcode, r.Authoritative, r.Answer, signer, c.answer, c.signer)
		}
	}
	// Without DO, the parent's DS all the same, unsigned.
	m := testQuery{name: "sub.gslb.example.com.", qtype: mdns.TypeDS}.msg()
	m.IsEdns0().SetDo(false)
	if r, _ := exchange(t, h, m, "", false); len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != mdns.TypeDS || !r.Authoritative {
		t.Errorf("DS without DO: %v", r)
	}
}
