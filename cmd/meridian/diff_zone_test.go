package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// The zone of the differential tests against Knot and NSD
// (diff_e2e_test.go): one zone of static data with the cases authoritative
// servers get wrong, written once here and given to each server, to the
// reference as one zone file and to Meridian partly as `record` lines in
// its config and partly as a zone `file`, so that both ways in are
// covered. A wildcard NS, where Knot and NSD disagree, is not in it:
// Meridian refuses one at load.

// diffOrigin is the zone, as the queries write it.
const diffOrigin = "diff.example."

// diffSOA is the SOA's RDATA but the serial, which each server keeps.
var diffSOA = struct {
	mname, rname                    string
	refresh, retry, expire, minimum int
}{"ns1.diff.example.", "hostmaster.diff.example.", 7200, 900, 604800, 300}

// diffNS are the zone's name servers: two inside it with glue (one with
// an IPv6 address too), one outside it without.
var diffNS = []struct {
	name string
	glue []string
}{
	{"ns1.diff.example.", []string{"192.0.2.53", "2001:db8::53"}},
	{"ns2.diff.example.", []string{"192.0.2.54"}},
	{"ns.outside.test.", nil},
}

// diffRecord is one record of the zone in zone-file syntax, its owner
// relative to diffOrigin (or absolute, with a final dot).
type diffRecord struct {
	owner, typ, rdata string
	// inline puts the record in Meridian's config as a `record` line; the
	// others go to the zone file. The config quotes words its own way, so
	// RDATA with quotes or backslashes goes to the file.
	inline bool
}

// hexOf returns n deterministic hex digits derived from seed, for digests
// and fingerprints.
func hexOf(seed string, n int) string {
	var s string
	for i := 0; len(s) < n; i++ {
		sum := sha256.Sum256([]byte(fmt.Sprint(seed, i)))
		s += hex.EncodeToString(sum[:])
	}
	return s[:n]
}

// diffZone generates the zone's records but the SOA and the apex NS. The
// same call always gives the same records.
func diffZone() []diffRecord {
	var z []diffRecord
	add := func(inline bool, owner, typ, rdata string) {
		z = append(z, diffRecord{owner, typ, rdata, inline})
	}
	cfg := func(owner, typ, rdata string) { add(true, owner, typ, rdata) }
	file := func(owner, typ, rdata string) { add(false, owner, typ, rdata) }

	// The apex: MX with a target inside the zone (its address goes in the
	// additional section) and one outside.
	cfg("@", "A", "192.0.2.1")
	cfg("@", "MX", "10 mail")
	cfg("@", "MX", "20 mx.outside.test.")
	cfg("@", "TXT", `"v=spf1 -all"`)
	file("@", "CAA", `0 issue "ca.example.net"`)

	// Plain names; www has an RRset of several records.
	for _, a := range []string{"192.0.2.80", "192.0.2.81", "192.0.2.82"} {
		cfg("www", "A", a)
	}
	cfg("www", "AAAA", "2001:db8::80")
	cfg("www", "TXT", `"web server"`)
	cfg("mail", "A", "192.0.2.25")
	cfg("mail", "AAAA", "2001:db8::25")
	cfg("MiXeD", "A", "192.0.2.99")
	file("Upper.CASE.Diff.Example.", "A", "192.0.2.98")
	file("Upper.CASE.Diff.Example.", "TXT", `"Case Is Kept In Data"`)

	// SRV with targets inside the zone (additional section), outside it,
	// and "." (no service).
	cfg("_sip._tcp", "SRV", "10 60 5060 sip")
	cfg("_sip._tcp", "SRV", "20 0 5060 sip.outside.test.")
	cfg("sip", "A", "192.0.2.60")
	cfg("sip", "AAAA", "2001:db8::60")
	file("_none._tcp", "SRV", "0 0 0 .")

	// TXT: several strings, a long one, escapes, an empty string.
	file("txt", "TXT", `"multi" "string" "record"`)
	file("txt", "TXT", `"quote\" semicolon; escaped\; backslash\\ byte\255 tab\009 end"`)
	file("long", "TXT", `"`+strings.Repeat("0123456789abcdef", 16)[:255]+`" "`+strings.Repeat("long ", 20)+`"`)
	file("empty", "TXT", `""`)

	// Less common types, and unknown ones in RFC 3597 form.
	file("caa", "CAA", `0 issue "ca.example.net; account=1234"`)
	file("caa", "CAA", `0 iodef "mailto:security@diff.example"`)
	file("caa", "CAA", `128 tbs "critical unknown tag"`)
	cfg("80.ptr", "PTR", "www.diff.example.")
	file("naptr", "NAPTR", `100 10 "u" "E2U+sip" "!^.*$!sip:info@example.net!" .`)
	file("naptr", "NAPTR", `102 10 "s" "SIP+D2U" "" _sip._tcp.diff.example.`)
	file("sshfp", "SSHFP", "1 1 "+hexOf("sshfp rsa", 40))
	file("sshfp", "SSHFP", "4 2 "+hexOf("sshfp ed25519", 64))
	file("_443._tcp.www", "TLSA", "3 1 1 "+hexOf("tlsa", 64))
	file("hinfo", "HINFO", `"x86_64" "Linux"`)
	file("svc", "HTTPS", "1 . alpn=h2,h3 port=8443")
	file("unk", "TYPE65280", `\# 4 0a000001`)
	file("unk", "TYPE65280", `\# 0`)
	file("generic", "TYPE1", `\# 4 c0000202`) // an A record, written generically

	// CNAMEs: a chain of three inside the zone (its last target in upper
	// case), one step, one leaving the zone, one to a name that does not
	// exist, a loop, one into a delegation, one to a name a wildcard
	// synthesises.
	cfg("c1", "CNAME", "c2")
	cfg("c2", "CNAME", "c3")
	cfg("c3", "CNAME", "WWW")
	cfg("alias", "CNAME", "www")
	cfg("out", "CNAME", "www.outside.test.")
	cfg("dangling", "CNAME", "nothere")
	cfg("loop1", "CNAME", "loop2")
	cfg("loop2", "CNAME", "loop1")
	file("cdeleg", "CNAME", "host.sub")
	file("cwild", "CNAME", "host.wild")

	// An empty non-terminal: a.b and b exist only because deep.a.b does.
	cfg("deep.a.b", "A", "192.0.2.7")

	// Delegations: one with glue and a DS, one with name servers outside
	// the zone only, one whose name servers are the zone's own (sibling
	// glue).
	cfg("sub", "NS", "ns1.sub")
	cfg("sub", "NS", "ns.outside.test.")
	cfg("ns1.sub", "A", "192.0.2.100")
	cfg("ns1.sub", "AAAA", "2001:db8::100")
	cfg("sub", "DS", "12345 13 2 "+hexOf("ds", 64))
	file("nogl", "NS", "ns.outside.test.")
	file("nogl", "NS", "ns.other.test.")
	file("sibling", "NS", "ns1")
	file("sibling", "NS", "ns2")
	// An MX whose target is below the cut, where the zone has only glue.
	cfg("mxcut", "MX", "10 ns1.sub")

	// Wildcards (RFC 4592): *.wild with an A, an MX whose target is in the
	// zone and a TXT, a name beside it that exists, an empty non-terminal
	// below its parent, and a wildcard CNAME.
	file("*.wild", "A", "192.0.2.200")
	file("*.wild", "MX", "10 mail")
	file("*.wild", "TXT", `"wildcard"`)
	file("exists.wild", "A", "192.0.2.201")
	file("x.ent.wild", "A", "192.0.2.202")
	file("*.walias", "CNAME", "www")

	// RFC 4592 section 2.2.1's example zone, below r4592 instead of the
	// apex of example.
	file("*.r4592", "TXT", `"this is a wildcard"`)
	file("*.r4592", "MX", "10 host1.r4592")
	file("sub.*.r4592", "TXT", `"this is not a wildcard"`)
	file("host1.r4592", "A", "192.0.2.41")
	file("_ssh._tcp.host1.r4592", "SRV", "0 0 22 host1.r4592")
	file("_ssh._tcp.host2.r4592", "SRV", "0 0 22 host2.r4592")
	file("subdel.r4592", "NS", "ns.example.com.")
	file("subdel.r4592", "NS", "ns.example.net.")

	// big needs TC over UDP at 512 bytes and fits in 1232; huge needs TC
	// at 1232 and fits over TCP.
	for i := 1; i <= 40; i++ {
		file("big", "A", fmt.Sprintf("198.51.100.%d", i))
	}
	for i := 1; i <= 8; i++ {
		file("huge", "TXT", fmt.Sprintf(`"%d %s"`, i, strings.Repeat("x", 197)))
	}
	return z
}

