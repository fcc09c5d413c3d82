package dns

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/geo"
)

// uniformConf has services whose answers do not depend on the client (one
// cluster, policy all, weighted, no IPv6 anywhere) and one whose answers do.
const uniformConf = `
cluster eu-west {
    region eu-west
    location 53.35 -6.26
    static {
        ingress 192.0.2.10
        pods geo 6
        pods all 6
        pods weighted 6
        pods v4 6
    }
}
cluster us-east {
    region us-east
    location 39.04 -77.49
    static {
        ingress 198.51.100.10 2001:db8::10
        pods geo 9
        pods one 9
        pods all 9
        pods weighted 9
    }
}
zone gslb.example.com {
    ns ns.example.net
    service geo {
    }
    service one {
    }
    service all {
        policy all
    }
    service weighted {
        policy weighted
    }
    service v4 {
    }
}
`

// TestECSScopeOfUniformAnswers checks RFC 7871 section 7.2.1: an answer that
// is the same for every client carries scope 0, so that a resolver caches
// one answer for all its clients instead of one per GeoIP network; an answer
// that depends on where the client is keeps the GeoIP network's scope.
func TestECSScopeOfUniformAnswers(t *testing.T) {
	h := newTestHandler(t, uniformConf)
	for _, tc := range []struct {
		name   string
		qname  string
		qtype  uint16
		answer []string // sorted; nil: NODATA
		scope  int
	}{
		{"a service in one cluster", "one.gslb.example.com.", mdns.TypeA,
			[]string{"one.gslb.example.com. 30 IN A 198.51.100.10"}, 0},
		{"its AAAA", "one.gslb.example.com.", mdns.TypeAAAA,
			[]string{"one.gslb.example.com. 30 IN AAAA 2001:db8::10"}, 0},
		{"policy all", "all.gslb.example.com.", mdns.TypeA,
			[]string{"all.gslb.example.com. 30 IN A 192.0.2.10", "all.gslb.example.com. 30 IN A 198.51.100.10"}, 0},
		{"AAAA of an IPv4-only service is NODATA for everyone", "v4.gslb.example.com.", mdns.TypeAAAA, nil, 0},
		{"a geo service in several clusters keeps the GeoIP network's scope", "geo.gslb.example.com.", mdns.TypeA,
			[]string{"geo.gslb.example.com. 30 IN A 192.0.2.10"}, 18},
		{"and its AAAA NODATA too, which is not everyone's", "geo.gslb.example.com.", mdns.TypeAAAA, nil, 18},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := testQuery{name: tc.qname, qtype: tc.qtype, subnet: "81.2.69.0/24"}
			r, _ := exchange(t, h, q.msg(), "", false)
			if got := section(r.Answer); !slices.Equal(got, tc.answer) {
				t.Errorf("answer %v, want %v", got, tc.answer)
			}
			if scope, ok := ecsScope(r); !ok || scope != tc.scope {
				t.Errorf("ECS scope %d (present %v), want %d", scope, ok, tc.scope)
			}
		})
	}
	// policy weighted without geo: every client gets the same draw, so
	// the scope is 0 whatever record is drawn.
	for range 20 {
		r, _ := exchange(t, h, testQuery{name: "weighted.gslb.example.com.", qtype: mdns.TypeA, subnet: "8.8.8.0/24"}.msg(), "", false)
		if scope, ok := ecsScope(r); !ok || scope != 0 || len(r.Answer) != 1 {
			t.Fatalf("weighted: scope %d (present %v), %d answers; want scope 0, one answer", scope, ok, len(r.Answer))
		}
	}
}

