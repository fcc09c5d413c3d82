package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/internal/knottest"
	"github.com/meridian-gtm/meridian/internal/nsdtest"
)

// TestKnotDifferential compares Meridian with Knot DNS (testDifferential).
func TestKnotDifferential(t *testing.T) {
	testDifferential(t, reference{name: "knot", start: startKnot, allowed: knotAllowed})
}

// TestNSDDifferential compares Meridian with NSD (testDifferential).
func TestNSDDifferential(t *testing.T) {
	testDifferential(t, reference{name: "nsd", start: startNSD, allowed: nsdAllowed})
}

// startKnot serves the zone from one file, loaded whole, never written
// back or journalled, without DNSSEC, and without the server identity
// options Meridian leaves off by default (NSID, id.server); knotd merges
// this server: section into the one knottest writes. The version text is
// the one Meridian's config gets too, so that version.bind can be
// compared.
func startKnot(t *testing.T, zoneFile string) string {
	return knottest.Start(t, `server:
    nsid: ""
    identity: ""
    version: "`+diffVersion+`"
    answer-rotation: off
zone:
  - domain: `+diffOrigin+`
    file: "{dir}/diff.example.zone"
    semantic-checks: off
    zonefile-load: whole
    zonefile-sync: -1
    journal-content: none
    dnssec-signing: off
`, map[string]string{"diff.example.zone": zoneFile}).Port
}

// startNSD serves the zone from one file, with the version text
// Meridian's config gets and without id.server, which Meridian leaves off
// by default (NSID is off in NSD by default too). nsd reads this server:
// section with the one nsdtest writes.
//
// minimal-responses: by default NSD adds the zone's NS RRset to the
// authority section of every answer with data, and the name servers'
// addresses to the additional section (optional data, which RFC 1035
// section 4.1 allows and Knot and Meridian leave out), so that nearly
// every query would differ. With it on, NSD adds only what a referral
// needs, and leaves out the optional addresses of MX and SRV targets too:
// nsdAllowed names those queries, and checks Meridian's addresses against
// NSD's own answers for the targets.
func startNSD(t *testing.T, zoneFile string) string {
	return nsdtest.Start(t, `server:
    version: "`+diffVersion+`"
    hide-identity: yes
    minimal-responses: yes
zone:
    name: `+diffOrigin+`
    zonefile: "{dir}/diff.example.zone"
`, map[string]string{"diff.example.zone": zoneFile}).Port
}

