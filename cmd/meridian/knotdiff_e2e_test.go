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
)

// TestKnotDifferential asks Meridian and Knot DNS the same questions about
// the same static zone (knotdiff_zone_test.go) with the real kdig, and
// wants the same rcode, flags, and the same RRsets in every section, TTLs,
// order and the SOA serial aside. Where the RFCs let two servers answer
// differently, diffAllowed says so for that query alone, with the RFC;
// everything else must match.
func TestKnotDifferential(t *testing.T) {
	kdigBin, err := exec.LookPath("kdig")
	if err != nil {
		t.Fatal("kdig is not installed: run `make test` as root, or apt-get install knot-dnsutils")
	}
	recs := diffZone()

	// Knot: the zone from one file, loaded whole, never written back or
	// journalled, without DNSSEC, and without the server identity
	// options Meridian leaves off by default (NSID, id.server); knotd
	// merges this server: section into the one knottest writes. The
	// version text is the one Meridian's config gets too, so that
	// version.bind can be compared.
	knot := knottest.Start(t, `server:
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
`, map[string]string{"diff.example.zone": knotZoneFile(recs, 1)})
	waitZoneLoaded(t, kdigBin, knot.Port)

	// Meridian: the same records, with no cluster and no global service
	// (Knot has none, and the config needs neither).
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
	ref := askAll(kdigBin, knot.Port, queries)
	t.Logf("%d queries to each server in %v", len(queries), time.Since(start).Round(time.Millisecond))

	knotReply := map[string]*dnsReply{}
	for i, q := range queries {
		knotReply[q.key()] = ref[i]
	}
	allowed := map[string]diffAllowance{}
	for _, a := range diffAllowed {
		for _, k := range a.queries {
			if _, ok := knotReply[k]; !ok {
				t.Errorf("diffAllowed names %q, which is not in the battery", k)
			}
			allowed[k] = a
		}
	}
	var failed []string
	for i, q := range queries {
		t.Run(q.key(), func(t *testing.T) {
			m, k := mer[i].clone(), ref[i].clone()
			if m.err != "" || k.err != "" {
				t.Fatalf("%s\nmeridian: %s\nknot: %s\n%s", q.command(), m.err, k.err, sideBySide(mer[i], ref[i]))
			}
			note := ""
			if a, ok := allowed[q.key()]; ok {
				if diffs := compareReplies(q, m, k); len(diffs) == 0 {
					t.Logf("allowed difference (%s) not seen: the servers agree", a.rfc)
				} else if err := a.equalize(m, k, func(key string) *dnsReply { return knotReply[key] }); err != nil {
					note = fmt.Sprintf("the difference %s allows does not hold: %v\n", a.rfc, err)
				}
			}
			if diffs := compareReplies(q, m, k); len(diffs) > 0 || note != "" {
				failed = append(failed, q.key())
				t.Errorf("%s\n%s  %s\n%s", q.command(), note, strings.Join(diffs, "\n  "), sideBySide(mer[i], ref[i]))
			}
		})
	}
	if len(failed) > 0 {
		t.Logf("%d of %d queries differ:\n  %s", len(failed), len(queries), strings.Join(failed, "\n  "))
	}
}

// diffVersion is the version.bind text of both servers.
const diffVersion = "differential test"

// waitZoneLoaded waits until Knot answers for the zone: it answers
// REFUSED while the zone file is still loading.
func waitZoneLoaded(t *testing.T, kdigBin, port string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := ask(kdigBin, port, diffQuery{name: diffOrigin, typ: "SOA"})
		if r.status == "NOERROR" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("knot does not serve %s after 20s:\n%s", diffOrigin, r.raw)
		}
	}
}

// diffQuery is one question of the battery.
type diffQuery struct {
	name, typ string
	// opts are kdig's options: +flags, and -c CLASS.
	opts []string
}