// referenceZoneFile writes the whole zone as one zone file for Knot and
// NSD, SOA and apex NS with their glue first.
func referenceZoneFile(recs []diffRecord, serial uint32) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 3600\n", diffOrigin)
	fmt.Fprintf(&b, "@ SOA %s %s %d %d %d %d %d\n", diffSOA.mname, diffSOA.rname, serial,
		diffSOA.refresh, diffSOA.retry, diffSOA.expire, diffSOA.minimum)
	for _, ns := range diffNS {
		fmt.Fprintf(&b, "@ NS %s\n", ns.name)
	}
	for _, ns := range diffNS {
		for _, g := range ns.glue {
			typ := "A"
			if strings.Contains(g, ":") {
				typ = "AAAA"
			}
			fmt.Fprintf(&b, "%s %s %s\n", ns.name, typ, g)
		}
	}
	for _, r := range recs {
		fmt.Fprintf(&b, "%s %s %s\n", r.owner, r.typ, r.rdata)
	}
	return b.String()
}

// meridianZone writes the zone for Meridian: the zone block of its config,
// which names file for the records that are not inline, and that file.
func meridianZone(recs []diffRecord, file string) (block, zoneFile string) {
	var b, f strings.Builder
	fmt.Fprintf(&b, "zone %s {\n", strings.TrimSuffix(diffOrigin, "."))
	fmt.Fprintf(&b, "    soa %s %s {\n        refresh %d\n        retry %d\n        expire %d\n        minimum %d\n    }\n",
		strings.TrimSuffix(diffSOA.mname, "."), strings.TrimSuffix(diffSOA.rname, "."),
		diffSOA.refresh, diffSOA.retry, diffSOA.expire, diffSOA.minimum)
	for _, ns := range diffNS {
		fmt.Fprintf(&b, "    ns %s %s\n", strings.TrimSuffix(ns.name, "."), strings.Join(ns.glue, " "))
	}
	b.WriteString("    ttl 3600\n")
	fmt.Fprintf(&f, "$ORIGIN %s\n$TTL 3600\n", diffOrigin)
	for _, r := range recs {
		if r.inline {
			fmt.Fprintf(&b, "    record %s %s %s\n", r.owner, r.typ, r.rdata)
		} else {
			fmt.Fprintf(&f, "%s %s %s\n", r.owner, r.typ, r.rdata)
		}
	}
	fmt.Fprintf(&b, "    file %s\n}\n", file)
	return b.String(), f.String()
}
