package dns

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/internal/fuzzseed"
	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
)

// FuzzAnswer feeds arbitrary packets to the query path. It must never
// panic, every answer must be a well-formed message, and no UDP answer may
// be larger than the client allows (512 bytes without EDNS, its payload size
// up to 1232 with), so that Meridian cannot be used to amplify.
func FuzzAnswer(f *testing.F) {
	// With every OPT option on, the NSID as long as it may be.
	h := newOptionsHandler(f, Options{ChaosVersion: "meridian test", NSID: bytes.Repeat([]byte("n"), MaxNSIDLen), Cookies: true})
	for _, q := range []testQuery{
		{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"},
		{name: "app.gslb.example.com.", qtype: mdns.TypeAAAA, edns: -1},
		{name: "www.gslb.example.com.", qtype: mdns.TypeANY, edns: 0},
		{name: "gslb.example.com.", qtype: mdns.TypeNS, edns: 0},
		{name: "x.sub.gslb.example.com.", qtype: mdns.TypeA, edns: -1},
		{name: "go.gslb.example.com.", qtype: mdns.TypeA, subnet: "2001:db8::/56"},
		{name: "a.b.wild.gslb.example.com.", qtype: mdns.TypeTXT, edns: 0},
		{name: "x.svc.gslb.example.com.", qtype: mdns.TypeAAAA, subnet: "81.2.69.0/24"},
		{name: "gslb.example.com.", qtype: mdns.TypeMX, edns: -1},
		{name: "version.bind.", qtype: mdns.TypeTXT, edns: -1},
		{name: "gslb.example.com.", qtype: mdns.TypeAXFR, edns: -1},
	} {
		req, err := q.msg().Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(req, false)
	}
	for _, cookie := range []string{"0102030405060708", "0102030405060708010000006553f100aabbccddeeff0011", "01020304"} {
		m := withOptions(testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}.msg(),
			&mdns.EDNS0_NSID{Code: mdns.EDNS0NSID}, &mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: cookie})
		req, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(req, false)
	}
	out := make([]byte, 0, 65535)
	client := netip.MustParseAddr("10.1.2.3")
	f.Fuzz(func(t *testing.T, req []byte, tcp bool) {
		resp, _ := h.Answer(req, out, client, tcp)
		if resp == nil {
			return
		}
		var m mdns.Msg
		if err := m.Unpack(resp); err != nil {
			t.Fatalf("answer does not parse: %v\nrequest % x\nanswer % x", err, req, resp)
		}
		if tcp {
			return
		}
		var q query
		limit := minUDP
		if q.parse(req) == parsed && q.edns {
			limit = int(min(max(q.udpSize, minUDP), maxUDP))
		}
		if len(resp) > limit {
			t.Fatalf("UDP answer of %d bytes exceeds the %d the request allows", len(resp), limit)
		}
	})
}

// zoneBase is the zone the records of FuzzLoadZones go into: a name
// server with glue, a global service in a static cluster, transfers allowed.
const zoneBase = `
cluster a {
    static {
        ingress 192.0.2.1 2001:db8::1
        pods app 3
    }
}
zone example.org {
    ns ns1.example.org 192.0.2.53
    allow_transfer 127.0.0.0/8
    allow_transfer_without_services yes
    service app {
        ttl 30
    }
}
`