// TestUniformAnswerSkipsGeoIP checks that a uniform answer never asks the
// GeoIP database where the client is.
func TestUniformAnswerSkipsGeoIP(t *testing.T) {
	loc := &countingLocator{Locator: locator}
	h := newTestHandlerWith(t, uniformConf, loc)
	for _, name := range []string{"one.gslb.example.com.", "all.gslb.example.com.", "weighted.gslb.example.com."} {
		exchange(t, h, testQuery{name: name, qtype: mdns.TypeA, subnet: "81.2.69.0/24"}.msg(), "", false)
		exchange(t, h, testQuery{name: name, qtype: mdns.TypeA, from: "8.8.4.4", edns: -1}.msg(), "", false)
	}
	if loc.n != 0 {
		t.Errorf("%d GeoIP lookups for answers that are the same for every client, want 0", loc.n)
	}
	exchange(t, h, testQuery{name: "geo.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}.msg(), "", false)
	if loc.n != 1 {
		t.Errorf("%d GeoIP lookups for a geo answer, want 1", loc.n)
	}
}

type countingLocator struct {
	Locator
	n int
}

func (c *countingLocator) Lookup(ip netip.Addr) geo.Location {
	c.n++
	return c.Locator.Lookup(ip)
}

// newOptionsHandler is newTestHandler(testConf) with opts.
func newOptionsHandler(t testing.TB, opts Options) *Handler {
	t.Helper()
	h := newTestHandler(t, testConf)
	if err := h.SetZones(h.Zones(), opts); err != nil {
		t.Fatal(err)
	}
	return h
}

// withOptions adds EDNS options to a query (which must have EDNS).
func withOptions(m *mdns.Msg, opts ...mdns.EDNS0) *mdns.Msg {
	o := m.IsEdns0()
	o.Option = append(o.Option, opts...)
	return m
}

func nsidOf(m *mdns.Msg) (string, bool) {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if n, ok := o.(*mdns.EDNS0_NSID); ok {
				b, _ := hex.DecodeString(n.Nsid)
				return string(b), true
			}
		}
	}
	return "", false
}

func cookieOf(m *mdns.Msg) (string, bool) {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if c, ok := o.(*mdns.EDNS0_COOKIE); ok {
				return c.Cookie, true
			}
		}
	}
	return "", false
}

func TestNSID(t *testing.T) {
	h := newOptionsHandler(t, Options{NSID: []byte("replica-1")})
	ask := &mdns.EDNS0_NSID{Code: mdns.EDNS0NSID}
	for _, tc := range []struct {
		name string
		m    *mdns.Msg
		tcp  bool
		want string // "": no NSID option in the response
	}{
		{"asked for: sent", withOptions(testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg(), ask), false, "replica-1"},
		{"with the client subnet, in a service answer", withOptions(testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}.msg(), ask), false, "replica-1"},
		{"in NXDOMAIN", withOptions(testQuery{name: "nope.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg(), ask), false, "replica-1"},
		{"in REFUSED", withOptions(testQuery{name: "www.example.org.", qtype: mdns.TypeA, edns: 0}.msg(), ask), false, "replica-1"},
		{"over TCP", withOptions(testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg(), ask), true, "replica-1"},
		{"a payload in the query is ignored (RFC 5001 2.1)", withOptions(testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg(),
			&mdns.EDNS0_NSID{Code: mdns.EDNS0NSID, Nsid: "abcd"}), false, "replica-1"},
		{"not asked for: not sent", testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg(), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := exchange(t, h, tc.m, "", tc.tcp)
			got, ok := nsidOf(r)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("NSID %q (present %v), want %q", got, ok, tc.want)
			}
			if tc.m.Question[0].Name == "app.gslb.example.com." {
				if scope, ok := ecsScope(r); !ok || scope != 18 || len(r.Answer) != 1 {
					t.Errorf("the client subnet beside the NSID: scope %d (present %v), %d answers", scope, ok, len(r.Answer))
				}
			}
		})
	}
	off := newOptionsHandler(t, Options{})
	if r, _ := exchange(t, off, withOptions(testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg(), ask), "", false); r.Rcode != mdns.RcodeSuccess {
		t.Errorf("NSID asked of a server without one: %s", mdns.RcodeToString[r.Rcode])
	} else if _, ok := nsidOf(r); ok {
		t.Error("NSID sent though none is configured")
	}
}

// rfc9018Secret is the secret of RFC 9018's examples (Appendix A).
var rfc9018Secret = [CookieSecretLen]byte{0xe5, 0xe9, 0x73, 0xe5, 0xa6, 0xb2, 0xa4, 0x3f, 0x48, 0xe7, 0xdc, 0x84, 0x9e, 0x37, 0xbf, 0xcf}

