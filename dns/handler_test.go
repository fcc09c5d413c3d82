package dns

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/discovery/static"
	"github.com/meridian-gtm/meridian/geo"
	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
)

const testConf = `
cluster eu-west {
    location 53.35 -6.26
    static {
        ingress 192.0.2.10 192.0.2.11
        pods app 6
    }
}
cluster us-east {
    location 39.04 -77.49
    static {
        ingress 198.51.100.10 2001:db8::10
        pods app 9
        pods v4only 1
    }
}
zone gslb.example.com {
    ttl 3600
    soa ns1.gslb.example.com hostmaster.example.com {
        minimum 120
    }
    ns  ns1.gslb.example.com 127.0.0.1 ::1
    ns  ns.example.net
    service app {
        ttl 30
    }
    service v4only {
        ttl 30
    }
}
zone sub.gslb.example.com {
    ns ns.example.net
}
`

// fakeLocator places a few networks, as a GeoIP database would.
type fakeLocator map[netip.Prefix]geo.Location

func (f fakeLocator) Lookup(ip netip.Addr) geo.Location {
	for p, l := range f {
		if p.Contains(ip) {
			l.Network = p
			return l
		}
	}
	return geo.Location{Network: netip.PrefixFrom(ip, 8).Masked()}
}

var locator = fakeLocator{
	netip.MustParsePrefix("81.2.64.0/18"): {Country: "GB", Point: model.Point{Lat: 54, Lon: -2}, HasPoint: true},
	netip.MustParsePrefix("8.8.0.0/15"):   {Country: "US", Point: model.Point{Lat: 38, Lon: -97}, HasPoint: true},
	netip.MustParsePrefix("10.9.0.0/28"):  {Country: "GB", Point: model.Point{Lat: 54, Lon: -2}, HasPoint: true},
}

func newTestHandler(t *testing.T) *Handler {
	t.Helper()
	c, err := config.Parse("t.conf", []byte(testConf))
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(c.Zones, locator, nil)
	h.Publish(weights.Solve(time.Time{}, static.Inventory(c.Clusters), model.Health{}, model.Overrides{}, c.Policies()))
	return h
}

// recorder is a ResponseWriter that keeps the response instead of sending it.
type recorder struct {
	remote net.Addr
	msg    *mdns.Msg
}

func (r *recorder) LocalAddr() net.Addr         { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (r *recorder) RemoteAddr() net.Addr        { return r.remote }
func (r *recorder) WriteMsg(m *mdns.Msg) error  { r.msg = m; return nil }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) Close() error                { return nil }
func (r *recorder) TsigStatus() error           { return nil }
func (r *recorder) TsigTimersOnly(bool)         {}
func (r *recorder) Hijack()                     {}

type query struct {
	name   string
	qtype  uint16
	from   string // source address of the query
	subnet string // ECS source prefix, "" for none
	edns   int    // -1: no EDNS; else the EDNS version
}