// testDifferential asks Meridian and a reference server the same
// questions about the same static zone (diff_zone_test.go) with the real
// kdig, and wants the same rcode, flags, and the same RRsets in every
// section, TTLs, order and the SOA serial aside. Where the RFCs let two
// servers answer differently, ref.allowed says so for that query alone,
// with the RFC; everything else must match. TestKnotDifferential and
// TestNSDDifferential run it against Knot DNS and NSD.
func testDifferential(t *testing.T, ref reference) {
	kdigBin, err := exec.LookPath("kdig")
	if err != nil {
		t.Fatal("kdig is not installed: run `make test` as root, or apt-get install knot-dnsutils")
	}
	recs := diffZone()
	refPort := ref.start(t, referenceZoneFile(recs, 1))
	waitZoneLoaded(t, kdigBin, ref.name, refPort)

	// Meridian: the same records, with no cluster and no global service
	// (the reference has none, and the config needs neither).
	dir := t.TempDir()
	zoneFile := filepath.Join(dir, "diff.example.zone")
	block, fileText := meridianZone(recs, zoneFile)
	if err := os.WriteFile(zoneFile, []byte(fileText), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startMeridian(t, `meridian {
    dns   127.0.0.1:0
    http  127.0.0.1:0
    chaos version "`+diffVersion+`"
}
`+block)

	queries := diffQueries(recs)
	if len(queries) < 100 {
		t.Fatalf("the battery has %d queries; the issue asks for at least 100", len(queries))
	}
	start := time.Now()
	mer := askAll(kdigBin, p.dnsPort, queries)
	other := askAll(kdigBin, refPort, queries)
	t.Logf("%d queries to each server in %v", len(queries), time.Since(start).Round(time.Millisecond))

	refReply := map[string]*dnsReply{}
	for i, q := range queries {
		refReply[q.key()] = other[i]
	}
	allowed := map[string]diffAllowance{}
	for _, a := range ref.allowed {
		for _, k := range a.queries {
			if _, ok := refReply[k]; !ok {
				t.Errorf("the allowed differences name %q, which is not in the battery", k)
			}
			if _, ok := allowed[k]; ok {
				t.Errorf("the allowed differences name %q twice", k)
			}
			allowed[k] = a
		}
	}
	var failed []string
	for i, q := range queries {
		t.Run(q.key(), func(t *testing.T) {
			m, r := mer[i].clone(), other[i].clone()
			if m.err != "" || r.err != "" {
				t.Fatalf("%s\nmeridian: %s\n%s: %s\n%s", q.command(), m.err, ref.name, r.err, sideBySide(ref.name, mer[i], other[i]))
			}
			var diffs []string
			// The question comes back as asked, in its case: resolvers
			// that randomise the case of their queries rely on it.
			if m.question != q.question() {
				diffs = append(diffs, fmt.Sprintf("question: meridian %q, asked %q", m.question, q.question()))
			}
			if a, ok := allowed[q.key()]; ok {
				if len(compareReplies(ref.name, m, r)) == 0 {
					t.Logf("allowed difference (%s) not seen: the servers agree", a.rfc)
				} else if err := a.equalize(m, r, func(key string) *dnsReply { return refReply[key] }); err != nil {
					diffs = append(diffs, fmt.Sprintf("the difference %s allows does not hold: %v", a.rfc, err))
				}
			}
			if diffs = append(diffs, compareReplies(ref.name, m, r)...); len(diffs) > 0 {
				failed = append(failed, q.key())
				t.Errorf("%s\n  %s\n%s", q.command(), strings.Join(diffs, "\n  "), sideBySide(ref.name, mer[i], other[i]))
			}
		})
	}
	if len(failed) > 0 {
		t.Logf("%d of %d queries differ:\n  %s", len(failed), len(queries), strings.Join(failed, "\n  "))
	}
}

// reference is a server Meridian is compared with.
type reference struct {
	name string // in messages: knot, nsd
	// start serves zoneFile, the whole zone as one RFC 1035 zone file,
	// and returns the port the server answers on at 127.0.0.1.
	start func(t *testing.T, zoneFile string) (port string)
	// allowed lists the differences from this server the test tolerates.
	allowed []diffAllowance
}

// diffVersion is the version.bind text of every server.
const diffVersion = "differential test"

// waitZoneLoaded waits until the server named name answers for the zone:
// Knot answers REFUSED while the zone file is still loading (NSD reads its
// zones before it answers).
func waitZoneLoaded(t *testing.T, kdigBin, name, port string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := ask(kdigBin, port, diffQuery{name: diffOrigin, typ: "SOA"})
		if r.status == "NOERROR" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not serve %s after 20s:\n%s", name, diffOrigin, r.raw)
		}
	}
}

// diffQuery is one question of the battery.
type diffQuery struct {
	name, typ string
	// opts are kdig's options: +flags, and -c CLASS.
	opts []string
}

// key names the query in subtests and in the allowed differences.
func (q diffQuery) key() string {
	return strings.Join(append([]string{q.name, q.typ}, q.opts...), " ")
}

// question is the query's question section as kdig prints it.
func (q diffQuery) question() string {
	return strings.Join([]string{q.name, classOf(q), q.typ}, " ")
}

// command is the kdig command line that asks the query, less the server.
func (q diffQuery) command() string {
	return "kdig " + strings.Join(q.args(), " ")
}

func (q diffQuery) args() []string {
	// +ignore: a truncated answer is what is compared, not kdig's retry
	// over TCP. +noidn: the name goes out in the case it is written in
	// (IDN processing would lower it).
	return append([]string{"+ignore", "+noidn", "+time=3", "+retry=2", "-q", q.name, "-t", q.typ}, q.opts...)
}