// key names the query in subtests and in diffAllowed.
func (q diffQuery) key() string {
	return strings.Join(append([]string{q.name, q.typ}, q.opts...), " ")
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
	raw                           string // kdig's output, for the failure message
	err                           string // kdig failed: no reply to compare
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
	c.flags = slices.Clone(r.flags)
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
		case strings.HasPrefix(line, ";; ERROR:"), strings.HasPrefix(line, ";; WARNING:"):
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
		case section == "answer":
			r.answer = append(r.answer, normalRR(line))
		case section == "authority":
			r.authority = append(r.authority, normalRR(line))
		case section == "additional":
			r.additional = append(r.additional, normalRR(line))
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

// normalRR turns a record line of kdig, "owner<TAB>ttl<TAB>class<TAB>type<TAB>rdata",
// into "owner class type rdata": the owner and names in the RDATA in
// lower case, the TTL dropped, the SOA serial replaced by SERIAL.
func normalRR(line string) string {
	f := strings.SplitN(line, "\t", 5)
	if len(f) != 5 {
		return "UNPARSED " + line
	}
	owner, class, typ, rdata := strings.ToLower(strings.TrimSpace(f[0])), f[2], f[3], f[4]
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
	return strings.Join([]string{owner, class, typ, rdata}, " ")
}

// compareReplies lists how Meridian's reply m differs from Knot's k.
func compareReplies(q diffQuery, m, k *dnsReply) []string {
	var diffs []string
	if m.status != k.status {
		diffs = append(diffs, fmt.Sprintf("rcode: meridian %s, knot %s", m.status, k.status))
	}
	if !slices.Equal(m.flags, k.flags) {
		diffs = append(diffs, fmt.Sprintf("flags: meridian [%s], knot [%s]", strings.Join(m.flags, " "), strings.Join(k.flags, " ")))
	}
	// The question comes back as asked, in its case: resolvers that
	// randomise the case of their queries rely on it.
	if want := strings.Join([]string{q.name, classOf(q), q.typ}, " "); m.question != want || k.question != want {
		diffs = append(diffs, fmt.Sprintf("question: meridian %q, knot %q, want %q", m.question, k.question, want))
	}
	for _, s := range []struct {
		name string
		m, k []string
	}{{"answer", m.answer, k.answer}, {"authority", m.authority, k.authority}, {"additional", m.additional, k.additional}} {
		if slices.Equal(s.m, s.k) {
			continue
		}
		d := s.name + ":"
		for _, rr := range s.m {
			if !slices.Contains(s.k, rr) {
				d += "\n    only meridian: " + rr
			}
		}
		for _, rr := range s.k {
			if !slices.Contains(s.m, rr) {
				d += "\n    only knot:     " + rr
			}
		}
		if !strings.Contains(d, "only") {
			d += fmt.Sprintf(" the same records, %d times in meridian's, %d in knot's", len(s.m), len(s.k))
		}
		diffs = append(diffs, d)
	}
	switch mo, ko := m.opt, k.opt; {
	case (mo == nil) != (ko == nil):
		diffs = append(diffs, fmt.Sprintf("OPT: meridian has one: %t, knot: %t", mo != nil, ko != nil))
	case mo == nil:
	default:
		if mo.version != ko.version || mo.flags != ko.flags || mo.extRcode != ko.extRcode {
			diffs = append(diffs, fmt.Sprintf("OPT: meridian version %s flags [%s] ext-rcode %s, knot version %s flags [%s] ext-rcode %s",
				mo.version, mo.flags, mo.extRcode, ko.version, ko.flags, ko.extRcode))
		}
		// The size is what each server accepts (RFC 6891 section 6.2.3):
		// anything from 1232 (DNS Flag Day 2020: no fragmentation over
		// the IPv6 minimum MTU) to 4096 (RFC 6891 section 6.2.5's
		// starting point) is sensible, so within that the two need not
		// agree.
		sensible := func(n int) bool { return n >= 1232 && n <= 4096 }
		if mo.size != ko.size && !(sensible(mo.size) && sensible(ko.size)) {
			diffs = append(diffs, fmt.Sprintf("OPT: meridian UDP size %d, knot %d", mo.size, ko.size))
		}
		if !slices.Equal(mo.options, ko.options) {
			diffs = append(diffs, fmt.Sprintf("OPT options: meridian %q, knot %q", mo.options, ko.options))
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

// sideBySide shows both servers' replies, less kdig's timing lines.
func sideBySide(m, k *dnsReply) string {
	clean := func(s string) string {
		var keep []string
		for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
			if !strings.HasPrefix(l, ";; Time ") && !strings.HasPrefix(l, ";; From ") && strings.TrimSpace(l) != "" {
				keep = append(keep, "    "+l)
			}
		}
		return strings.Join(keep, "\n")
	}
	return "  meridian said:\n" + clean(m.raw) + "\n  knot said:\n" + clean(k.raw)
}

// diffAllowance is a difference the RFCs allow between two correct
// servers, for the queries named and no others.
type diffAllowance struct {
	queries []string // diffQuery keys
	rfc     string   // the RFC section that allows it
	why     string
	// equalize checks that Meridian's reply m differs from Knot's k only
	// as allowed, and then makes that part of m equal to k. knot returns
	// Knot's reply to another query of the battery.
	equalize func(m, k *dnsReply, knot func(key string) *dnsReply) error
}

// diffAllowed is every difference the test tolerates.
var diffAllowed = []diffAllowance{
	{
		queries: []string{"diff.example. ANY", "diff.example. ANY +tcp"},
		rfc:     "RFC 8482 section 4.2",
		why: "ANY may be answered with one RRset of the responder's choosing; at the apex " +
			"Knot picks the A RRset and Meridian the SOA. Meridian's reply must be exactly " +
			"Knot's reply to that one type.",
		equalize: func(m, k *dnsReply, knot func(string) *dnsReply) error {
			for _, typ := range []string{"SOA", "NS", "A", "MX", "TXT", "CAA"} {
				d := knot(diffOrigin + " " + typ)
				if d != nil && m.status == d.status && slices.Equal(m.flags, d.flags) &&
					slices.Equal(m.answer, d.answer) && slices.Equal(m.authority, d.authority) &&
					slices.Equal(m.additional, d.additional) {
					m.answer, m.authority, m.additional = k.answer, k.authority, k.additional
					return nil
				}
			}
			return fmt.Errorf("meridian's reply is not the reply to one RRset of the apex")
		},
	},
	{
		queries: []string{"www.diff.example. A +cdflag", "nope.diff.example. A +cdflag", "diff.example. SOA +dnssec +cdflag"},
		rfc:     "RFC 4035 section 3",
		why: "\"a security-aware name server MUST copy the CD bit from a query into the " +
			"corresponding response\": Meridian copies it; Knot, serving an unsigned zone, clears it.",
		equalize: func(m, k *dnsReply, _ func(string) *dnsReply) error {
			if !slices.Contains(m.flags, "cd") || slices.Contains(k.flags, "cd") ||
				!slices.Equal(slices.DeleteFunc(slices.Clone(m.flags), func(f string) bool { return f == "cd" }), k.flags) {
				return fmt.Errorf("the flags differ by more than CD copied: meridian %v, knot %v", m.flags, k.flags)
			}
			m.flags = k.flags
			return nil
		},
	},
	{
		queries: []string{"www.diff.example. TYPE0"},
		rfc:     "RFC 6895 section 3.1",
		why: "type 0 is reserved and never allocated, and no RFC says how to answer a query for " +
			"it: Knot answers NOTIMP, Meridian that the name has no such records (NODATA). " +
			"Meridian's reply must be Knot's to a type no name has (TYPE65534).",
		equalize: func(m, k *dnsReply, knot func(string) *dnsReply) error {
			d := knot("www.diff.example. TYPE65534")
			if m.status != d.status || !slices.Equal(m.flags, d.flags) || !slices.Equal(m.answer, d.answer) ||
				!slices.Equal(m.authority, d.authority) || !slices.Equal(m.additional, d.additional) {
				return fmt.Errorf("meridian's reply is not NODATA as for TYPE65534")
			}
			m.status, m.flags, m.answer, m.authority, m.additional = k.status, k.flags, k.answer, k.authority, k.additional
			return nil
		},
	},
	{
		queries: []string{"version.bind. TXT -c CH", "version.server. TXT -c CH"},
		rfc:     "RFC 4892 section 2.2",
		why: "the CHAOS TXT identity names are a BIND convention that no RFC specifies; nothing " +
			"says whether the answer is authoritative. Meridian sets AA as BIND does, Knot does not.",
		equalize: func(m, k *dnsReply, _ func(string) *dnsReply) error {
			if !slices.Contains(m.flags, "aa") || slices.Contains(k.flags, "aa") ||
				!slices.Equal(slices.DeleteFunc(slices.Clone(m.flags), func(f string) bool { return f == "aa" }), k.flags) {
				return fmt.Errorf("the flags differ by more than AA: meridian %v, knot %v", m.flags, k.flags)
			}
			m.flags = k.flags
			return nil
		},
	},
	{
		queries: []string{"www.diff.example. A +subnet=192.0.2.0/24"},
		rfc:     "RFC 7871 sections 7.1.3 and 7.2.1",
		why: "Knot has ECS off and ignores the option, as a server that does not implement it " +
			"does (RFC 6891 section 6.1.2); Meridian implements it and echoes the option with " +
			"scope 0, since a static answer is the same for every client.",
		equalize: func(m, k *dnsReply, _ func(string) *dnsReply) error {
			const echo = "CLIENT-SUBNET: 192.0.2.0/24/0"
			if m.opt == nil || k.opt == nil || !slices.Equal(slices.DeleteFunc(slices.Clone(m.opt.options),
				func(o string) bool { return o == echo }), k.opt.options) || !slices.Contains(m.opt.options, echo) {
				return fmt.Errorf("meridian's options are not knot's plus %q", echo)
			}
			m.opt.options = k.opt.options
			return nil
		},
	},
}