// cookieQuery is a query for a static name carrying the COOKIE option
// cookie (hex).
func cookieQuery(cookie string) *mdns.Msg {
	return withOptions(testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg(),
		&mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: cookie})
}

// exchangeAt is exchange at a given time, from a given client.
func exchangeAt(t testing.TB, h *Handler, m *mdns.Msg, from string, now uint32) (*mdns.Msg, outcome) {
	t.Helper()
	req, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	resp, o := h.answer(req, make([]byte, 0, 65535), netip.MustParseAddr(from), false, now, signInline)
	if resp == nil {
		return nil, o
	}
	var r mdns.Msg
	if err := r.Unpack(resp); err != nil {
		t.Fatalf("unpacking the response: %v\n% x", err, resp)
	}
	return &r, o
}

// TestCookieRFC9018Vectors runs RFC 9018's examples (Appendix A) through the
// handler, byte for byte: the client cookie, client address, secret and
// time given there, and the COOKIE option of each response.
func TestCookieRFC9018Vectors(t *testing.T) {
	rolled := [CookieSecretLen]byte{0x44, 0x55, 0x36, 0xbc, 0xd2, 0x51, 0x32, 0x98, 0x07, 0x5a, 0x5d, 0x37, 0x96, 0x63, 0xc9, 0x62}
	previous := [CookieSecretLen]byte{0xdd, 0x3b, 0xdf, 0x93, 0x44, 0xb6, 0x78, 0xb1, 0x85, 0xa6, 0xf5, 0xcb, 0x60, 0xfc, 0xa7, 0x15}
	for _, tc := range []struct {
		name    string
		secrets [][CookieSecretLen]byte
		from    string
		now     uint32
		query   string
		valid   bool // the query's server cookie is valid
		reply   string
	}{
		{"A.1, learning a new server cookie", [][CookieSecretLen]byte{rfc9018Secret}, "198.51.100.100", 1559731985,
			"2464c4abcf10c957", false, "2464c4abcf10c957010000005cf79f111f8130c3eee29480"},
		{"A.2, the same client 40 minutes later: valid, renewed", [][CookieSecretLen]byte{rfc9018Secret}, "198.51.100.100", 1559734385,
			"2464c4abcf10c957010000005cf79f111f8130c3eee29480", true, "2464c4abcf10c957010000005cf7a871d4a564a1442aca77"},
		// The example's cookie, with Reserved bytes set, is 1h52m old when
		// the reply is made: past the hour, so a fresh one is made.
		{"A.3, another client with an expired cookie", [][CookieSecretLen]byte{rfc9018Secret}, "203.0.113.203", 1559734700,
			"fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", false, "fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e"},
		{"A.3's cookie within its hour: valid (the hash covers the Reserved bytes as sent), sent back", [][CookieSecretLen]byte{rfc9018Secret}, "203.0.113.203", 1559727985 + 600,
			"fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", true, "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5"},
		{"A.4, IPv6, made with the previous secret: valid, renewed with the current one", [][CookieSecretLen]byte{rolled, previous},
			"2001:db8:220:1:59de:d0f4:8769:82b8", 1559741961,
			"22681ab97d52c298010000005cf7c57926556bd0934c72f8", true, "22681ab97d52c298010000005cf7c609a6bb79d16625507a"},
		{"A.4 without the previous secret: not valid", [][CookieSecretLen]byte{rolled},
			"2001:db8:220:1:59de:d0f4:8769:82b8", 1559741961,
			"22681ab97d52c298010000005cf7c57926556bd0934c72f8", false, "22681ab97d52c298010000005cf7c609a6bb79d16625507a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newOptionsHandler(t, Options{Cookies: true, CookieSecrets: tc.secrets})
			r, o := exchangeAt(t, h, cookieQuery(tc.query), tc.from, tc.now)
			if r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 {
				t.Errorf("rcode %s with %d answers, want a normal answer", mdns.RcodeToString[r.Rcode], len(r.Answer))
			}
			if got, _ := cookieOf(r); got != tc.reply {
				t.Errorf("cookie %s\nwant   %s", got, tc.reply)
			}
			if o.cookie != tc.valid {
				t.Errorf("valid cookie %v, want %v", o.cookie, tc.valid)
			}
		})
	}
}