// diffQueries is the battery: every name of the zone with each of its
// types and one it lacks, then the cases of the RFCs one by one.
func diffQueries(recs []diffRecord) []diffQuery {
	abs := func(name string) string {
		switch {
		case name == "@":
			return diffOrigin
		case strings.HasSuffix(name, "."):
			return name
		}
		return name + "." + diffOrigin
	}
	var out []diffQuery
	seen := map[string]bool{}
	q := func(name, typ string, opts ...string) {
		dq := diffQuery{name: abs(name), typ: typ, opts: opts}
		if !seen[dq.key()] {
			seen[dq.key()] = true
			out = append(out, dq)
		}
	}

	// Every name with each of its types and one it lacks.
	types := map[string][]string{"@": {"SOA", "NS"}}
	owners := []string{"@"}
	for _, ns := range diffNS {
		if len(ns.glue) > 0 {
			owners = append(owners, ns.name)
			types[ns.name] = []string{"A"}
		}
	}
	for _, r := range recs {
		if _, ok := types[r.owner]; !ok {
			owners = append(owners, r.owner)
		}
		typ := r.typ
		if typ == "TYPE1" { // kdig asks and prints it as A
			typ = "A"
		}
		if !slices.Contains(types[r.owner], typ) {
			types[r.owner] = append(types[r.owner], typ)
		}
	}
	for _, o := range owners {
		for _, typ := range types[o] {
			q(o, typ)
		}
		for _, lack := range []string{"AAAA", "MX", "TXT"} {
			if !slices.Contains(types[o], lack) {
				q(o, lack)
				break
			}
		}
	}

	// The apex.
	q("@", "DS")
	q("@", "DNSKEY")
	q("@", "ANY")
	q("@", "ANY", "+tcp")
	q("ns2", "AAAA")

	// Names that do not exist (NXDOMAIN) and empty non-terminals (NODATA).
	q("nope", "A")
	q("nope", "ANY")
	q("nope.www", "A")
	q("a.b", "A")
	q("b", "A")
	q("b", "ANY")
	q("x.a.b", "A")
	q("_tcp", "SRV")
	q("ptr", "PTR")
	q("_tcp.www", "TLSA")
	q("nothere", "A")

	// Case: the question's case is kept, names match in any case.
	q("WwW.DiFf.ExAmPlE.", "A")
	q("mixed", "A")
	q("MIXED.DIFF.EXAMPLE.", "A")
	q("upper.case", "A")
	q("UPPER.case", "TXT")
	q("NoPe", "A")
	q("A.WILD", "A")
	q("HOST.SUB", "A")
	q("C1", "A")
	q("_SIP._TCP", "SRV")

	// CNAMEs, followed for the types the chain's end has and not.
	q("c1", "A")
	q("c1", "AAAA")
	q("c1", "TXT")
	q("c1", "MX")
	q("c1", "ANY")
	q("c2", "A")
	q("C3", "AAAA")
	q("alias", "A")
	q("alias", "MX")
	q("alias", "ANY")
	q("out", "A")
	q("out", "ANY")
	q("dangling", "A")
	q("dangling", "CNAME")
	q("loop1", "A")
	q("loop2", "TXT")
	q("cdeleg", "A")
	q("cwild", "A")
	q("cwild", "MX")

	// Delegations: referrals for the cut and everything below it, but the
	// DS at the cut is the parent's.
	q("sub", "A")
	q("sub", "SOA")
	q("sub", "ANY")
	q("host.sub", "A")
	q("deep.host.sub", "AAAA")
	q("host.sub", "DS")
	q("ns1.sub", "AAAA")
	q("nogl", "DS")
	q("host.nogl", "A")
	q("sibling", "A")
	q("www.sibling", "AAAA")
	q("sub", "DS", "+dnssec")

	// Wildcards (RFC 4592): synthesised at several depths, NODATA from a
	// wildcard, names that exist beside it, empty non-terminals.
	q("a.wild", "A")
	q("a.wild", "MX")
	q("a.wild", "TXT")
	q("a.wild", "AAAA")
	q("a.wild", "ANY")
	q("b.a.wild", "A")
	q("c.b.a.wild", "MX")
	q("Host.Wild", "TXT")
	q("wild", "A")
	q("exists.wild", "MX")
	q("ent.wild", "A")
	q("y.ent.wild", "A")
	q("sub.exists.wild", "A")
	q("foo.walias", "A")
	q("foo.walias", "AAAA")
	q("foo.walias", "MX")
	q("foo.walias", "CNAME")
	q("a.b.walias", "TXT")
	q("walias", "A")
	// RFC 4592 section 2.2.1's queries.
	q("host3.r4592", "MX")
	q("host3.r4592", "A")
	q("foo.bar.r4592", "TXT")
	q("host1.r4592", "MX")
	q("sub.*.r4592", "MX")
	q("_telnet._tcp.host1.r4592", "SRV")
	q("host.subdel.r4592", "A")
	q("ghost.*.r4592", "MX")
	q("host2.r4592", "A")
	q("r4592", "TXT")

	// Sizes: no EDNS means 512 bytes, EDNS sizes below 512 count as 512
	// (RFC 6891 section 6.2.5), TCP has room for all.
	q("big", "A", "+bufsize=512")
	q("big", "A", "+bufsize=100")
	q("big", "A", "+bufsize=1232")
	q("big", "A", "+tcp")
	q("huge", "TXT", "+bufsize=1232")
	q("huge", "TXT", "+bufsize=4096")
	q("huge", "TXT", "+tcp")
	q("long", "TXT", "+bufsize=512")

	// Header flags and EDNS.
	q("www", "A", "+nordflag")
	q("nope", "A", "+nordflag")
	q("www", "A", "+cdflag")
	q("nope", "A", "+cdflag")
	q("www", "A", "+adflag")
	q("www", "A", "+edns")
	q("www", "A", "+dnssec")
	q("nope", "A", "+dnssec")
	q("@", "SOA", "+dnssec", "+cdflag")
	q("www", "A", "+edns=1")
	q("nope", "A", "+edns=1")
	q("www", "A", "+ednsopt=65001:abcd")
	q("www", "A", "+ednsopt=65001")
	q("www", "A", "+nsid")
	q("www", "A", "+cookie")
	q("www", "A", "+subnet=192.0.2.0/24")
	q("www", "A", "+tcp")
	q("nope", "A", "+tcp")
	q("www", "AAAA", "+tcp", "+dnssec")
	q("www", "TYPE0")
	q("www", "TYPE65534")
	q("www", "RRSIG", "+dnssec")
	q("@", "NSEC")

	// Outside the zone, and classes other than IN.
	q("www.outside.test.", "A")
	q("example.", "SOA")
	q(".", "NS")
	q("xdiff.example.", "A")
	q("www", "A", "-c", "CH")
	q("www", "A", "-c", "ANY")
	q("nope", "A", "-c", "ANY")
	q("www", "A", "-c", "CLASS4")
	q("version.bind.", "TXT", "-c", "CH")
	q("version.server.", "TXT", "-c", "CH")
	q("id.server.", "TXT", "-c", "CH")
	return out
}

