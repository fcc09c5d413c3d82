package dns

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

// TestAdditional checks the addresses added for the targets of MX, SRV and
// NS records, as Knot 3.2 adds them: only for targets in the zone.
func TestAdditional(t *testing.T) {
	h := newTestHandler(t, testConf)
	const (
		mailA    = "mail.gslb.example.com. 3600 IN A 192.0.2.25"
		mailAAAA = "mail.gslb.example.com. 3600 IN AAAA 2001:db8::25"
	)
	for _, tc := range []answerCase{
		{"SRV: its target's A and AAAA, each with its own TTL",
			testQuery{name: "_www._tcp.gslb.example.com.", qtype: mdns.TypeSRV, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"_www._tcp.gslb.example.com. 3600 IN SRV 0 0 80 www.gslb.example.com."}, nil, nil,
			[]string{"www.gslb.example.com. 300 IN AAAA 2001:db8::80", "www.gslb.example.com. 3600 IN A 192.0.2.80"}, -1},
		{"SRV to a name without addresses: none",
			testQuery{name: "_sip._tcp.gslb.example.com.", qtype: mdns.TypeSRV, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"_sip._tcp.gslb.example.com. 3600 IN SRV 10 5 5060 sip.gslb.example.com."}, nil, nil, nil, -1},
		{"MX to a name in another zone Meridian serves: none, as Knot and NSD",
			testQuery{name: "mxother.gslb.example.com.", qtype: mdns.TypeMX, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"mxother.gslb.example.com. 3600 IN MX 10 mx.other.example."}, nil, nil, nil, -1},
		{"MX to a name below a cut: none, as NSD (the addresses are the child's)",
			testQuery{name: "mxsub.gslb.example.com.", qtype: mdns.TypeMX, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"mxsub.gslb.example.com. 3600 IN MX 10 mx.sub.gslb.example.com."}, nil, nil, nil, -1},
		{"MX to a CNAME: none",
			testQuery{name: "mxcname.gslb.example.com.", qtype: mdns.TypeMX, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"mxcname.gslb.example.com. 3600 IN MX 10 web.gslb.example.com."}, nil, nil, nil, -1},
		{"MX to a global service: none, its addresses depend on the client",
			testQuery{name: "mxsvc.gslb.example.com.", qtype: mdns.TypeMX, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"mxsvc.gslb.example.com. 3600 IN MX 10 app.gslb.example.com."}, nil, nil, nil, -1},
		{"MX at the end of a CNAME chain",
			testQuery{name: "cmx.gslb.example.com.", qtype: mdns.TypeMX, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"cmx.gslb.example.com. 3600 IN CNAME mxsub2.gslb.example.com.", "mxsub2.gslb.example.com. 3600 IN MX 10 mail.gslb.example.com."},
			nil, nil, []string{mailA, mailAAAA}, -1},
		{"ANY at a name whose one RRset is an MX",
			testQuery{name: "mxsub2.gslb.example.com.", qtype: mdns.TypeANY, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"mxsub2.gslb.example.com. 3600 IN MX 10 mail.gslb.example.com."}, nil, nil, []string{mailA, mailAAAA}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, h) })
	}
	// A global service is never a name a wildcard stands for.
	h = newTestHandler(t, "zone example.org {\n    ns ns.example.net\n    record * A 192.0.2.1\n    record mx MX 10 app\n    service app {\n    }\n}\n")
	answerCase{"MX to a global service, with a wildcard above it: none",
		testQuery{name: "mx.example.org.", qtype: mdns.TypeMX, edns: -1}, mdns.RcodeSuccess, true,
		[]string{"mx.example.org. 3600 IN MX 10 app.example.org."}, nil, nil, nil, -1}.check(t, h)
}

