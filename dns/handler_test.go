package dns

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/geo"
	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
)

const testConf = `
meridian {
    chaos version "meridian test"
}
cluster eu-west {
    region eu-west
    location 53.35 -6.26
    static {
        ingress 192.0.2.10 192.0.2.11
        pods app 6
        pods all 6
        pods alias 6
    }
}
cluster us-east {
    region us-east
    location 39.04 -77.49
    static {
        ingress 198.51.100.10 2001:db8::10
        pods app 9
        pods v4only 1
        pods all 9
        pods alias 9
    }
}
zone gslb.example.com {
    ttl 3600
    soa ns1.gslb.example.com hostmaster.example.com {
        minimum 120
    }
    ns  ns1.gslb.example.com 127.0.0.1 ::1
    ns  ns.example.net
    allow_transfer 10.0.0.0/8
    record www       A     192.0.2.80
    record www   300 AAAA  2001:db8::80
    record @         MX    10 mail.gslb.example.com.
    record mail      A     192.0.2.25
    record @         TXT   "v=spf1 -all"
    record _sip._tcp SRV   10 5 5060 sip.gslb.example.com.
    record @         CAA   0 issue "letsencrypt.org"
    record 80        PTR   www.gslb.example.com.
    record web       CNAME www
    record go        CNAME app
    record gone      CNAME nothing
    record ext       CNAME www.example.org.
    record sub       NS    ns1.sub
    record ns1.sub   A     192.0.2.53
    record deep.a.b  TXT   "deep"
    record mail      AAAA  2001:db8::25
    record _www._tcp SRV   0 0 80 www
    record mx.sub    A     192.0.2.54
    record mxsub     MX    10 mx.sub
    record *.wild    A     192.0.2.99
    record *.wild    TXT   "wild"
    record x.*.wild  A     192.0.2.100
    record a.*.wild2 TXT   "not a wildcard"
    record *.wc      CNAME www
    record *.svc     CNAME app
    record *.wmx     MX    10 mail
    record *.sub     A     192.0.2.111
    record cw        CNAME foo.wild
    record cwc       CNAME q.wc
    record mxwild    MX    10 foo.wild
    record mxother   MX    10 mx.other.example.
    record mxcname   MX    10 web
    record mxsvc     MX    10 app
    record cmx       CNAME mxsub2
    record mxsub2    MX    10 mail
    service app {
        ttl 30
    }
    service v4only {
        ttl 30
    }
    service all {
        policy all
        ttl 30
    }
    service alias {
        ttl 30
        ignore_ecs
    }
    allow_transfer_without_services yes
}
zone other.example {
    ns ns.example.net
    record mx A 192.0.2.200
}
`

// fakeLocator places a few networks, as a GeoIP database would.
type fakeLocator map[netip.Prefix]geo.Location

func (f fakeLocator) Lookup(ip netip.Addr) geo.Location {
	ip = ip.Unmap() // as geo.DB does
	for p, l := range f {
		if p.Contains(ip) {
			l.Network = p
			return l
		}
	}
	return geo.Location{Network: netip.PrefixFrom(ip, 8).Masked()}
}

var locator = fakeLocator{
	netip.MustParsePrefix("81.2.64.0/18"): {Country: "GB", At: model.LocationAt(model.Point{Lat: 54, Lon: -2})},
	netip.MustParsePrefix("8.8.0.0/15"):   {Country: "US", At: model.LocationAt(model.Point{Lat: 38, Lon: -97})},
	netip.MustParsePrefix("10.9.0.0/28"):  {Country: "GB", At: model.LocationAt(model.Point{Lat: 54, Lon: -2})},
}

// newTestHandler builds a handler from a config text, with a plan solved
// from its static clusters.
func newTestHandler(t testing.TB, conf string) *Handler {
	t.Helper()
	return newTestHandlerWith(t, conf, locator)
}

// newTestHandlerWith is newTestHandler placing clients with loc.
func newTestHandlerWith(t testing.TB, conf string, loc Locator) *Handler {
	t.Helper()
	c, zs := loadTestConf(t, conf)
	h := NewHandler(zs, loc, Options{ChaosVersion: c.Meridian.ChaosVersion, ChaosID: c.Meridian.ChaosID}, nil)
	h.Publish(weights.Solve(time.Time{}, config.StaticInventory(c.Clusters), model.Health{}, model.NewOverrides(c.Overrides()), c.Policies()))
	return h
}