// dnsReply is what kdig printed for one query, parsed and normalised:
// names in lower case, no TTLs, no SOA serial, each section sorted.
type dnsReply struct {
	raw                           string   // kdig's output, for the failure message
	err                           string   // kdig failed: no reply to compare
	warnings                      []string // kdig's warnings about the reply
	status                        string
	flags                         []string
	question                      string
	answer, authority, additional []string
	opt                           *ednsInfo // nil when the reply has no OPT record
}

// ednsInfo is the reply's OPT record.
type ednsInfo struct {
	version, flags, extRcode string
	size                     int
	options                  []string // NSID, COOKIE, CLIENT-SUBNET... lines
}

func (r *dnsReply) clone() *dnsReply {
	c := *r
	c.flags, c.warnings = slices.Clone(r.flags), slices.Clone(r.warnings)
	c.answer, c.authority, c.additional = slices.Clone(r.answer), slices.Clone(r.authority), slices.Clone(r.additional)
	if r.opt != nil {
		o := *r.opt
		o.options = slices.Clone(r.opt.options)
		c.opt = &o
	}
	return &c
}

// askAll asks every query of the battery at port, four kdig processes at a time.
func askAll(kdigBin, port string, queries []diffQuery) []*dnsReply {
	out := make([]*dnsReply, len(queries))
	idx := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				out[i] = ask(kdigBin, port, queries[i])
			}
		}()
	}
	for i := range queries {
		idx <- i
	}
	close(idx)
	wg.Wait()
	return out
}

var ednsRe = regexp.MustCompile(`^;; Version: (\d+); flags: ([a-z ]*); UDP size: (\d+) B; ext-rcode: (\w+)`)

