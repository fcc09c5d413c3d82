package dns

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// chainConf has the CNAME chains that end neither in records nor in a
// negative answer: a loop and a delegation.
const chainConf = `
zone chain.example {
    soa ns1.chain.example hostmaster.chain.example
    ns  ns1.chain.example 192.0.2.1
    record loop1  CNAME loop2
    record loop2  CNAME loop1
    record self   CNAME self
    record cdeleg CNAME host.sub
    record sub    NS    ns1.sub
    record sub    NS    ns.elsewhere.example.
    record ns1.sub A    192.0.2.53
}
`

// TestCNAMEChainEnds follows CNAMEs into a loop and into a delegation, as
// Knot 3.2 answers them.
func TestCNAMEChainEnds(t *testing.T) {
	h := newTestHandler(t, chainConf)
	for _, tc := range []answerCase{
		{"a loop ends at the CNAME that closes it: each record once (RFC 2181 5)",
			testQuery{name: "loop1.chain.example.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"loop1.chain.example. 3600 IN CNAME loop2.chain.example.", "loop2.chain.example. 3600 IN CNAME loop1.chain.example."},
			nil, nil, nil, -1},
		{"a loop, for a type no name has",
			testQuery{name: "loop2.chain.example.", qtype: mdns.TypeTXT, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"loop1.chain.example. 3600 IN CNAME loop2.chain.example.", "loop2.chain.example. 3600 IN CNAME loop1.chain.example."},
			nil, nil, nil, -1},
		{"a CNAME to itself",
			testQuery{name: "self.chain.example.", qtype: mdns.TypeAAAA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"self.chain.example. 3600 IN CNAME self.chain.example."}, nil, nil, nil, -1},
		{"a CNAME into a delegation: the CNAME, then the referral (RFC 1034 4.3.2)",
			testQuery{name: "cdeleg.chain.example.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"cdeleg.chain.example. 3600 IN CNAME host.sub.chain.example."}, nil,
			[]string{"sub.chain.example. 3600 IN NS ns.elsewhere.example.", "sub.chain.example. 3600 IN NS ns1.sub.chain.example."},
			[]string{"ns1.sub.chain.example. 3600 IN A 192.0.2.53"}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, h) })
	}
}

// TestClassANYNotAuthoritative asks in class ANY: the records of class IN
// come back, never as an authoritative answer (RFC 1034 section 3.7.1),
// as NSD answers; a truncated or negative answer neither.
func TestClassANYNotAuthoritative(t *testing.T) {
	h := newTestHandler(t, testConf)
	for _, name := range []string{"www.gslb.example.com.", "nope.gslb.example.com.", "app.gslb.example.com."} {
		m := testQuery{name: name, qtype: mdns.TypeA, edns: -1}.msg()
		m.Question[0].Qclass = mdns.ClassANY
		r, _ := exchange(t, h, m, "", false)
		if r.Authoritative {
			t.Errorf("%s A class ANY: AA set", name)
		}
		m.Question[0].Qclass = mdns.ClassINET
		if r, _ := exchange(t, h, m, "", false); !r.Authoritative {
			t.Errorf("%s A class IN: AA not set", name)
		}
	}
}

// bigReferralConf delegates sub to name servers whose glue cannot fit a
// 512-byte answer.
var bigReferralConf = func() string {
	conf := "zone big.example {\n    soa ns1.big.example hostmaster.big.example\n    ns ns1.big.example 192.0.2.1\n"
	for i := range 20 {
		conf += fmt.Sprintf("    record sub NS ns%02d.sub\n    record ns%02d.sub AAAA 2001:db8::%d\n", i, i, i+1)
	}
	return conf + "}\n"
}()

// TestTruncatedKeepsRcodeAndAA: an answer cut to TC keeps the rcode and
// the AA bit of the answer that did not fit (a referral has no AA), over
// the size limit and when rate limiting slips it, as Knot answers.
func TestTruncatedKeepsRcodeAndAA(t *testing.T) {
	h := newTestHandler(t, bigReferralConf)
	r, _ := exchange(t, h, testQuery{name: "x.sub.big.example.", qtype: mdns.TypeA, edns: -1}.msg(), "", false)
	if !r.Truncated || r.Authoritative || r.Rcode != mdns.RcodeSuccess {
		t.Errorf("a referral too big for 512 bytes: TC %v AA %v rcode %s, want TC, no AA, NOERROR", r.Truncated, r.Authoritative, mdns.RcodeToString[r.Rcode])
	}
	if r, _ := exchange(t, h, testQuery{name: "x.sub.big.example.", qtype: mdns.TypeA, edns: -1, tcp: true}.msg(), "", true); r.Truncated || r.Authoritative || len(r.Ns) != 20 {
		t.Errorf("the referral over TCP: TC %v AA %v, %d NS", r.Truncated, r.Authoritative, len(r.Ns))
	}

	s := newServer(ServerConfig{Handler: h, Limiter: NewLimiter(&LimiterConfig{ResponsesPerSecond: 1, Window: 15 * time.Second,
		Slip: 1, IPv4Prefix: 24, IPv6Prefix: 56})})
	now := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		name  string
		rcode int
		aa    bool
	}{
		{"nope.big.example.", mdns.RcodeNameError, true},
		{"www.example.org.", mdns.RcodeRefused, false},
		{"x.sub.big.example.", mdns.RcodeSuccess, false},
	} {
		req, _ := testQuery{name: tc.name, qtype: mdns.TypeA, edns: 0}.msg().Pack()
		var slipped *mdns.Msg
		for range 5 { // the first passes; with slip 1 every limited one slips
			resp, _ := s.answerUDP(req, make([]byte, 0, 65535), netip.MustParseAddr("192.0.2.7"), now, signInline)
			var r mdns.Msg
			if resp != nil && r.Unpack(resp) == nil && r.Truncated {
				slipped = &r
			}
		}
		if slipped == nil {
			t.Errorf("%s: no slipped answer", tc.name)
			continue
		}
		if slipped.Rcode != tc.rcode || slipped.Authoritative != tc.aa {
			t.Errorf("%s slipped: rcode %s AA %v, want %s AA %v", tc.name, mdns.RcodeToString[slipped.Rcode], slipped.Authoritative,
				mdns.RcodeToString[tc.rcode], tc.aa)
		}
	}
}