// TestAdditionalTrim checks that the additional addresses are optional:
// when the answer does not fit the client's payload size with all of
// them, it goes with as many as fit, RRset by RRset, and no TC, as Knot
// and NSD answer; only an answer that does not fit without them, or a
// referral whose glue does not fit (RFC 9471), sets TC.
func TestAdditionalTrim(t *testing.T) {
	var b strings.Builder
	b.WriteString("zone example.org {\n")
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&b, "    ns ns%d.example.org 192.0.2.%d 2001:db8::%d\n", i, i, i)
	}
	for i := 1; i <= 20; i++ {
		if i <= 6 {
			fmt.Fprintf(&b, "    record six MX %d mx%d\n", i, i)
		}
		fmt.Fprintf(&b, "    record twenty MX %d mx%d\n", i, i)
		fmt.Fprintf(&b, "    record mx%d A 192.0.2.%d\n    record mx%d AAAA 2001:db8::%d\n", i, i, i, i)
	}
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&b, "    record deleg NS ns%d.deleg\n    record ns%d.deleg A 192.0.2.%d\n    record ns%d.deleg AAAA 2001:db8::%d\n", i, i, i, i, i)
	}
	b.WriteString("}\n")
	h := newTestHandler(t, b.String())

	for _, tc := range []struct {
		name       string
		qname      string
		qtype      uint16
		udp        uint16 // EDNS payload size; 0: no EDNS
		tcp        bool
		tc         bool
		answer     int // records in the answer section (the authority for a referral)
		additional int // -1: some, not all
	}{
		{"six MX over TCP: all", "six.example.org.", mdns.TypeMX, 0, true, false, 6, 12},
		{"six MX with EDNS 1232: all", "six.example.org.", mdns.TypeMX, 1232, false, false, 6, 12},
		{"six MX in 512 bytes: some addresses, no TC", "six.example.org.", mdns.TypeMX, 0, false, false, 6, -1},
		{"six MX in 512 bytes with EDNS: some addresses, no TC", "six.example.org.", mdns.TypeMX, 512, false, false, 6, -1},
		{"twenty MX in 512 bytes: the answer does not fit, TC", "twenty.example.org.", mdns.TypeMX, 0, false, true, 0, 0},
		{"twenty MX with EDNS 1232: some addresses", "twenty.example.org.", mdns.TypeMX, 1232, false, false, 20, -1},
		{"apex NS in 512 bytes: some glue, no TC", "example.org.", mdns.TypeNS, 0, false, false, 8, -1},
		{"apex NS with EDNS 1232: all glue", "example.org.", mdns.TypeNS, 1232, false, false, 8, 16},
		{"a referral whose glue does not fit 512 bytes: TC (RFC 9471)", "x.deleg.example.org.", mdns.TypeA, 0, false, true, 0, 0},
		{"a referral with EDNS 1232: all glue", "x.deleg.example.org.", mdns.TypeA, 1232, false, false, 8, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ask := func(udp uint16, tcp bool) (*mdns.Msg, int) {
				m := new(mdns.Msg)
				m.SetQuestion(tc.qname, tc.qtype)
				if udp > 0 {
					m.SetEdns0(udp, false)
				}
				req, _ := m.Pack()
				resp, _ := h.Answer(req, make([]byte, 0, 65535), netip.MustParseAddr("127.0.0.1"), tcp)
				var r mdns.Msg
				if err := r.Unpack(resp); err != nil {
					t.Fatal(err)
				}
				return &r, len(resp)
			}
			full, _ := ask(0, true)
			r, size := ask(tc.udp, tc.tcp)
			limit := max(int(tc.udp), minUDP)
			if tc.tcp {
				limit = maxMsg
			}
			answer := r.Answer
			if len(answer) == 0 {
				answer = r.Ns
			}
			extra := slices.DeleteFunc(slices.Clone(r.Extra), func(rr mdns.RR) bool { return rr.Header().Rrtype == mdns.TypeOPT })
			if r.Truncated != tc.tc || len(answer) != tc.answer || size > limit {
				t.Fatalf("TC %v with %d answers in %d bytes; want TC %v with %d answers in at most %d",
					r.Truncated, len(answer), size, tc.tc, tc.answer, limit)
			}
			switch {
			case tc.additional >= 0 && len(extra) != tc.additional:
				t.Errorf("%d additional records, want %d", len(extra), tc.additional)
			case tc.additional < 0 && (len(extra) == 0 || len(extra) >= len(full.Extra)):
				t.Errorf("%d additional records, want some of the %d", len(extra), len(full.Extra))
			}
			// What is kept is the first RRsets, whole.
			if !slices.EqualFunc(extra, full.Extra[:len(extra)], func(a, b mdns.RR) bool { return a.String() == b.String() }) {
				t.Errorf("additional:\n%v\nis not the start of the full one:\n%v", extra, full.Extra)
			}
			if n := len(extra); n > 0 && n < len(full.Extra) && full.Extra[n].Header().Name == extra[n-1].Header().Name &&
				full.Extra[n].Header().Rrtype == extra[n-1].Header().Rrtype {
				t.Errorf("an RRset was cut in two: %v", extra[n-1])
			}
			// ... as many as fit: the next RRset would not have.
			if n := len(extra); !r.Truncated && n < len(full.Extra) {
				next := 0
				for _, rr := range full.Extra[n:] {
					if rr.Header().Name != full.Extra[n].Header().Name || rr.Header().Rrtype != full.Extra[n].Header().Rrtype {
						break
					}
					next += mdns.Len(rr)
				}
				if size+next <= limit {
					t.Errorf("%d bytes with %d additional records: the next RRset, %d bytes, would fit in %d", size, n, next, limit)
				}
			}
			if (r.IsEdns0() != nil) != (tc.udp > 0) {
				t.Errorf("OPT %v, want it when the query had one", r.IsEdns0() != nil)
			}
		})
	}
	// Cutting allocates nothing either.
	req, _ := testQuery{name: "six.example.org.", qtype: mdns.TypeMX, edns: -1}.msg().Pack() // 512 bytes: cut
	out := make([]byte, 0, 65535)
	client := netip.MustParseAddr("127.0.0.1")
	if n := testing.AllocsPerRun(1000, func() { h.Answer(req, out, client, false) }); n != 0 {
		t.Errorf("Answer cutting the additional section allocates %v times per query, want 0", n)
	}
}