func TestCookieLifetime(t *testing.T) {
	h := newOptionsHandler(t, Options{Cookies: true, CookieSecrets: [][CookieSecretLen]byte{rfc9018Secret}})
	const issued = 1559731985
	const cookie = "2464c4abcf10c957010000005cf79f111f8130c3eee29480" // A.1's, made at issued
	for _, tc := range []struct {
		name  string
		now   uint32
		from  string
		valid bool
		same  bool // the same cookie is sent back
	}{
		{"just made", issued, "198.51.100.100", true, true},
		{"half an hour old: sent back", issued + 1800, "198.51.100.100", true, true},
		{"older: renewed", issued + 1801, "198.51.100.100", true, false},
		{"an hour old: still valid", issued + 3600, "198.51.100.100", true, false},
		{"older than an hour: not valid", issued + 3601, "198.51.100.100", false, false},
		{"made 5 minutes in the future (another replica's clock): valid", issued - 300, "198.51.100.100", true, true},
		{"further in the future: not valid", issued - 301, "198.51.100.100", false, false},
		{"from another address: not valid", issued, "198.51.100.101", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, o := exchangeAt(t, h, cookieQuery(cookie), tc.from, tc.now)
			got, _ := cookieOf(r)
			if o.cookie != tc.valid || (got == cookie) != tc.same || r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 {
				t.Errorf("valid %v, cookie %s (%s with %d answers); want valid %v, same %v",
					o.cookie, got, mdns.RcodeToString[r.Rcode], len(r.Answer), tc.valid, tc.same)
			}
			if !tc.same {
				// A fresh cookie, made now, that validates.
				want := fmt.Sprintf("2464c4abcf10c95701000000%08x", tc.now)
				if !strings.HasPrefix(got, want) {
					t.Errorf("cookie %s, want a fresh one starting %s", got, want)
				}
				if _, o := exchangeAt(t, h, cookieQuery(got), tc.from, tc.now); !o.cookie {
					t.Errorf("the fresh cookie %s does not validate", got)
				}
			}
		})
	}
}

