package dns

import (
	"testing"

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