// loadTestConf parses conf and loads its zones, as of the tests' clock.
func loadTestConf(t testing.TB, conf string) (*config.Config, *Zones) {
	t.Helper()
	c, err := config.Parse("t.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	zs, err := LoadZones(zonesOf(c.Zones), nil, time.Unix(1_700_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	return c, zs
}

type testQuery struct {
	name   string
	qtype  uint16
	from   string // source address of the query
	subnet string // ECS source prefix, "" for none
	edns   int    // -1: no EDNS; else the EDNS version
	tcp    bool
}

func (q testQuery) msg() *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(q.name, q.qtype)
	m.Id = 0x4242
	if q.edns >= 0 || q.subnet != "" {
		m.SetEdns0(1232, true)
		m.IsEdns0().SetVersion(uint8(max(q.edns, 0)))
	}
	if q.subnet != "" {
		p := netip.MustParsePrefix(q.subnet)
		fam := uint16(1)
		if p.Addr().Is6() {
			fam = 2
		}
		opt := m.IsEdns0()
		opt.Option = append(opt.Option, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: fam,
			SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()})
	}
	return m
}

// exchange sends m through the handler's wire path and unpacks the answer.
func exchange(t testing.TB, h *Handler, m *mdns.Msg, from string, tcp bool) (*mdns.Msg, outcome) {
	t.Helper()
	req, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return exchangeRaw(t, h, req, from, tcp)
}

func exchangeRaw(t testing.TB, h *Handler, req []byte, from string, tcp bool) (*mdns.Msg, outcome) {
	t.Helper()
	if from == "" {
		from = "127.0.0.1"
	}
	resp, o := h.Answer(req, make([]byte, 0, 65535), netip.MustParseAddr(from), tcp)
	if resp == nil {
		return nil, o
	}
	var r mdns.Msg
	if err := r.Unpack(resp); err != nil {
		t.Fatalf("unpacking the response: %v\n% x", err, resp)
	}
	return &r, o
}

// section renders RRs as zone-file lines with single spaces.
func section(rrs []mdns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == mdns.TypeOPT {
			continue
		}
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	slices.Sort(out)
	return out
}

func ecsScope(m *mdns.Msg) (int, bool) {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*mdns.EDNS0_SUBNET); ok {
				return int(e.SourceScope), true
			}
		}
	}
	return 0, false
}

// answerCase is a query and the answer expected, section by section, as
// dig prints it.
type answerCase struct {
	name      string
	q         testQuery
	rcode     int
	aa        bool
	answer    []string   // exact answer section, or
	oneOf     [][]string // one of these
	authority []string
	extra     []string
	scope     int // ECS scope expected; -1: no ECS option in the response
}

