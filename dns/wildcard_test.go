package dns

import (
	"fmt"
	"testing"

	mdns "github.com/miekg/dns"
)

// TestWildcard asks about the wildcards of testConf; Knot 3.2 and NSD 4.6
// serving the same records answer the same (the CNAME to a missing name
// aside: they answer NOERROR where Meridian follows RFC 6604).
func TestWildcard(t *testing.T) {
	h := newTestHandler(t, testConf)
	serial := h.Zones().Serial("gslb.example.com")
	soaNeg := fmt.Sprintf("gslb.example.com. 120 IN SOA ns1.gslb.example.com. hostmaster.example.com. %d 3600 600 1209600 120", serial)
	for _, tc := range []answerCase{
		{"a name below a wildcard's parent that does not exist: the wildcard's records, owned by the name",
			testQuery{name: "a.wild.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"a.wild.gslb.example.com. 3600 IN A 192.0.2.99"}, nil, nil, nil, -1},
		{"the owner is the question name as the client wrote it",
			testQuery{name: "A-Host.WILD.gslb.example.com.", qtype: mdns.TypeA, edns: 0}, mdns.RcodeSuccess, true,
			[]string{"A-Host.WILD.gslb.example.com. 3600 IN A 192.0.2.99"}, nil, nil, nil, -1},
		{"several labels below the closest encloser",
			testQuery{name: "b.a.wild.gslb.example.com.", qtype: mdns.TypeTXT, edns: -1}, mdns.RcodeSuccess, true,
			[]string{`b.a.wild.gslb.example.com. 3600 IN TXT "wild"`}, nil, nil, nil, -1},
		{"a type the wildcard lacks: NODATA with the SOA",
			testQuery{name: "a.wild.gslb.example.com.", qtype: mdns.TypeAAAA, edns: -1}, mdns.RcodeSuccess, true,
			nil, nil, []string{soaNeg}, nil, -1},
		{"ANY at a wildcard: one RRset, synthesised",
			testQuery{name: "a.wild.gslb.example.com.", qtype: mdns.TypeANY, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"a.wild.gslb.example.com. 3600 IN A 192.0.2.99"}, nil, nil, nil, -1},
		{"the * name asked for itself is just a name (RFC 4592 2.2.2)",
			testQuery{name: "*.wild.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"*.wild.gslb.example.com. 3600 IN A 192.0.2.99"}, nil, nil, nil, -1},
		{"a name below the * name that exists",
			testQuery{name: "x.*.wild.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"x.*.wild.gslb.example.com. 3600 IN A 192.0.2.100"}, nil, nil, nil, -1},
		{"a name below the * name that does not exist: the closest encloser is *.wild, which has no * child",
			testQuery{name: "y.*.wild.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeNameError, true,
			nil, nil, []string{soaNeg}, nil, -1},
		{"the wildcard's parent itself is an empty non-terminal: NODATA",
			testQuery{name: "wild.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, true,
			nil, nil, []string{soaNeg}, nil, -1},
		{"a * name that is an empty non-terminal still matches: NODATA",
			testQuery{name: "foo.wild2.gslb.example.com.", qtype: mdns.TypeTXT, edns: -1}, mdns.RcodeSuccess, true,
			nil, nil, []string{soaNeg}, nil, -1},
		{"an existing name is never synthesised, even without the type",
			testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeTXT, edns: -1}, mdns.RcodeSuccess, true,
			nil, nil, []string{soaNeg}, nil, -1},
		{"a name next to the wildcard's parent: NXDOMAIN",
			testQuery{name: "a.wilder.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeNameError, true,
			nil, nil, []string{soaNeg}, nil, -1},
		{"below a delegation the referral wins over a wildcard there",
			testQuery{name: "x.sub.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, false,
			nil, nil, []string{"sub.gslb.example.com. 3600 IN NS ns1.sub.gslb.example.com."},
			[]string{"ns1.sub.gslb.example.com. 3600 IN A 192.0.2.53"}, -1},
		{"a wildcard CNAME: the chain is followed, its first CNAME owned by the name",
			testQuery{name: "Z.wc.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"Z.wc.gslb.example.com. 3600 IN CNAME www.gslb.example.com.", "www.gslb.example.com. 3600 IN A 192.0.2.80"}, nil, nil, nil, -1},
		{"a wildcard CNAME to a type the target lacks: NODATA",
			testQuery{name: "z.wc.gslb.example.com.", qtype: mdns.TypeMX, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"z.wc.gslb.example.com. 3600 IN CNAME www.gslb.example.com."}, nil, []string{soaNeg}, nil, -1},
		{"ANY at a wildcard CNAME: the CNAME alone",
			testQuery{name: "z.wc.gslb.example.com.", qtype: mdns.TypeANY, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"z.wc.gslb.example.com. 3600 IN CNAME www.gslb.example.com."}, nil, nil, nil, -1},
		{"CNAME asked for at a wildcard CNAME",
			testQuery{name: "z.wc.gslb.example.com.", qtype: mdns.TypeCNAME, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"z.wc.gslb.example.com. 3600 IN CNAME www.gslb.example.com."}, nil, nil, nil, -1},
		{"a CNAME to a name a wildcard stands for",
			testQuery{name: "cw.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"cw.gslb.example.com. 3600 IN CNAME foo.wild.gslb.example.com.", "foo.wild.gslb.example.com. 3600 IN A 192.0.2.99"}, nil, nil, nil, -1},
		{"a CNAME to a name a wildcard CNAME stands for",
			testQuery{name: "cwc.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"cwc.gslb.example.com. 3600 IN CNAME q.wc.gslb.example.com.", "q.wc.gslb.example.com. 3600 IN CNAME www.gslb.example.com.",
				"www.gslb.example.com. 3600 IN A 192.0.2.80"}, nil, nil, nil, -1},
		{"a wildcard CNAME to a service: a US client gets us-east",
			testQuery{name: "x.svc.gslb.example.com.", qtype: mdns.TypeA, subnet: "8.8.8.0/24"}, mdns.RcodeSuccess, true,
			[]string{"app.gslb.example.com. 30 IN A 198.51.100.10", "x.svc.gslb.example.com. 3600 IN CNAME app.gslb.example.com."}, nil, nil, nil, 15},
		{"a wildcard CNAME to a service: a UK client gets eu-west",
			testQuery{name: "Y.svc.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}, mdns.RcodeSuccess, true,
			nil, [][]string{
				{"Y.svc.gslb.example.com. 3600 IN CNAME app.gslb.example.com.", "app.gslb.example.com. 30 IN A 192.0.2.10"},
				{"Y.svc.gslb.example.com. 3600 IN CNAME app.gslb.example.com.", "app.gslb.example.com. 30 IN A 192.0.2.11"},
			}, nil, nil, 18},
		{"a wildcard CNAME to a service lacking the type for the client: NODATA",
			testQuery{name: "y.svc.gslb.example.com.", qtype: mdns.TypeAAAA, subnet: "81.2.69.0/24"}, mdns.RcodeSuccess, true,
			[]string{"y.svc.gslb.example.com. 3600 IN CNAME app.gslb.example.com."}, nil, []string{soaNeg}, nil, 18},
		{"a wildcard MX: its target's addresses in the additional section",
			testQuery{name: "host.wmx.gslb.example.com.", qtype: mdns.TypeMX, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"host.wmx.gslb.example.com. 3600 IN MX 10 mail.gslb.example.com."}, nil, nil,
			[]string{"mail.gslb.example.com. 3600 IN A 192.0.2.25", "mail.gslb.example.com. 3600 IN AAAA 2001:db8::25"}, -1},
		{"an MX whose target a wildcard stands for: the synthesised address",
			testQuery{name: "mxwild.gslb.example.com.", qtype: mdns.TypeMX, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"mxwild.gslb.example.com. 3600 IN MX 10 foo.wild.gslb.example.com."}, nil, nil,
			[]string{"foo.wild.gslb.example.com. 3600 IN A 192.0.2.99"}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, h) })
	}
}

// rfc4592Conf is the example zone of RFC 4592 section 2.2.1, its SOA and
// apex NS from the directives.
const rfc4592Conf = `
zone example {
    ns ns.example.com
    ns ns.example.net
    record *                 TXT   "this is a wildcard"
    record *                 MX    10 host1.example.
    record sub.*             TXT   "this is not a wildcard"
    record host1             HINFO "HINFO" "example"
    record _ssh._tcp.host1   SRV   0 0 22 host1.example.
    record _ssh._tcp.host2   SRV   0 0 22 host2.example.
    record subdel            NS    ns.example.com.
    record subdel            NS    ns.example.net.
}
`

// TestWildcardRFC4592 asks the questions of RFC 4592 sections 2.2.1 and
// 3.3.3 of its example zone; Knot 3.2 answers them alike.
func TestWildcardRFC4592(t *testing.T) {
	h := newTestHandler(t, rfc4592Conf)
	serial := h.Zones().Serial("example")
	soaNeg := fmt.Sprintf("example. 60 IN SOA ns.example.com. hostmaster.example. %d 3600 600 1209600 60", serial)
	nodata := func(name string, qtype uint16) answerCase {
		return answerCase{fmt.Sprintf("%s %s: NODATA", name, mdns.Type(qtype)),
			testQuery{name: name, qtype: qtype, edns: -1}, mdns.RcodeSuccess, true, nil, nil, []string{soaNeg}, nil, -1}
	}
	nxdomain := func(name string, qtype uint16) answerCase {
		return answerCase{fmt.Sprintf("%s %s: NXDOMAIN", name, mdns.Type(qtype)),
			testQuery{name: name, qtype: qtype, edns: -1}, mdns.RcodeNameError, true, nil, nil, []string{soaNeg}, nil, -1}
	}
	answer := func(name string, qtype uint16, rr string) answerCase {
		return answerCase{fmt.Sprintf("%s %s: synthesised", name, mdns.Type(qtype)),
			testQuery{name: name, qtype: qtype, edns: -1}, mdns.RcodeSuccess, true, []string{rr}, nil, nil, nil, -1}
	}
	for _, tc := range []answerCase{
		// Section 2.2.1: the wildcard matches.
		answer("host3.example.", mdns.TypeMX, "host3.example. 3600 IN MX 10 host1.example."),
		nodata("host3.example.", mdns.TypeA),
		answer("foo.bar.example.", mdns.TypeTXT, `foo.bar.example. 3600 IN TXT "this is a wildcard"`),
		// ... and does not.
		nodata("host1.example.", mdns.TypeMX),                 // host1 exists
		nodata("sub.*.example.", mdns.TypeMX),                 // sub.* exists
		nxdomain("_telnet._tcp.host1.example.", mdns.TypeSRV), // _tcp.host1 is an empty non-terminal: the closest encloser
		{"host.subdel.example. A: a referral", testQuery{name: "host.subdel.example.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, false,
			nil, nil, []string{"subdel.example. 3600 IN NS ns.example.com.", "subdel.example. 3600 IN NS ns.example.net."}, nil, -1},
		nxdomain("ghost.*.example.", mdns.TypeMX), // *.example is the closest encloser, without a * child
		// Section 3.3.3's closest encloser cases and the * name as itself.
		nodata("_ssh._tcp.host3.example.", mdns.TypeSRV),
		answer("_foo._udp.bar.example.", mdns.TypeMX, "_foo._udp.bar.example. 3600 IN MX 10 host1.example."),
		answer("*.example.", mdns.TypeTXT, `*.example. 3600 IN TXT "this is a wildcard"`),
		nodata("_tcp.host1.example.", mdns.TypeTXT),
		{"_ssh._tcp.host1.example. SRV: the record itself", testQuery{name: "_ssh._tcp.host1.example.", qtype: mdns.TypeSRV, edns: -1},
			mdns.RcodeSuccess, true, []string{"_ssh._tcp.host1.example. 3600 IN SRV 0 0 22 host1.example."}, nil, nil, nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, h) })
	}
}