func ask(t *testing.T, h *Handler, q query) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(q.name, q.qtype)
	if q.edns >= 0 || q.subnet != "" {
		m.SetEdns0(1232, false)
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
	from := q.from
	if from == "" {
		from = "127.0.0.1"
	}
	w := &recorder{remote: &net.UDPAddr{IP: net.ParseIP(from), Port: 5300}}
	h.ServeDNS(w, m)
	if w.msg == nil {
		t.Fatal("no response")
	}
	return w.msg
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

func TestHandler(t *testing.T) {
	h := newTestHandler(t)
	serial := h.table.Load().zones["gslb.example.com."].soa.Serial
	soaNeg := "gslb.example.com. 120 IN SOA ns1.gslb.example.com. hostmaster.example.com. " +
		itoa(serial) + " 3600 600 1209600 120"
	for _, tc := range []struct {
		name      string
		q         query
		rcode     int
		aa        bool
		answer    []string
		authority []string
		extra     []string
		scope     int // ECS scope expected; -1: no ECS option in the response
	}{
		{"UK subnet goes to eu-west; scope is the GeoIP network, not wider than the source",
			query{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}, mdns.RcodeSuccess, true,
			[]string{"app.gslb.example.com. 30 IN A 192.0.2.10", "app.gslb.example.com. 30 IN A 192.0.2.11"}, nil, nil, 18},
		{"US subnet goes to us-east",
			query{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "8.8.8.0/24"}, mdns.RcodeSuccess, true,
			[]string{"app.gslb.example.com. 30 IN A 198.51.100.10"}, nil, nil, 15},
		{"a GeoIP network longer than the source prefix gives the source prefix as scope",
			query{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "10.9.0.0/24"}, mdns.RcodeSuccess, true,
			[]string{"app.gslb.example.com. 30 IN A 192.0.2.10", "app.gslb.example.com. 30 IN A 192.0.2.11"}, nil, nil, 24},
		{"without ECS the source address decides",
			query{name: "app.gslb.example.com.", qtype: mdns.TypeA, from: "8.8.4.4", edns: -1}, mdns.RcodeSuccess, true,
			[]string{"app.gslb.example.com. 30 IN A 198.51.100.10"}, nil, nil, -1},
		{"ECS overrides the source address",
			query{name: "app.gslb.example.com.", qtype: mdns.TypeA, from: "8.8.4.4", subnet: "81.2.69.0/24"}, mdns.RcodeSuccess, true,
			[]string{"app.gslb.example.com. 30 IN A 192.0.2.10", "app.gslb.example.com. 30 IN A 192.0.2.11"}, nil, nil, 18},
		{"unknown location gets every cluster with capacity",
			query{name: "app.gslb.example.com.", qtype: mdns.TypeA, from: "192.0.2.99", edns: -1}, mdns.RcodeSuccess, true,
			[]string{"app.gslb.example.com. 30 IN A 192.0.2.10", "app.gslb.example.com. 30 IN A 192.0.2.11",
				"app.gslb.example.com. 30 IN A 198.51.100.10"}, nil, nil, -1},
		{"AAAA of the chosen cluster",
			query{name: "app.gslb.example.com.", qtype: mdns.TypeAAAA, subnet: "8.8.8.0/24"}, mdns.RcodeSuccess, true,
			[]string{"app.gslb.example.com. 30 IN AAAA 2001:db8::10"}, nil, nil, 15},
		{"AAAA where the chosen cluster has only IPv4 is NODATA",
			query{name: "app.gslb.example.com.", qtype: mdns.TypeAAAA, subnet: "81.2.69.0/24"}, mdns.RcodeSuccess, true,
			nil, []string{soaNeg}, nil, 18},
		{"other types at a service name are NODATA",
			query{name: "app.gslb.example.com.", qtype: mdns.TypeMX, edns: -1}, mdns.RcodeSuccess, true,
			nil, []string{soaNeg}, nil, -1},
		{"name that does not exist: NXDOMAIN with the SOA, negative TTL = min(TTL, minimum)",
			query{name: "nope.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeNameError, true,
			nil, []string{soaNeg}, nil, -1},
		{"below a service name: NXDOMAIN",
			query{name: "x.app.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeNameError, true,
			nil, []string{soaNeg}, nil, -1},
		{"NXDOMAIN echoes ECS with scope 0",
			query{name: "nope.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}, mdns.RcodeNameError, true,
			nil, []string{soaNeg}, nil, 0},
		{"outside every zone: REFUSED without AA",
			query{name: "www.example.org.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeRefused, false, nil, nil, nil, -1},
		{"parent of the zone: REFUSED",
			query{name: "example.com.", qtype: mdns.TypeSOA, edns: -1}, mdns.RcodeRefused, false, nil, nil, nil, -1},
		{"SOA at the apex",
			query{name: "gslb.example.com.", qtype: mdns.TypeSOA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"gslb.example.com. 3600 IN SOA ns1.gslb.example.com. hostmaster.example.com. " + itoa(serial) + " 3600 600 1209600 120"},
			nil, nil, -1},
		{"NS at the apex with glue",
			query{name: "gslb.example.com.", qtype: mdns.TypeNS, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"gslb.example.com. 3600 IN NS ns.example.net.", "gslb.example.com. 3600 IN NS ns1.gslb.example.com."},
			nil, []string{"ns1.gslb.example.com. 3600 IN A 127.0.0.1", "ns1.gslb.example.com. 3600 IN AAAA ::1"}, -1},
		{"glue name answers its address",
			query{name: "ns1.gslb.example.com.", qtype: mdns.TypeA, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"ns1.gslb.example.com. 3600 IN A 127.0.0.1"}, nil, nil, -1},
		{"case is preserved",
			query{name: "App.GSLB.example.COM.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}, mdns.RcodeSuccess, true,
			[]string{"App.GSLB.example.COM. 30 IN A 192.0.2.10", "App.GSLB.example.COM. 30 IN A 192.0.2.11"}, nil, nil, 18},
		{"the most specific zone answers",
			query{name: "sub.gslb.example.com.", qtype: mdns.TypeNS, edns: -1}, mdns.RcodeSuccess, true,
			[]string{"sub.gslb.example.com. 3600 IN NS ns.example.net."}, nil, nil, -1},
		{"EDNS version 1: BADVERS",
			query{name: "app.gslb.example.com.", qtype: mdns.TypeA, edns: 1}, mdns.RcodeBadVers, false, nil, nil, nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := ask(t, h, tc.q)
			if m.Rcode != tc.rcode {
				t.Errorf("rcode = %s, want %s", mdns.RcodeToString[m.Rcode], mdns.RcodeToString[tc.rcode])
			}
			if m.Authoritative != tc.aa {
				t.Errorf("AA = %v, want %v", m.Authoritative, tc.aa)
			}
			if m.Question[0].Name != tc.q.name {
				t.Errorf("question = %q, want %q", m.Question[0].Name, tc.q.name)
			}
			if got := section(m.Answer); !slices.Equal(got, tc.answer) {
				t.Errorf("answer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.answer, "\n"))
			}
			if got := section(m.Ns); !slices.Equal(got, tc.authority) {
				t.Errorf("authority:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.authority, "\n"))
			}
			if got := section(m.Extra); !slices.Equal(got, tc.extra) {
				t.Errorf("additional:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.extra, "\n"))
			}
			scope, ok := ecsScope(m)
			if tc.scope < 0 && ok {
				t.Errorf("unexpected ECS option in response")
			}
			if tc.scope >= 0 && (!ok || scope != tc.scope) {
				t.Errorf("ECS scope = %d (present %v), want %d", scope, ok, tc.scope)
			}
			if (m.IsEdns0() != nil) != (tc.q.edns >= 0 || tc.q.subnet != "") {
				t.Errorf("OPT in response = %v, want it exactly when the query had one", m.IsEdns0() != nil)
			}
		})
	}
}

func TestHandlerRefusesBeforeFirstPlan(t *testing.T) {
	c, err := config.Parse("t.conf", []byte(testConf))
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(c.Zones, locator, nil)
	if h.Ready() {
		t.Error("ready before a plan")
	}
	if m := ask(t, h, query{name: "app.gslb.example.com.", qtype: mdns.TypeA, edns: -1}); m.Rcode != mdns.RcodeRefused {
		t.Errorf("rcode = %s, want REFUSED", mdns.RcodeToString[m.Rcode])
	}
}

func TestHandlerTruncatesUDP(t *testing.T) {
	var b strings.Builder
	b.WriteString("cluster big {\n    static {\n        ingress")
	for i := 1; i <= 60; i++ {
		b.WriteString(" 192.0.2." + itoa(uint32(i)))
	}
	b.WriteString("\n        pods app 100\n    }\n}\nzone example.org {\n    ns ns.example.net\n    service app {\n    }\n}\n")
	c, err := config.Parse("t.conf", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(c.Zones, locator, nil)
	h.Publish(weights.Solve(time.Time{}, static.Inventory(c.Clusters), model.Health{}, model.Overrides{}, c.Policies()))
	m := ask(t, h, query{name: "app.example.org.", qtype: mdns.TypeA, edns: -1})
	if !m.Truncated || m.Len() > 512 {
		t.Errorf("60 A records over UDP without EDNS: TC=%v, %d bytes; want TC and at most 512", m.Truncated, m.Len())
	}
	w := &recorder{remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5300}}
	q := new(mdns.Msg)
	q.SetQuestion("app.example.org.", mdns.TypeA)
	h.ServeDNS(w, q)
	if w.msg.Truncated || len(w.msg.Answer) != 60 {
		t.Errorf("over TCP: TC=%v with %d answers, want the full 60", w.msg.Truncated, len(w.msg.Answer))
	}
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