// ask runs kdig against 127.0.0.1:port and parses what it prints.
func ask(kdigBin, port string, q diffQuery) *dnsReply {
	out, err := exec.Command(kdigBin, append([]string{"@127.0.0.1", "-p", port}, q.args()...)...).CombinedOutput()
	r := &dnsReply{raw: string(out)}
	if err != nil {
		r.err = err.Error()
	}
	section := ""
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, ";; ->>HEADER<<-"):
			if m := statusRe.FindStringSubmatch(line); m != nil {
				r.status = m[1]
			}
		case strings.HasPrefix(line, ";; Flags:"):
			if m := flagsRe.FindStringSubmatch(line); m != nil {
				r.flags = strings.Fields(m[1])
				slices.Sort(r.flags)
			}
		case strings.HasPrefix(line, ";; WARNING:"):
			r.warnings = append(r.warnings, strings.TrimPrefix(line, ";; WARNING: "))
		case strings.HasPrefix(line, ";; ERROR:"):
			r.err = strings.TrimSpace(r.err + " " + line)
		case line == ";; EDNS PSEUDOSECTION:":
			section, r.opt = "opt", &ednsInfo{}
		case line == ";; QUESTION SECTION:":
			section = "question"
		case line == ";; ANSWER SECTION:":
			section = "answer"
		case line == ";; AUTHORITY SECTION:":
			section = "authority"
		case line == ";; ADDITIONAL SECTION:":
			section = "additional"
		case strings.TrimSpace(line) == "", strings.HasPrefix(line, ";; Received"):
			section = ""
		case section == "opt":
			if m := ednsRe.FindStringSubmatch(line); m != nil {
				r.opt.version, r.opt.flags, r.opt.extRcode = m[1], strings.TrimSpace(m[2]), m[4]
				r.opt.size, _ = strconv.Atoi(m[3])
			} else {
				r.opt.options = append(r.opt.options, strings.TrimPrefix(line, ";; "))
			}
		case section == "question":
			r.question = strings.Join(strings.Fields(strings.TrimPrefix(line, ";;")), " ")
		case section == "answer", section == "authority", section == "additional":
			rr, ok := normalRR(line)
			if !ok {
				r.err = strings.TrimSpace(r.err + " unreadable record line: " + line)
			}
			switch section {
			case "answer":
				r.answer = append(r.answer, rr)
			case "authority":
				r.authority = append(r.authority, rr)
			default:
				r.additional = append(r.additional, rr)
			}
		}
	}
	for _, s := range [][]string{r.answer, r.authority, r.additional, r.opt.optionsOrNil()} {
		slices.Sort(s)
	}
	if r.status == "" && r.err == "" {
		r.err = "no reply header in kdig's output"
	}
	return r
}

func (o *ednsInfo) optionsOrNil() []string {
	if o == nil {
		return nil
	}
	return o.options
}

// nameFields are the RDATA fields that are domain names, by type; -1 is
// the last field. Names compare in any case (RFC 4343), and a server may
// keep the case of the zone file or not.
var nameFields = map[string][]int{
	"NS": {0}, "CNAME": {0}, "PTR": {0}, "DNAME": {0}, "MX": {1}, "SRV": {3},
	"SOA": {0, 1}, "NAPTR": {-1}, "HTTPS": {1}, "SVCB": {1},
}

// normalRR turns a record line of kdig, "owner ttl class type rdata",
// into "owner class type rdata": the owner and names in the RDATA in
// lower case, the TTL dropped, the SOA serial replaced by SERIAL. kdig
// separates the fields with tabs, but pads the owner with spaces, and a
// long owner is followed by a space, not a tab; the RDATA is kept as
// printed. ok is false for a line it cannot read.
func normalRR(line string) (rr string, ok bool) {
	var f [4]string // owner, ttl, class, type
	rest := line
	for i := range f {
		rest = strings.TrimLeft(rest, " \t")
		end := strings.IndexAny(rest, " \t")
		if end <= 0 {
			return "", false
		}
		f[i], rest = rest[:end], rest[end:]
	}
	owner, class, typ, rdata := strings.ToLower(f[0]), f[2], f[3], strings.TrimLeft(rest, " \t")
	if _, err := strconv.ParseUint(f[1], 10, 32); err != nil || rdata == "" {
		return "", false
	}
	if idx, ok := nameFields[typ]; ok {
		words := strings.Fields(rdata)
		for _, i := range idx {
			if i < 0 {
				i += len(words)
			}
			if i >= 0 && i < len(words) {
				words[i] = strings.ToLower(words[i])
			}
		}
		if typ == "SOA" && len(words) == 7 {
			words[2] = "SERIAL"
		}
		rdata = strings.Join(words, " ")
	}
	return strings.Join([]string{owner, class, typ, rdata}, " "), true
}