// TestCookieSharedSecret checks what replicas rely on: handlers with the
// same secret accept each other's cookies, with other secrets they don't.
func TestCookieSharedSecret(t *testing.T) {
	secret := [CookieSecretLen]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	a := newOptionsHandler(t, Options{Cookies: true, CookieSecrets: [][CookieSecretLen]byte{secret}})
	b := newOptionsHandler(t, Options{Cookies: true, CookieSecrets: [][CookieSecretLen]byte{secret}})
	other := newOptionsHandler(t, Options{Cookies: true})
	const from = "192.0.2.53"
	r, _ := exchange(t, a, cookieQuery("0102030405060708"), from, false)
	cookie, ok := cookieOf(r)
	if !ok || len(cookie) != 48 {
		t.Fatalf("client cookie alone: response cookie %q, want client and server cookie", cookie)
	}
	if r, o := exchange(t, b, cookieQuery(cookie), from, false); !o.cookie {
		t.Errorf("replica b does not accept replica a's cookie")
	} else if got, _ := cookieOf(r); got != cookie {
		t.Errorf("replica b answered cookie %s, want a's %s back", got, cookie)
	}
	if _, o := exchange(t, other, cookieQuery(cookie), from, false); o.cookie {
		t.Errorf("a server with another secret accepts the cookie")
	}
	// A random secret stays the same across reloads.
	r, _ = exchange(t, other, cookieQuery("0102030405060708"), from, false)
	mine, _ := cookieOf(r)
	if err := other.SetZones(other.Zones(), Options{Cookies: true, NSID: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, o := exchange(t, other, cookieQuery(mine), from, false); !o.cookie {
		t.Errorf("a reload changed the random secret: its own cookie is no longer valid")
	}
}

func TestCookieMalformed(t *testing.T) {
	on := newOptionsHandler(t, Options{Cookies: true})
	off := newOptionsHandler(t, Options{})
	for n := 0; n <= 42; n++ {
		cookie := strings.Repeat("ab", n)
		wellFormed := n == 8 || n >= 16 && n <= 40
		r, _ := exchange(t, on, cookieQuery(cookie), "", false)
		switch {
		case r == nil:
			t.Errorf("%d bytes: no answer", n)
		case wellFormed && (r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1):
			t.Errorf("%d bytes: %s, want a normal answer", n, mdns.RcodeToString[r.Rcode])
		case wellFormed:
			if got, _ := cookieOf(r); len(got) != 48 || !strings.HasPrefix(got, cookie[:16]) {
				t.Errorf("%d bytes: cookie %s, want the client cookie and a fresh server cookie", n, got)
			}
		case r.Rcode != mdns.RcodeFormatError:
			t.Errorf("%d bytes: %s, want FORMERR (RFC 7873 5.2.2)", n, mdns.RcodeToString[r.Rcode])
		default:
			// With the question and an OPT record, as Knot answers, so
			// that EDNS is not taken for unsupported; no cookie, no NSID,
			// never bigger than the query.
			m := withOptions(cookieQuery(cookie), &mdns.EDNS0_NSID{Code: mdns.EDNS0NSID})
			req, _ := m.Pack()
			resp, _ := on.Answer(req, make([]byte, 0, 65535), netip.MustParseAddr("192.0.2.1"), false)
			var r mdns.Msg
			if err := r.Unpack(resp); err != nil {
				t.Fatal(err)
			}
			_, hasCookie := cookieOf(&r)
			_, hasNSID := nsidOf(&r)
			if r.Rcode != mdns.RcodeFormatError || len(r.Question) != 1 || r.IsEdns0() == nil || hasCookie || hasNSID || len(resp) > len(req) {
				t.Errorf("%d bytes: FORMERR with %d questions, OPT %v, cookie %v, NSID %v, %d bytes for %d; want the question and a bare OPT, no bigger than the query",
					n, len(r.Question), r.IsEdns0() != nil, hasCookie, hasNSID, len(resp), len(req))
			}
		}
		// With cookies off the option is unknown, and ignored.
		r, _ = exchange(t, off, cookieQuery(cookie), "", false)
		if _, ok := cookieOf(r); r.Rcode != mdns.RcodeSuccess || ok {
			t.Errorf("cookies off, %d bytes: %s with cookie %v, want a normal answer without", n, mdns.RcodeToString[r.Rcode], ok)
		}
	}
	// EDNS version 1: BADVERS with the NSID, without a cookie (as Knot);
	// a malformed cookie there is not FORMERR.
	for _, cookie := range []string{"0102030405060708", "01"} {
		m := withOptions(cookieQuery(cookie), &mdns.EDNS0_NSID{Code: mdns.EDNS0NSID})
		m.IsEdns0().SetVersion(1)
		h := newOptionsHandler(t, Options{Cookies: true, NSID: []byte("n")})
		r, _ := exchange(t, h, m, "", false)
		_, hasCookie := cookieOf(r)
		nsid, _ := nsidOf(r)
		if r.Rcode != mdns.RcodeBadVers || hasCookie || nsid != "n" {
			t.Errorf("EDNS version 1, cookie %s: %s, cookie %v, NSID %q; want BADVERS with the NSID and no cookie",
				cookie, mdns.RcodeToString[r.Rcode], hasCookie, nsid)
		}
	}
	// Only the first COOKIE option counts.
	m := withOptions(cookieQuery("0102030405060708"), &mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: "01"})
	if r, _ := exchange(t, on, m, "", false); r.Rcode != mdns.RcodeSuccess {
		t.Errorf("a second, malformed, COOKIE option: %s, want it ignored", mdns.RcodeToString[r.Rcode])
	}
}

// TestCookieInEveryAnswer checks that the cookie (and NSID) come back with
// every kind of answer that has an OPT record, the truncated one included
// (RFC 7873 5.4 and Knot), and that the OPT record is counted in the size.
func TestCookieInEveryAnswer(t *testing.T) {
	var conf strings.Builder
	conf.WriteString("cluster big {\n    static {\n        ingress")
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(&conf, " 192.0.2.%d", i)
	}
	conf.WriteString("\n        pods app 100\n    }\n}\nzone example.org {\n    ns ns.example.net\n    service app {\n        policy all\n    }\n}\n")
	h := newTestHandler(t, conf.String())
	if err := h.SetZones(h.Zones(), Options{Cookies: true, NSID: []byte(strings.Repeat("n", MaxNSIDLen))}); err != nil {
		t.Fatal(err)
	}
	ask := &mdns.EDNS0_NSID{Code: mdns.EDNS0NSID}
	cookie := &mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: "0102030405060708"}
	for _, tc := range []struct {
		name  string
		qname string
		size  uint16
		tc    bool
		rcode int
	}{
		{"all 60 records fit 1232 bytes with the OPT", "app.example.org.", 1232, false, mdns.RcodeSuccess},
		{"1100 bytes do not: truncated, OPT kept", "app.example.org.", 1100, true, mdns.RcodeSuccess},
		{"truncated at 512 with the longest question, the longest NSID, ECS and cookie", strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 49) + ".example.org.", 512, true, mdns.RcodeNameError},
		{"NXDOMAIN", "nope.example.org.", 1232, false, mdns.RcodeNameError},
		{"REFUSED", "www.example.net.", 1232, false, mdns.RcodeRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := withOptions(testQuery{name: tc.qname, qtype: mdns.TypeA, subnet: "2001:db8:1234:5678:9abc:def0:1234:5678/128"}.msg(), ask, cookie)
			m.IsEdns0().SetUDPSize(tc.size)
			req, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			resp, _ := h.Answer(req, make([]byte, 0, 65535), netip.MustParseAddr("192.0.2.1"), false)
			if len(resp) > int(tc.size) {
				t.Errorf("%d bytes for a payload size of %d", len(resp), tc.size)
			}
			var r mdns.Msg
			if err := r.Unpack(resp); err != nil {
				t.Fatal(err)
			}
			if r.Truncated != tc.tc || r.Rcode != tc.rcode {
				t.Errorf("TC %v %s, want TC %v %s", r.Truncated, mdns.RcodeToString[r.Rcode], tc.tc, mdns.RcodeToString[tc.rcode])
			}
			if got, _ := cookieOf(&r); len(got) != 48 {
				t.Errorf("cookie %q, want client and server cookie", got)
			}
			if got, _ := nsidOf(&r); len(got) != MaxNSIDLen {
				t.Errorf("NSID of %d bytes, want %d", len(got), MaxNSIDLen)
			}
			if _, ok := ecsScope(&r); !ok {
				t.Error("no client subnet")
			}
		})
	}
}

