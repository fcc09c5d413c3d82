package main

import (
	"fmt"
	"slices"
	"strings"
)

// The differences from Knot and NSD that testDifferential tolerates, each
// for the queries it names and no others, with the RFC or the documented
// behaviour that allows it. Where Knot and NSD disagree with each other,
// the why says which one Meridian follows and why.

// knotAllowed is every difference from Knot the test tolerates.
var knotAllowed = []diffAllowance{
	anyAtApex,
	cdCopied,
	type0,
	chaosAA,
	subnetEchoed,
	targetBelowCut,
	classANYNotAuthoritative,
}

// nsdAllowed is every difference from NSD the test tolerates.
var nsdAllowed = []diffAllowance{
	cdCopied,
	chaosAA,
	subnetEchoed,
	targetAddresses,
	classANYNegative,
	errorQuestion,
}

// cdCopied, chaosAA and subnetEchoed are differences from both servers:
// Knot and NSD agree there, and Meridian follows neither.
var (
	cdCopied = diffAllowance{
		queries: []string{"www.diff.example. A +cdflag", "nope.diff.example. A +cdflag", "diff.example. SOA +dnssec +cdflag"},
		rfc:     "RFC 4035 section 3",
		why: "\"a security-aware name server MUST copy the CD bit from a query into the " +
			"corresponding response\": Meridian copies it; Knot and NSD, serving an unsigned " +
			"zone, clear it.",
		equalize: onlyMeridianSets("cd"),
	}
	chaosAA = diffAllowance{
		queries: []string{"version.bind. TXT -c CH", "version.server. TXT -c CH"},
		rfc:     "RFC 4892 section 2.2",
		why: "the CHAOS TXT identity names are a BIND convention that no RFC specifies; nothing " +
			"says whether the answer is authoritative. Meridian sets AA as BIND, where the " +
			"convention comes from, does; Knot and NSD do not.",
		equalize: onlyMeridianSets("aa"),
	}
	subnetEchoed = diffAllowance{
		queries: []string{"www.diff.example. A +subnet=192.0.2.0/24"},
		rfc:     "RFC 7871 sections 7.1.3 and 7.2.1",
		why: "Knot has ECS off and NSD does not implement it: both ignore the option, as a " +
			"server that does not implement it does (RFC 6891 section 6.1.2); Meridian " +
			"implements it and echoes the option with scope 0, since a static answer is the " +
			"same for every client.",
		equalize: func(m, r *dnsReply, _ func(string) *dnsReply) error {
			const echo = "CLIENT-SUBNET: 192.0.2.0/24/0"
			if m.opt == nil || r.opt == nil || !slices.Equal(slices.DeleteFunc(slices.Clone(m.opt.options),
				func(o string) bool { return o == echo }), r.opt.options) || !slices.Contains(m.opt.options, echo) {
				return fmt.Errorf("meridian's options are not the reference's plus %q", echo)
			}
			m.opt.options = r.opt.options
			return nil
		},
	}
)