// compareReplies lists how Meridian's reply m differs from r, the reply
// of the reference server named ref.
func compareReplies(ref string, m, r *dnsReply) []string {
	var diffs []string
	if m.status != r.status {
		diffs = append(diffs, fmt.Sprintf("rcode: meridian %s, %s %s", m.status, ref, r.status))
	}
	if !slices.Equal(m.flags, r.flags) {
		diffs = append(diffs, fmt.Sprintf("flags: meridian [%s], %s [%s]", strings.Join(m.flags, " "), ref, strings.Join(r.flags, " ")))
	}
	if m.question != r.question {
		diffs = append(diffs, fmt.Sprintf("question: meridian %q, %s %q", m.question, ref, r.question))
	}
	if !slices.Equal(m.warnings, r.warnings) {
		diffs = append(diffs, fmt.Sprintf("kdig warns: meridian %q, %s %q", m.warnings, ref, r.warnings))
	}
	for _, s := range []struct {
		name string
		m, r []string
	}{{"answer", m.answer, r.answer}, {"authority", m.authority, r.authority}, {"additional", m.additional, r.additional}} {
		if slices.Equal(s.m, s.r) {
			continue
		}
		d := s.name + ":"
		for _, rr := range s.m {
			if !slices.Contains(s.r, rr) {
				d += "\n    only meridian: " + rr
			}
		}
		for _, rr := range s.r {
			if !slices.Contains(s.m, rr) {
				d += fmt.Sprintf("\n    only %-9s %s", ref+":", rr)
			}
		}
		if !strings.Contains(d, "only") {
			d += fmt.Sprintf(" the same records, %d times in meridian's, %d in %s's", len(s.m), len(s.r), ref)
		}
		diffs = append(diffs, d)
	}
	switch mo, ro := m.opt, r.opt; {
	case (mo == nil) != (ro == nil):
		diffs = append(diffs, fmt.Sprintf("OPT: meridian has one: %t, %s: %t", mo != nil, ref, ro != nil))
	case mo == nil:
	default:
		if mo.version != ro.version || mo.flags != ro.flags || mo.extRcode != ro.extRcode {
			diffs = append(diffs, fmt.Sprintf("OPT: meridian version %s flags [%s] ext-rcode %s, %s version %s flags [%s] ext-rcode %s",
				mo.version, mo.flags, mo.extRcode, ref, ro.version, ro.flags, ro.extRcode))
		}
		// The size is what each server accepts (RFC 6891 section 6.2.3):
		// anything from 1232 (DNS Flag Day 2020: no fragmentation over
		// the IPv6 minimum MTU) to 4096 (RFC 6891 section 6.2.5's
		// starting point) is sensible, so within that the two need not
		// agree.
		sensible := func(n int) bool { return n >= 1232 && n <= 4096 }
		if mo.size != ro.size && !(sensible(mo.size) && sensible(ro.size)) {
			diffs = append(diffs, fmt.Sprintf("OPT: meridian UDP size %d, %s %d", mo.size, ref, ro.size))
		}
		if !slices.Equal(mo.options, ro.options) {
			diffs = append(diffs, fmt.Sprintf("OPT options: meridian %q, %s %q", mo.options, ref, ro.options))
		}
	}
	return diffs
}

// classOf is the query's class as kdig prints it.
func classOf(q diffQuery) string {
	if i := slices.Index(q.opts, "-c"); i >= 0 && i+1 < len(q.opts) {
		return q.opts[i+1]
	}
	return "IN"
}

// sideBySide shows Meridian's reply m and r, the reply of the reference
// server named ref, less kdig's timing lines.
func sideBySide(ref string, m, r *dnsReply) string {
	clean := func(s string) string {
		var keep []string
		for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
			if !strings.HasPrefix(l, ";; Time ") && !strings.HasPrefix(l, ";; From ") && strings.TrimSpace(l) != "" {
				keep = append(keep, "    "+l)
			}
		}
		return strings.Join(keep, "\n")
	}
	return "  meridian said:\n" + clean(m.raw) + "\n  " + ref + " said:\n" + clean(r.raw)
}

// diffAllowance is a difference the RFCs allow between two correct
// servers, for the queries named and no others.
type diffAllowance struct {
	queries []string // diffQuery keys
	rfc     string   // the RFC section that allows it
	why     string
	// equalize checks that Meridian's reply m differs from the reference
	// server's r only as allowed, and then makes that part of m equal to
	// r. ref returns the reference's reply to another query of the
	// battery.
	equalize func(m, r *dnsReply, ref func(key string) *dnsReply) error
}