// check asks h and compares the answer with the case's.
func (tc answerCase) check(t *testing.T, h *Handler) {
	t.Helper()
	m := tc.q.msg()
	if strings.HasSuffix(tc.q.name, ".bind.") || strings.HasSuffix(tc.q.name, ".server.") {
		m.Question[0].Qclass = mdns.ClassCHAOS
	}
	r, _ := exchange(t, h, m, tc.q.from, tc.q.tcp)
	if r == nil {
		t.Fatal("no response")
	}
	if r.Rcode != tc.rcode {
		t.Errorf("rcode = %s, want %s", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[tc.rcode])
	}
	if r.Id != 0x4242 || !r.Response || r.Authoritative != tc.aa || r.RecursionAvailable || !r.RecursionDesired {
		t.Errorf("id %x QR %v AA %v (want %v) RA %v RD %v", r.Id, r.Response, r.Authoritative, tc.aa, r.RecursionAvailable, r.RecursionDesired)
	}
	if len(r.Question) != 1 || r.Question[0].Name != tc.q.name {
		t.Errorf("question = %v, want %q", r.Question, tc.q.name)
	}
	got := section(r.Answer)
	switch {
	case tc.oneOf != nil:
		if !slices.ContainsFunc(tc.oneOf, func(w []string) bool { return slices.Equal(got, w) }) {
			t.Errorf("answer:\n%s\nwant one of %v", strings.Join(got, "\n"), tc.oneOf)
		}
	case !slices.Equal(got, tc.answer):
		t.Errorf("answer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.answer, "\n"))
	}
	if got := section(r.Ns); !slices.Equal(got, tc.authority) {
		t.Errorf("authority:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.authority, "\n"))
	}
	if got := section(r.Extra); !slices.Equal(got, tc.extra) {
		t.Errorf("additional:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.extra, "\n"))
	}
	scope, ok := ecsScope(r)
	if tc.scope < 0 && ok {
		t.Errorf("unexpected ECS option in response")
	}
	if tc.scope >= 0 && (!ok || scope != tc.scope) {
		t.Errorf("ECS scope = %d (present %v), want %d", scope, ok, tc.scope)
	}
	if opt := r.IsEdns0(); (opt != nil) != (tc.q.edns >= 0 || tc.q.subnet != "") {
		t.Errorf("OPT in response = %v, want it exactly when the query had one", opt != nil)
	} else if opt != nil && (!opt.Do() || opt.UDPSize() != maxUDP) {
		t.Errorf("OPT: DO %v (the query set it), payload %d", opt.Do(), opt.UDPSize())
	}
}

func TestHandler(t *testing.T) {
	h := newTestHandler(t, testConf)
	serial := h.Zones().Serial("gslb.example.com")
	soaNeg := fmt.Sprintf("gslb.example.com. 120 IN SOA ns1.gslb.example.com. hostmaster.example.com. %d 3600 600 1209600 120", serial)
	soa := strings.Replace(soaNeg, " 120 IN", " 3600 IN", 1)
	const (
		eu1 = "app.gslb.example.com. 30 IN A 192.0.2.10"
		eu2 = "app.gslb.example.com. 30 IN A 192.0.2.11"
	)
	for _, tc := range []answerCase{
		{"a UK subnet gets one eu-west address; scope is the GeoIP network, not wider than the source",
			testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}, mdns.RcodeSuccess, true,
			nil, [][]string{{eu1}, {eu2}}, nil, nil, 18},
		{"a US subnet gets us-east",
			testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "8.8.8.0/24"}, mdns.RcodeSuccess, true,
			[]string{"app.gslb.example.com. 30 IN A 198.51.100.10"}, nil, nil, nil, 15},
		{"a GeoIP network longer than the source prefix gives the source prefix as scope",
			testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "10.9.0.0/24"}, mdns.RcodeSuccess, true,
			nil, [][]string{{eu1}, {eu2}}, nil, nil, 24},
		{"without ECS the source address decides",
			testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, from: "8.8.4.4", edns: -1}, mdns.RcodeSuccess, true,
			[]string{"app.gslb.example.com. 30 IN A 198.51.100.10"}, nil, nil, nil, -1},
		{"ECS wins over the source address",
			testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, from: "8.8.4.4", subnet: "81.2.69.0/24"}, mdns.RcodeSuccess, true,
			nil, [][]string{{eu1}, {eu2}}, nil, nil, 18},
		{"ECS with source prefix 0: the resolver's address decides, scope 0",
			testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, from: "8.8.4.4", subnet: "0.0.0.0/0"}, mdns.RcodeSuccess, true,
			[]string{"app.gslb.example.com. 30 IN A 198.51.100.10"}, nil, nil, nil, 0},
		{"ignore_ecs: the resolver's address decides, scope 0",
			testQuery{name: "alias.gslb.example.com.", qtype: mdns.TypeA, from: "8.8.4.4", subnet: "81.2.69.0/24"}, mdns.RcodeSuccess, true,
			[]string{"alias.gslb.example.com. 30 IN A 198.51.100.10"}, nil, nil, nil, 0},
		{"policy all answers every target with traffic, the same for every client: scope 0",
			testQuery{name: "all.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}, mdns.RcodeSuccess, true,
			[]string{"all.gslb.example.com. 30 IN A 192.0.2.10", "all.gslb.example.com. 30 IN A 192.0.2.11",
				"all.gslb.example.com. 30 IN A 198.51.100.10"}, nil, nil, nil, 0},
		{"AAAA of the chosen cluster",
			testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeAAAA, subnet: "8.8.8.0/24"}, mdns.RcodeSuccess, true,
			[]string{"app.gslb.example.com. 30 IN AAAA 2001:db8::10"}, nil, nil, nil, 15},
		{"AAAA where the chosen cluster has only IPv4 is NODATA",
			testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeAAAA, subnet: "81.2.69.0/24"}, mdns.RcodeSuccess, true,
			nil, nil, []string{soaNeg}, nil, 18},
		{"other types at a service name are NODATA",
			testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeMX, edns: -1}, mdns.RcodeSuccess, true,
			nil, nil, []string{soaNeg}, nil, -1},
		{"ANY at a service: its A records, as RFC 8482 allows",
			testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeANY, from: "8.8.4.4", edns: -1}, mdns.RcodeSuccess, true,
			[]string{"app.gslb.example.com. 30 IN A 198.51.100.10"}, nil, nil, nil, -1},
		{"a name that does not exist: NXDOMAIN with the SOA, its TTL min(TTL, minimum)",
			testQuery{name: "nope.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeNameError, true,
			nil, nil, []string{soaNeg}, nil, -1},
		{"below a service name: NXDOMAIN",
			testQuery{name: "x.app.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeNameError, true,
			nil, nil, []string{soaNeg}, nil, -1},
		{"an empty non-terminal is NODATA, not NXDOMAIN",
			testQuery{name: "a.b.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, true,
			nil, nil, []string{soaNeg}, nil, -1},
		{"NXDOMAIN echoes ECS with scope 0",
			testQuery{name: "nope.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}, mdns.RcodeNameError, true,
			nil, nil, []string{soaNeg}, nil, 0},
		{"outside every zone: REFUSED without AA",
			testQuery{name: "www.example.org.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeRefused, false, nil, nil, nil, nil, -1},
		{"parent of the zone: REFUSED",
			testQuery{name: "example.com.", qtype: mdns.TypeSOA, edns: -1}, mdns.RcodeRefused, false, nil, nil, nil, nil, -1},
		{"SOA at the apex",
			testQuery{name: "gslb.example.com.", qtype: mdns.TypeSOA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{soa}, nil, nil, nil, -1},
		{"NS at the apex, with glue",
			testQuery{name: "gslb.example.com.", qtype: mdns.TypeNS, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"gslb.example.com. 3600 IN NS ns.example.net.", "gslb.example.com. 3600 IN NS ns1.gslb.example.com."},
			nil, nil, []string{"ns1.gslb.example.com. 3600 IN A 127.0.0.1", "ns1.gslb.example.com. 3600 IN AAAA ::1"}, -1},
		{"ANY at the apex: one RRset",
			testQuery{name: "gslb.example.com.", qtype: mdns.TypeANY, edns: -1}, mdns.RcodeSuccess, true,
			[]string{soa}, nil, nil, nil, -1},
		{"glue name answers its address",
			testQuery{name: "ns1.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"ns1.gslb.example.com. 3600 IN A 127.0.0.1"}, nil, nil, nil, -1},
		{"static A with the zone TTL",
			testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"www.gslb.example.com. 3600 IN A 192.0.2.80"}, nil, nil, nil, -1},
		{"static AAAA with its own TTL",
			testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeAAAA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"www.gslb.example.com. 300 IN AAAA 2001:db8::80"}, nil, nil, nil, -1},
		{"MX", testQuery{name: "gslb.example.com.", qtype: mdns.TypeMX, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"gslb.example.com. 3600 IN MX 10 mail.gslb.example.com."}, nil, nil,
			[]string{"mail.gslb.example.com. 3600 IN A 192.0.2.25", "mail.gslb.example.com. 3600 IN AAAA 2001:db8::25"}, -1},
		{"TXT", testQuery{name: "gslb.example.com.", qtype: mdns.TypeTXT, edns: -1}, mdns.RcodeSuccess, true,
			[]string{`gslb.example.com. 3600 IN TXT "v=spf1 -all"`}, nil, nil, nil, -1},
		{"SRV", testQuery{name: "_sip._tcp.gslb.example.com.", qtype: mdns.TypeSRV, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"_sip._tcp.gslb.example.com. 3600 IN SRV 10 5 5060 sip.gslb.example.com."}, nil, nil, nil, -1},
		{"CAA", testQuery{name: "gslb.example.com.", qtype: mdns.TypeCAA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{`gslb.example.com. 3600 IN CAA 0 issue "letsencrypt.org"`}, nil, nil, nil, -1},
		{"PTR", testQuery{name: "80.gslb.example.com.", qtype: mdns.TypePTR, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"80.gslb.example.com. 3600 IN PTR www.gslb.example.com."}, nil, nil, nil, -1},
		{"a type a static name lacks: NODATA",
			testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeMX, edns: -1}, mdns.RcodeSuccess, true,
			nil, nil, []string{soaNeg}, nil, -1},
		{"CNAME followed inside the zone",
			testQuery{name: "web.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"web.gslb.example.com. 3600 IN CNAME www.gslb.example.com.", "www.gslb.example.com. 3600 IN A 192.0.2.80"}, nil, nil, nil, -1},
		{"CNAME asked for itself",
			testQuery{name: "web.gslb.example.com.", qtype: mdns.TypeCNAME, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"web.gslb.example.com. 3600 IN CNAME www.gslb.example.com."}, nil, nil, nil, -1},
		{"CNAME to a global service: its answer by location",
			testQuery{name: "go.gslb.example.com.", qtype: mdns.TypeA, subnet: "8.8.8.0/24"}, mdns.RcodeSuccess, true,
			[]string{"app.gslb.example.com. 30 IN A 198.51.100.10", "go.gslb.example.com. 3600 IN CNAME app.gslb.example.com."}, nil, nil, nil, 15},
		{"CNAME to a service for a type its clusters lack: NODATA, the CNAME and the SOA (RFC 2308 2.2)",
			testQuery{name: "go.gslb.example.com.", qtype: mdns.TypeAAAA, subnet: "81.2.69.0/24"}, mdns.RcodeSuccess, true,
			[]string{"go.gslb.example.com. 3600 IN CNAME app.gslb.example.com."}, nil, []string{soaNeg}, nil, 18},
		{"CNAME to a service for a type services never have: NODATA",
			testQuery{name: "go.gslb.example.com.", qtype: mdns.TypeTXT, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"go.gslb.example.com. 3600 IN CNAME app.gslb.example.com."}, nil, []string{soaNeg}, nil, -1},
		{"ANY at a CNAME: the CNAME alone (RFC 1034 4.3.2)",
			testQuery{name: "web.gslb.example.com.", qtype: mdns.TypeANY, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"web.gslb.example.com. 3600 IN CNAME www.gslb.example.com."}, nil, nil, nil, -1},
		{"ANY at a CNAME to a service: the CNAME alone",
			testQuery{name: "go.gslb.example.com.", qtype: mdns.TypeANY, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"go.gslb.example.com. 3600 IN CNAME app.gslb.example.com."}, nil, nil, nil, -1},
		{"CNAME to a missing name: NXDOMAIN, as the last name's rcode (RFC 6604)",
			testQuery{name: "gone.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeNameError, true,
			[]string{"gone.gslb.example.com. 3600 IN CNAME nothing.gslb.example.com."}, nil, []string{soaNeg}, nil, -1},
		{"CNAME to a type the target lacks: NODATA",
			testQuery{name: "web.gslb.example.com.", qtype: mdns.TypeMX, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"web.gslb.example.com. 3600 IN CNAME www.gslb.example.com."}, nil, []string{soaNeg}, nil, -1},
		{"CNAME out of our zones: the resolver follows it",
			testQuery{name: "ext.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"ext.gslb.example.com. 3600 IN CNAME www.example.org."}, nil, nil, nil, -1},
		{"a delegated sub-zone: referral with glue, no AA",
			testQuery{name: "host.sub.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, false,
			nil, nil, []string{"sub.gslb.example.com. 3600 IN NS ns1.sub.gslb.example.com."},
			[]string{"ns1.sub.gslb.example.com. 3600 IN A 192.0.2.53"}, -1},
		{"the cut itself: referral",
			testQuery{name: "sub.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, false,
			nil, nil, []string{"sub.gslb.example.com. 3600 IN NS ns1.sub.gslb.example.com."},
			[]string{"ns1.sub.gslb.example.com. 3600 IN A 192.0.2.53"}, -1},
		{"glue below the cut is not authoritative: referral",
			testQuery{name: "ns1.sub.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, false,
			nil, nil, []string{"sub.gslb.example.com. 3600 IN NS ns1.sub.gslb.example.com."},
			[]string{"ns1.sub.gslb.example.com. 3600 IN A 192.0.2.53"}, -1},
		{"DS at the cut is the parent's: NODATA",
			testQuery{name: "sub.gslb.example.com.", qtype: mdns.TypeDS, edns: -1}, mdns.RcodeSuccess, true,
			nil, nil, []string{soaNeg}, nil, -1},
		{"case is preserved",
			testQuery{name: "App.GSLB.example.COM.", qtype: mdns.TypeA, from: "8.8.4.4", edns: -1}, mdns.RcodeSuccess, true,
			[]string{"App.GSLB.example.COM. 30 IN A 198.51.100.10"}, nil, nil, nil, -1},
		{"case is preserved in a static answer",
			testQuery{name: "WWW.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"WWW.gslb.example.com. 3600 IN A 192.0.2.80"}, nil, nil, nil, -1},
		{"the most specific zone answers",
			testQuery{name: "other.example.", qtype: mdns.TypeNS, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"other.example. 3600 IN NS ns.example.net."}, nil, nil, nil, -1},
		{"EDNS version 1: BADVERS",
			testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, edns: 1}, mdns.RcodeBadVers, false, nil, nil, nil, nil, -1},
		{"version.bind in CHAOS when configured",
			testQuery{name: "version.bind.", qtype: mdns.TypeTXT, edns: -1}, mdns.RcodeSuccess, true,
			[]string{`version.bind. 0 CH TXT "meridian test"`}, nil, nil, nil, -1},
		{"id.server in CHAOS when not configured: REFUSED",
			testQuery{name: "id.server.", qtype: mdns.TypeTXT, edns: -1}, mdns.RcodeRefused, false, nil, nil, nil, nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, h) })
	}
}

// TestWeightedSelection checks that answers are drawn in proportion to the
// Plan's shares: a UK client's eu-west has one of two addresses down with
// three more in us-east behind, so Envoy's spill by address (spill hosts)
// gives 70% to eu-west's healthy address and 30% to us-east's three.
func TestWeightedSelection(t *testing.T) {
	c, err := config.Parse("t.conf", []byte(`
cluster eu-west {
    region eu-west
    location 53.35 -6.26
    static {
        ingress 192.0.2.10 192.0.2.11
        pods app 6
    }
}
cluster us-east {
    region us-east
    location 39.04 -77.49
    static {
        ingress 198.51.100.10 198.51.100.11 198.51.100.12
        pods app 9
    }
}
zone gslb.example.com {
    ns ns.example.net
    service app {
        max_answers 2
        spill hosts
    }
}`))
	if err != nil {
		t.Fatal(err)
	}
	zs, err := LoadZones(zonesOf(c.Zones), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(zs, locator, Options{}, nil)
	health := model.NewHealth([]model.TargetHealth{{Service: "app.gslb.example.com", Cluster: "eu-west",
		Address: netip.MustParseAddr("192.0.2.11"), State: model.Down}})
	h.Publish(weights.Solve(time.Time{}, config.StaticInventory(c.Clusters), health, model.Overrides{}, c.Policies()))

	const n = 20000
	first := map[string]int{}
	for range n {
		r, _ := exchange(t, h, testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}.msg(), "", false)
		if len(r.Answer) != 2 {
			t.Fatalf("max_answers 2: got %d answers", len(r.Answer))
		}
		a, b := r.Answer[0].(*mdns.A).A.String(), r.Answer[1].(*mdns.A).A.String()
		if a == b {
			t.Fatalf("the same address twice: %s", a)
		}
		if a == "192.0.2.11" || b == "192.0.2.11" {
			t.Fatalf("the down address was answered")
		}
		first[a]++
	}
	// The first record is drawn with probability equal to its share.
	for addr, want := range map[string]float64{"192.0.2.10": 0.7, "198.51.100.10": 0.1, "198.51.100.11": 0.1, "198.51.100.12": 0.1} {
		got := float64(first[addr]) / n
		sigma := math.Sqrt(want * (1 - want) / n)
		if math.Abs(got-want) > 5*sigma {
			t.Errorf("%s drawn first %.4f of the time, want %.2f ± %.4f", addr, got, want, 5*sigma)
		}
	}
}

func TestTruncation(t *testing.T) {
	var b strings.Builder
	b.WriteString("cluster big {\n    static {\n        ingress")
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(&b, " 192.0.2.%d", i)
	}
	b.WriteString("\n        pods app 100\n    }\n}\nzone example.org {\n    ns ns.example.net\n    service app {\n        policy all\n    }\n}\n")
	h := newTestHandler(t, b.String())
	q := testQuery{name: "app.example.org.", qtype: mdns.TypeA, edns: -1}

	r, o := exchange(t, h, q.msg(), "", false)
	if !r.Truncated || len(r.Answer) != 0 || !o.truncated {
		t.Errorf("60 A records over UDP without EDNS: TC=%v with %d answers", r.Truncated, len(r.Answer))
	}
	q.edns = 0 // 1232 bytes fit 60 A records
	if r, _ := exchange(t, h, q.msg(), "", false); r.Truncated || len(r.Answer) != 60 {
		t.Errorf("with EDNS 1232: TC=%v with %d answers, want all 60", r.Truncated, len(r.Answer))
	}
	m := q.msg()
	m.IsEdns0().SetUDPSize(600) // the client's payload size is honoured
	if r, _ := exchange(t, h, m, "", false); !r.Truncated || r.IsEdns0() == nil {
		t.Errorf("with EDNS 600: TC=%v, OPT %v", r.Truncated, r.IsEdns0() != nil)
	}
	q.edns, q.tcp = -1, true
	if r, _ := exchange(t, h, q.msg(), "", true); r.Truncated || len(r.Answer) != 60 {
		t.Errorf("over TCP: TC=%v with %d answers, want the full 60", r.Truncated, len(r.Answer))
	}
}

func TestMalformed(t *testing.T) {
	h := newTestHandler(t, testConf)
	good, _ := testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg().Pack()
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, tc := range []struct {
		name  string
		req   []byte
		rcode int // -1: no answer at all
	}{
		{"shorter than a header", good[:11], -1},
		{"a response", mutate(func(b []byte) []byte { b[2] |= 0x80; return b }), -1},
		{"opcode STATUS", mutate(func(b []byte) []byte { b[2] |= 2 << 3; return b }), mdns.RcodeNotImplemented},
		{"opcode NOTIFY", mutate(func(b []byte) []byte { b[2] |= 4 << 3; return b }), mdns.RcodeNotImplemented},
		{"two questions", mutate(func(b []byte) []byte { b[5] = 2; return b }), mdns.RcodeFormatError},
		{"no question", mutate(func(b []byte) []byte { b[5] = 0; return b }), mdns.RcodeFormatError},
		{"question cut short", good[:20], mdns.RcodeFormatError},
		{"compression pointer in the question", mutate(func(b []byte) []byte { b[12] = 0xC0; return b }), mdns.RcodeFormatError},
		{"an answer in a query", mutate(func(b []byte) []byte { b[7] = 1; return b }), mdns.RcodeFormatError},
		{"OPT cut short", good[:len(good)-3], mdns.RcodeFormatError},
		{"two additional records", mutate(func(b []byte) []byte { b[11] = 2; return b }), mdns.RcodeFormatError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := h.Answer(tc.req, make([]byte, 0, 65535), netip.MustParseAddr("127.0.0.1"), false)
			if tc.rcode < 0 {
				if resp != nil {
					t.Errorf("answered % x", resp)
				}
				return
			}
			var r mdns.Msg
			if err := r.Unpack(resp); err != nil {
				t.Fatalf("response does not unpack: %v", err)
			}
			if want := int(tc.req[2]>>3) & 0xF; r.Opcode != want {
				t.Errorf("opcode %d, want the request's %d echoed", r.Opcode, want)
			}
			if r.Rcode != tc.rcode || !r.Response || len(resp) > max(len(tc.req), headerLen) {
				t.Errorf("rcode %s QR %v, %d bytes for a %d-byte request; want %s, never bigger",
					mdns.RcodeToString[r.Rcode], r.Response, len(resp), len(tc.req), mdns.RcodeToString[tc.rcode])
			}
		})
	}
	// Bad client subnets: RFC 7871 section 7.1.1 asks for FORMERR.
	for name, ecs := range map[string]*mdns.EDNS0_SUBNET{
		"source prefix longer than the family": {Code: 8, Family: 1, SourceNetmask: 33, Address: netip.MustParseAddr("81.2.69.0").AsSlice()},
		"scope set in a query":                 {Code: 8, Family: 1, SourceNetmask: 24, SourceScope: 24, Address: netip.MustParseAddr("81.2.69.0").AsSlice()},
		"unknown family":                       {Code: 8, Family: 3, SourceNetmask: 24, Address: netip.MustParseAddr("81.2.69.0").AsSlice()},
	} {
		m := testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg()
		m.IsEdns0().Option = append(m.IsEdns0().Option, ecs)
		req, err := m.Pack()
		if err != nil {
			req = packECSRaw(t, ecs)
		}
		r, _ := exchangeRaw(t, h, req, "", false)
		if r == nil || r.Rcode != mdns.RcodeFormatError {
			t.Errorf("%s: %v, want FORMERR", name, r)
		}
	}
}

// packECSRaw writes a query with an ECS option as given, even one miekg/dns
// refuses to pack.
func packECSRaw(t *testing.T, e *mdns.EDNS0_SUBNET) []byte {
	m := testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg()
	raw, _ := m.Pack()
	addr := e.Address.To4()
	opt := []byte{0, 8, 0, byte(4 + 3), byte(e.Family >> 8), byte(e.Family), e.SourceNetmask, e.SourceScope}
	opt = append(opt, addr[:3]...)
	raw[len(raw)-1] = byte(len(opt)) // rdlength, was 0
	return append(raw, opt...)
}

func TestZoneTransfer(t *testing.T) {
	h := newTestHandler(t, testConf)
	m := new(mdns.Msg)
	m.SetAxfr("gslb.example.com.")
	if r, _ := exchange(t, h, m, "192.0.2.1", true); r == nil || r.Rcode != mdns.RcodeRefused {
		t.Errorf("AXFR from a client outside allow_transfer: %v, want REFUSED", r)
	}
	if r, _ := exchange(t, h, m, "10.1.2.3", false); r == nil || !r.Truncated {
		t.Errorf("AXFR over UDP from an allowed client: %v, want TC", r)
	}
	req, _ := m.Pack()
	resp, o := h.Answer(req, make([]byte, 0, 65535), netip.MustParseAddr("10.1.2.3"), true)
	if resp != nil || !o.transfer {
		t.Fatalf("AXFR over TCP from an allowed client: transfer %v", o.transfer)
	}
	var w strings.Builder
	if err := h.Transfer(&writerFunc{&w}, req); err != nil {
		t.Fatal(err)
	}
	records := readTransfer(t, []byte(w.String()))
	if len(records) < 3 || records[0].Header().Rrtype != mdns.TypeSOA || records[len(records)-1].Header().Rrtype != mdns.TypeSOA {
		t.Fatalf("transfer is not SOA ... SOA: %v", records)
	}
	var names []string
	for _, rr := range records {
		names = append(names, rr.Header().Name)
		if rr.Header().Name == "app.gslb.example.com." {
			t.Errorf("a global service was transferred: %v", rr)
		}
	}
	for _, want := range []string{"www.gslb.example.com.", "ns1.gslb.example.com.", "sub.gslb.example.com.", "_sip._tcp.gslb.example.com."} {
		if !slices.Contains(names, want) {
			t.Errorf("transfer lacks %s", want)
		}
	}
	// IXFR from the current serial: one SOA.
	ixfr := new(mdns.Msg)
	ixfr.SetIxfr("gslb.example.com.", h.Zones().Serial("gslb.example.com"), "ns.example.net.", "hostmaster.example.net.")
	req, _ = ixfr.Pack()
	w.Reset()
	if _, o := h.Answer(req, make([]byte, 0, 65535), netip.MustParseAddr("10.1.2.3"), true); !o.transfer {
		t.Fatal("IXFR not transferred")
	}
	if err := h.Transfer(&writerFunc{&w}, req); err != nil {
		t.Fatal(err)
	}
	if got := readTransfer(t, []byte(w.String())); len(got) != 1 {
		t.Errorf("IXFR from the current serial: %d records, want the SOA alone", len(got))
	}
}

type writerFunc struct{ b *strings.Builder }

func (w *writerFunc) Write(p []byte) (int, error) { return w.b.Write(p) }

// readTransfer reads length-prefixed messages and returns their records.
func readTransfer(t *testing.T, b []byte) []mdns.RR {
	var out []mdns.RR
	for len(b) >= 2 {
		n := int(b[0])<<8 | int(b[1])
		var m mdns.Msg
		if err := m.Unpack(b[2 : 2+n]); err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Answer...)
		b = b[2+n:]
	}
	return out
}

func TestRefusesBeforeFirstPlan(t *testing.T) {
	c, err := config.Parse("t.conf", []byte(testConf))
	if err != nil {
		t.Fatal(err)
	}
	zs, _ := LoadZones(zonesOf(c.Zones), nil, time.Now())
	h := NewHandler(zs, locator, Options{}, nil)
	if h.Ready() {
		t.Error("ready before a plan")
	}
	if r, _ := exchange(t, h, testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: -1}.msg(), "", false); r.Rcode != mdns.RcodeRefused {
		t.Errorf("rcode = %s, want REFUSED", mdns.RcodeToString[r.Rcode])
	}
}

func TestZoneErrors(t *testing.T) {
	dir := t.TempDir()
	zf := filepath.Join(dir, "db.example.org")
	os.WriteFile(zf, []byte("$TTL 60\nwww IN A 192.0.2.1\nbad IN A 300.1.1.1\n"), 0o644)
	outside := filepath.Join(dir, "db.outside")
	os.WriteFile(outside, []byte("$TTL 60\nwww IN A 192.0.2.1\nwww.example.net. IN A 192.0.2.2\n"), 0o644)
	for _, tc := range []struct {
		name, zone, want string
	}{
		{"bad inline record", "    record www A 300.1.1.1\n", "t.conf:3: record: bad A A: \"300.1.1.1\""},
		{"unknown type", "    record www BOGUS 1\n", `t.conf:3: record: not a TTL: "BOGUS"`},
		{"inline record outside the zone", "    record www.example.net. A 192.0.2.1\n", "t.conf:3: record www.example.net is outside zone example.org"},
		{"SOA inline", "    record @ SOA a. b. 1 2 3 4 5\n", "t.conf:3: record example.org: the SOA comes from the soa directive"},
		{"record at a service", "    record app A 192.0.2.1\n    service app {\n    }\n", "t.conf:3: record app.example.org: the name is a global service, whose answers the engine decides"},
		{"record at a service, spelled with an escape", "    record \\097pp A 192.0.2.1\n    service app {\n    }\n", "t.conf:3: record app.example.org: the name is a global service, whose answers the engine decides"},
		{"NS at a wildcard", "    record *.sub NS ns.example.net.\n", "t.conf:3: record *.sub.example.org: a wildcard cannot delegate; NS records need a name without *"},
		{"NS at a wildcard, spelled with an escape", "    record \\042 NS ns.example.net.\n", "t.conf:3: record *.example.org: a wildcard cannot delegate; NS records need a name without *"},
		{"CNAME and other data", "    record www CNAME a\n    record www TXT x\n", "t.conf:1: zone example.org: www.example.org has a CNAME and other records; a CNAME must stand alone"},
		{"syntax error in a zone file, with its line", "    file " + zf + "\n", zf + `:3: bad A A: "300.1.1.1"`},
		{"record outside the zone in a zone file, with its line", "    file " + outside + "\n", outside + ":3: record www.example.net is outside zone example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse("t.conf", []byte("zone example.org {\n    ns ns.example.net\n"+tc.zone+"}\n"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = LoadZones(zonesOf(c.Zones), nil, time.Now())
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v\nwant  %s", err, tc.want)
			}
		})
	}
}

func TestSerialFollowsContent(t *testing.T) {
	load := func(conf string, prev *Zones, at int64) *Zones {
		c, err := config.Parse("t.conf", []byte(conf))
		if err != nil {
			t.Fatal(err)
		}
		zs, err := LoadZones(zonesOf(c.Zones), prev, time.Unix(at, 0))
		if err != nil {
			t.Fatal(err)
		}
		return zs
	}
	const a = "zone example.org {\n    ns ns.example.net\n    record www A 192.0.2.1\n}\n"
	const b = "zone example.org {\n    ns ns.example.net\n    record www A 192.0.2.2\n}\n"
	z1 := load(a, nil, 1000)
	if got := z1.Serial("example.org"); got != 1000 {
		t.Errorf("first serial %d, want the time, 1000", got)
	}
	if got := load(a, z1, 2000).Serial("example.org"); got != 1000 {
		t.Errorf("unchanged content moved the serial to %d", got)
	}
	z3 := load(b, z1, 2000)
	if got := z3.Serial("example.org"); got != 2000 {
		t.Errorf("changed content: serial %d, want 2000", got)
	}
	if got := load(a, z3, 1500).Serial("example.org"); got != 2001 {
		t.Errorf("changed content with the clock behind: serial %d, want 2001 (serials only grow)", got)
	}
}