// anyAtApex, type0 and targetBelowCut are where Knot and NSD disagree and
// Meridian follows NSD.
var (
	anyAtApex = diffAllowance{
		queries: []string{"diff.example. ANY", "diff.example. ANY +tcp"},
		rfc:     "RFC 8482 section 4.2",
		why: "ANY may be answered with one RRset of the responder's choosing; at the apex " +
			"Knot picks the A RRset, and NSD and Meridian the SOA. Meridian's reply must be " +
			"exactly Knot's reply to that one type.",
		equalize: func(m, r *dnsReply, ref func(string) *dnsReply) error {
			for _, typ := range []string{"SOA", "NS", "A", "MX", "TXT", "CAA"} {
				if d := ref(diffOrigin + " " + typ); d != nil && sameReply(m, d) {
					m.answer, m.authority, m.additional = r.answer, r.authority, r.additional
					return nil
				}
			}
			return fmt.Errorf("meridian's reply is not the reply to one RRset of the apex")
		},
	}
	type0 = diffAllowance{
		queries: []string{"www.diff.example. TYPE0"},
		rfc:     "RFC 6895 section 3.1",
		why: "type 0 is reserved and never allocated, and no RFC says how to answer a query for " +
			"it: Knot answers NOTIMP; NSD and Meridian that the name has no such records " +
			"(NODATA), as for any type a name lacks. Meridian's reply must be Knot's to a type " +
			"no name has (TYPE65534).",
		equalize: func(m, r *dnsReply, ref func(string) *dnsReply) error {
			if !sameReply(m, ref("www.diff.example. TYPE65534")) {
				return fmt.Errorf("meridian's reply is not NODATA as for TYPE65534")
			}
			m.status, m.flags, m.answer, m.authority, m.additional = r.status, r.flags, r.answer, r.authority, r.additional
			return nil
		},
	}
	targetBelowCut = diffAllowance{
		queries: []string{"mxcut.diff.example. MX"},
		rfc:     "RFC 1034 sections 4.2.1 and 4.3.2",
		why: "the MX target ns1.sub is below the zone cut at sub, where the zone holds only " +
			"glue, which is \"not technically part of the authoritative data\" (section " +
			"4.2.1), and the additional section is optional (section 4.3.2 step 6). Knot adds " +
			"the glue as the target's addresses; NSD adds no glue for MX and SRV targets " +
			"(add_additional_rrsets in its query.c), nor does Meridian, which follows NSD: " +
			"the child's servers are the authority for those addresses. Knot's additional " +
			"section must be the glue of its referral for sub.",
		equalize: func(m, r *dnsReply, ref func(string) *dnsReply) error {
			glue := ref("sub.diff.example. A").additional
			if len(m.additional) > 0 || len(r.additional) == 0 ||
				slices.ContainsFunc(r.additional, func(rr string) bool { return !slices.Contains(glue, rr) }) {
				return fmt.Errorf("meridian's additional section is not empty, or knot's is not glue for sub")
			}
			m.additional = r.additional
			return nil
		},
	}
)

// targetAddresses, classANYNegative and errorQuestion are differences
// from NSD alone: Meridian follows Knot.
var (
	targetAddresses = diffAllowance{
		queries: []string{
			"diff.example. MX", "a.wild.diff.example. MX", "c.b.a.wild.diff.example. MX",
			"*.wild.diff.example. MX", "cwild.diff.example. MX", "host3.r4592.diff.example. MX",
			"*.r4592.diff.example. MX", "_sip._tcp.diff.example. SRV", "_SIP._TCP.diff.example. SRV",
			"_ssh._tcp.host1.r4592.diff.example. SRV",
		},
		rfc: "RFC 2782 and RFC 1034 section 4.3.2",
		why: "the addresses of MX and SRV targets in the additional section are optional " +
			"(RFC 2782: \"Implementors are urged, but not required, to return the address " +
			"record(s) in the Additional Data section\"; RFC 1034 section 4.3.2 step 6). NSD " +
			"adds them by default and leaves them out with minimal-responses, which the test " +
			"turns on (startNSD); Meridian adds them, as Knot does. Meridian's additional " +
			"section must hold exactly NSD's own answers to A and AAAA for each target in " +
			"the zone.",
		equalize: func(m, r *dnsReply, ref func(string) *dnsReply) error {
			if len(r.additional) > 0 {
				return fmt.Errorf("nsd's additional section is not empty")
			}
			var want []string
			var targets []string
			for _, rr := range m.answer {
				target := rdataName(rr)
				if target == "" || !strings.HasSuffix(target, "."+diffOrigin) || slices.Contains(targets, target) {
					continue
				}
				targets = append(targets, target)
				for _, typ := range []string{"A", "AAAA"} {
					d := ref(target + " " + typ)
					if d == nil {
						return fmt.Errorf("the battery does not ask %s %s, which would give the addresses", target, typ)
					}
					want = append(want, d.answer...)
				}
			}
			slices.Sort(want)
			if !slices.Equal(m.additional, want) {
				return fmt.Errorf("meridian's additional section is not nsd's A and AAAA answers for %v: %q", targets, want)
			}
			m.additional = r.additional
			return nil
		},
	}
	classANYNegative = diffAllowance{
		queries: []string{"nope.diff.example. A -c ANY"},
		rfc:     "RFC 2308 section 3, RFC 1034 section 3.7.1",
		why: "a response to QCLASS=* is never authoritative (RFC 1034 section 3.7.1), and the " +
			"SOA that RFC 2308 requires in a negative answer is required of \"name servers " +
			"authoritative for a zone\": NSD leaves it out for QCLASS=*. Meridian adds it, " +
			"as Knot does; it makes the NXDOMAIN cacheable (RFC 2308 section 5). This allows " +
			"the SOA alone, not the AA bit.",
		equalize: func(m, r *dnsReply, ref func(string) *dnsReply) error {
			soa := ref("nope.diff.example. A").authority
			if len(r.authority) > 0 || !slices.Equal(m.authority, soa) {
				return fmt.Errorf("meridian's authority section is not the SOA of an NXDOMAIN, or nsd's is not empty")
			}
			m.authority = r.authority
			return nil
		},
	}
	classANYNotAuthoritative = diffAllowance{
		queries: []string{"www.diff.example. A -c ANY", "nope.diff.example. A -c ANY"},
		rfc:     "RFC 1034 section 3.7.1",
		why: "\"responses to QCLASS=* queries can never be authoritative\": Meridian clears AA " +
			"there, as NSD does; Knot sets it.",
		equalize: onlyReferenceSets("aa"),
	}
	errorQuestion = diffAllowance{
		queries: []string{"www.diff.example. A -c CLASS4"},
		rfc:     "RFC 1035 section 4.1.2, RFC 5452 section 3",
		why: "no RFC requires an error response to repeat the question (section 4.1.2: the " +
			"question section carries the question \"in most queries\"). NSD drops it from the " +
			"errors it makes itself (query_error in its query.c), REFUSED for a class it does " +
			"not serve among them; Knot and Meridian repeat it, which lets a resolver match the " +
			"reply to its query (RFC 5452 section 3). The rest must be the same REFUSED.",
		equalize: func(m, r *dnsReply, _ func(string) *dnsReply) error {
			if r.question != "" || m.question == "" || m.status != "REFUSED" {
				return fmt.Errorf("not a REFUSED that nsd answers without the question and meridian with it")
			}
			m.question, m.warnings = r.question, r.warnings
			return nil
		},
	}
)