// FuzzLoadZones feeds arbitrary zone-file text to the zone loader, as
// inline records (one a line) and as a zone file. The loader may refuse
// it, naming FILE:LINE; what it accepts must compile, answer every query
// about its names with a well-formed message, and transfer.
func FuzzLoadZones(f *testing.F) {
	for _, r := range fuzzseed.Records(f) {
		f.Add(r)
	}
	// Records that parse but do not pack; records too large for one transfer message.
	f.Add("fp SSHFP 1 1 ABC\nsub DS 60485 5 1 " + strings.Repeat("a", 65) + "\n_443._tcp.www TLSA 3 1 1 ABCDE\n")
	txt := strings.Repeat(" "+strings.Repeat("x", 250), 120)
	f.Add("big1 TXT" + txt + "\nbig2 TXT" + txt + "\nbig3 TXT" + txt + "\n")
	f.Add(longName + " A 192.0.2.1\nx CNAME " + longName + "\n") // names over 255 octets
	c, err := config.Parse("t.conf", []byte(zoneBase))
	if err != nil {
		f.Fatal(err)
	}
	plan := weights.Solve(time.Time{}, config.StaticInventory(c.Clusters), model.Health{}, model.NewOverrides(nil), c.Policies())
	zf := filepath.Join(f.TempDir(), "db.example.org")
	f.Fuzz(func(t *testing.T, text string) {
		if err := os.WriteFile(zf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		z := c.Zones[0]
		z.Records = nil
		for i, line := range strings.Split(text, "\n") {
			z.Records = append(z.Records, config.Record{Pos: config.Pos{File: "t.conf", Line: i + 1}, Text: line})
		}
		z.Files = []config.ZoneFile{{Pos: z.Pos, Path: zf}}
		checkZones(t, []config.Zone{z}, plan, Options{})
	})
}

// FuzzCompile feeds arbitrary configs through config.Parse, the zone
// loader and the compiler: what Parse and LoadZones accept must compile and
// answer, and what LoadZones refuses must be refused with FILE:LINE.
func FuzzCompile(f *testing.F) {
	for _, s := range fuzzseed.Configs(f) {
		f.Add(s)
	}
	// CNAME loops, chains into a delegation and into another zone, odd owners.
	f.Add("zone example.org {\n ns ns.example.net\n record a CNAME b\n record b CNAME a\n record c CNAME c\n}\n")
	f.Add("zone example.org {\n ns ns.example.net\n record x CNAME " + longName + "\n record " + longName + " A 192.0.2.1\n}\n")
	f.Add("zone example.org {\n ns ns.example.net\n record sub NS ns.sub\n record ns.sub A 192.0.2.1\n record x.sub A 192.0.2.2\n record d CNAME x.sub\n}\n")
	f.Add("zone example.org {\n ns ns.example.net\n record sub NS ns1.sub.example.org.\n}\nzone sub.example.org {\n ns ns.example.net\n record www CNAME www.example.org.\n}\n")
	f.Add("zone example.org {\n ns ns.example.net\n record @ NS ns2.example.net.\n record @ DNAME example.net.\n record * A 192.0.2.1\n record \\. TXT x\n record a\\000b TXT x\n}\n")
	f.Fuzz(func(t *testing.T, text string) {
		if strings.Contains(text, "import") || strings.Contains(text, "{$") {
			return // config's FuzzParse covers imports, which could read any file
		}
		c, err := config.Parse("t.conf", []byte(text))
		if err != nil {
			return
		}
		for i := range c.Zones {
			c.Zones[i].Files = nil // could name any file, /dev/zero
		}
		plan := weights.Solve(time.Time{}, config.StaticInventory(c.Clusters), model.Health{}, model.NewOverrides(c.Overrides()), c.Policies())
		checkZones(t, c.Zones, plan, Options{ChaosVersion: c.Meridian.ChaosVersion, ChaosID: c.Meridian.ChaosID})
	})
}

// checkZones loads zones and, when they load, compiles them with plan and
// asks the handler about every name they hold.
func checkZones(t *testing.T, zones []config.Zone, plan *model.Plan, opts Options) {
	zs, err := LoadZones(zonesOf(zones), nil, time.Unix(1_700_000_000, 0))
	if err != nil {
		for _, e := range fuzzseed.Leaves(err) {
			var ce *Error
			if !errors.As(e, &ce) || ce.Pos.File == "" || ce.Pos.Line <= 0 {
				t.Errorf("error %q (%T) does not name FILE:LINE", e, e)
			}
		}
		return
	}
	h := NewHandler(zs, locator, opts, nil)
	h.Publish(plan)
	if err := h.Err(); err != nil {
		t.Fatalf("LoadZones accepted zones that do not compile: %v", err)
	}
	out := make([]byte, 0, 65535)
	// askFrom asks and checks the answer; it returns the records of a transfer.
	askFrom := func(client netip.Addr, name string, qtype uint16, tcp bool) []mdns.RR {
		m := new(mdns.Msg)
		m.SetQuestion(name, qtype)
		m.SetEdns0(1232, false)
		req, err := m.Pack()
		if err != nil {
			return nil // a name a query cannot carry
		}
		resp, o := h.Answer(req, out, client, tcp)
		if o.transfer {
			var w bytes.Buffer
			if err := h.Transfer(&w, req); err != nil {
				t.Errorf("transfer of %s: %v", name, err)
			}
			rrs, err := parseTransfer(w.Bytes())
			if err != nil {
				t.Errorf("transfer of %s: %v", name, err)
			}
			return rrs
		}
		var r mdns.Msg
		if err := r.Unpack(resp); err != nil {
			t.Errorf("answer to %s %s does not parse: %v\n% x", name, mdns.Type(qtype), err, resp)
		}
		return nil
	}
	local := netip.MustParseAddr("127.0.0.1")
	for _, z := range zs.zones {
		if len(z.cfg.AllowTransfer) > 0 {
			if got := askFrom(z.cfg.AllowTransfer[0].Addr(), z.origin, mdns.TypeAXFR, true); len(got) != len(z.rrs)+2 {
				t.Errorf("transfer of %s: %d records, want %d", z.origin, len(got), len(z.rrs)+2)
			}
		}
		askFrom(local, "nothing."+z.origin, mdns.TypeA, false)
		rrs := z.rrs
		if len(rrs) > 50 {
			rrs = rrs[:50]
		}
		for _, rr := range rrs {
			for _, qtype := range []uint16{rr.Header().Rrtype, mdns.TypeA, mdns.TypeAAAA, mdns.TypeANY, mdns.TypeMX} {
				askFrom(local, rr.Header().Name, qtype, false)
				askFrom(local, rr.Header().Name, qtype, true)
			}
			askFrom(local, "below."+rr.Header().Name, mdns.TypeA, false)
			if owner := rr.Header().Name; strings.HasPrefix(owner, "*.") {
				askFrom(local, "w"+owner[1:], rr.Header().Rrtype, false) // a name the wildcard stands for
			}
		}
		for name := range z.services {
			askFrom(local, name, mdns.TypeA, false)
			askFrom(local, name, mdns.TypeAAAA, true)
		}
	}
}