// TestCookieExemptFromRRL checks that a query with a valid server cookie,
// whose address is proven, is never rate limited (as in BIND and Knot),
// and that a limited query with a client cookie slips as BADCOOKIE with a
// fresh server cookie (as in BIND), so that the client asks again with it.
func TestCookieExemptFromRRL(t *testing.T) {
	h := newOptionsHandler(t, Options{Cookies: true})
	s := newServer(ServerConfig{Handler: h, Limiter: NewLimiter(&LimiterConfig{ResponsesPerSecond: 1, Window: 15 * time.Second,
		Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56})})
	client := netip.MustParseAddr("192.0.2.7")
	now := time.Unix(1_700_000_000, 0)
	send := func(m *mdns.Msg) *mdns.Msg {
		req, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := s.answerUDP(req, make([]byte, 0, 65535), client, now, signInline)
		if resp == nil {
			return nil
		}
		var r mdns.Msg
		if err := r.Unpack(resp); err != nil {
			t.Fatal(err)
		}
		return &r
	}
	// Count what 10 queries of one second get.
	tally := func(m *mdns.Msg) (answered, dropped, truncated, badCookie int, cookie string) {
		for range 10 {
			switch r := send(m); {
			case r == nil:
				dropped++
			case r.Truncated:
				truncated++
			case r.Rcode == mdns.RcodeBadCookie:
				badCookie++
				if len(r.Answer) != 0 || r.Authoritative {
					t.Errorf("BADCOOKIE with %d answers, AA %v", len(r.Answer), r.Authoritative)
				}
				cookie, _ = cookieOf(r)
			default:
				answered++
				cookie, _ = cookieOf(r)
			}
		}
		return
	}
	if a, d, tc, bc, _ := tally(testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg()); a != 1 || d == 0 || tc == 0 || bc != 0 {
		t.Errorf("without a cookie: %d answered, %d dropped, %d truncated, %d BADCOOKIE; want 1 answered, the rest dropped or truncated", a, d, tc, bc)
	}
	now = now.Add(time.Minute)
	a, d, tc, bc, cookie := tally(cookieQuery("0102030405060708"))
	if a != 1 || d == 0 || tc != 0 || bc == 0 || len(cookie) != 48 {
		t.Errorf("with a client cookie: %d answered, %d dropped, %d truncated, %d BADCOOKIE (cookie %q); want 1 answered, the rest dropped or BADCOOKIE with a cookie", a, d, tc, bc, cookie)
	}
	if a, d, tc, bc, _ := tally(cookieQuery(cookie)); a != 10 || d+tc+bc != 0 {
		t.Errorf("with the server cookie: %d answered, %d dropped, %d truncated, %d BADCOOKIE; want all 10 answered", a, d, tc, bc)
	}
}

func TestReadCookieSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(text string) string {
		path := filepath.Join(dir, "secret")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const cur, prev = "e5e973e5a6b2a43f48e7dc849e37bfcf", "445536BCD2513298075A5D379663C962"
	got, err := ReadCookieSecrets(write("# rolled 2024-06-01\n" + cur + "\n\n  " + prev + "  \n"))
	if err != nil || len(got) != 2 || got[0] != rfc9018Secret || hex.EncodeToString(got[1][:]) != strings.ToLower(prev) {
		t.Errorf("current and previous: %x, %v", got, err)
	}
	if got, err := ReadCookieSecrets(write(cur)); err != nil || len(got) != 1 || got[0] != rfc9018Secret {
		t.Errorf("one secret without a newline: %x, %v", got, err)
	}
	for text, want := range map[string]string{
		"":                                    "secret: no secret; put 32 hex digits in it, e.g. from openssl rand -hex 16",
		"# nothing\n":                         "secret: no secret; put 32 hex digits in it, e.g. from openssl rand -hex 16",
		cur[:31] + "\n":                       "secret:1: expected a secret of 32 hex digits (16 bytes), got 31 characters",
		"\n" + cur + "0\n":                    "secret:2: expected a secret of 32 hex digits (16 bytes), got 33 characters",
		cur[:31] + "g\n":                      "secret:1: expected a secret of 32 hex digits (16 bytes), got other characters",
		strings.Repeat("0", 32):               "secret:1: the secret is all zeros; generate one, e.g. with openssl rand -hex 16",
		cur + "\n" + prev + "\n" + cur + "\n": "secret:3: a third secret; give the current secret and at most one previous one",
	} {
		_, err := ReadCookieSecrets(write(text))
		if err == nil || err.Error() != filepath.Join(dir, want) {
			t.Errorf("%q: %v\nwant %s", text, err, filepath.Join(dir, want))
		}
		if err != nil && strings.Contains(err.Error(), cur[:16]) {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
	if _, err := ReadCookieSecrets(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	// Files that never end or never arrive are refused before a read:
	// a device, a FIFO (which would block a reload), a huge file.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("# padding\n", 500)+cur+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/dev/zero": "/dev/zero: not a regular file",
		dir:         dir + ": not a regular file",
		fifo:        fifo + ": not a regular file",
		big:         big + ": larger than 4096 bytes",
	} {
		done := make(chan error, 1)
		go func() { _, err := ReadCookieSecrets(path); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("%s: %v, want %s...", path, err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: still reading after 5s", path)
		}
	}
}