// onlyMeridianSets allows a header flag that Meridian sets and the
// reference does not, the other flags the same.
func onlyMeridianSets(flag string) func(m, r *dnsReply, _ func(string) *dnsReply) error {
	return func(m, r *dnsReply, _ func(string) *dnsReply) error {
		if !slices.Contains(m.flags, flag) || slices.Contains(r.flags, flag) ||
			!slices.Equal(slices.DeleteFunc(slices.Clone(m.flags), func(f string) bool { return f == flag }), r.flags) {
			return fmt.Errorf("the flags differ by more than %s: meridian %v, reference %v", strings.ToUpper(flag), m.flags, r.flags)
		}
		m.flags = r.flags
		return nil
	}
}

// onlyReferenceSets allows a header flag that the reference sets and
// Meridian does not, the other flags the same.
func onlyReferenceSets(flag string) func(m, r *dnsReply, _ func(string) *dnsReply) error {
	return func(m, r *dnsReply, _ func(string) *dnsReply) error {
		if slices.Contains(m.flags, flag) || !slices.Contains(r.flags, flag) ||
			!slices.Equal(slices.DeleteFunc(slices.Clone(r.flags), func(f string) bool { return f == flag }), m.flags) {
			return fmt.Errorf("the flags differ by more than %s: meridian %v, reference %v", strings.ToUpper(flag), m.flags, r.flags)
		}
		m.flags = r.flags
		return nil
	}
}

// sameReply reports whether a and b have the same rcode, flags and
// sections.
func sameReply(a, b *dnsReply) bool {
	return b != nil && a.status == b.status && slices.Equal(a.flags, b.flags) &&
		slices.Equal(a.answer, b.answer) && slices.Equal(a.authority, b.authority) &&
		slices.Equal(a.additional, b.additional)
}

// rdataName returns the target of a normalised MX or SRV record, "" for
// other types.
func rdataName(rr string) string {
	f := strings.Fields(rr) // owner class type rdata...
	switch {
	case len(f) == 5 && f[2] == "MX":
		return f[4]
	case len(f) == 7 && f[2] == "SRV":
		return f[6]
	}
	return ""
}
