package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
)

// ixfrVersions are successive versions of one zone's records: changed,
// deleted and added records, a TTL change, a change of the SOA alone.
var ixfrVersions = []string{
	"    record www A 192.0.2.1\n    record mail A 192.0.2.25\n    record @ TXT \"one\"\n",
	"    record www A 192.0.2.2\n    record mail A 192.0.2.25\n    record new A 192.0.2.9\n",
	"    record www 60 A 192.0.2.2\n    record www A 192.0.2.3\n    record mail A 192.0.2.25\n    record new A 192.0.2.9\n",
	"    soa ns1.example.org hostmaster@example.org {\n        minimum 30\n    }\n    record www 60 A 192.0.2.2\n    record www A 192.0.2.3\n    record new A 192.0.2.9\n",
}

func ixfrConf(records string) string {
	return "zone example.org {\n    ns ns1.example.org 192.0.2.53\n    allow_transfer 127.0.0.0/8\n" + records + "}\n"
}

// versionedHandler loads each version after the one before, one reload
// every 1000 s from 1000, into a handler, and returns the handler and
// every version loaded.
func versionedHandler(t *testing.T, versions []string) (*Handler, []*Zones) {
	t.Helper()
	var all []*Zones
	var prev *Zones
	for i, v := range versions {
		prev = loadZones(t, ixfrConf(v), prev, int64(1000*(i+1)))
		all = append(all, prev)
	}
	h := NewHandler(all[0], locator, Options{}, nil)
	h.Publish(weights.Solve(time.Time{}, model.Inventory{}, model.Health{}, model.NewOverrides(nil), model.Policies{}))
	if err := h.SetZones(prev, Options{}); err != nil {
		t.Fatal(err)
	}
	return h, all
}

// ixfr asks h for an IXFR of example.org from serial over TCP and returns
// every record of the messages streamed, with the first message's rcode.
func ixfr(t *testing.T, h *Handler, serial uint32) ([]mdns.RR, int) {
	t.Helper()
	m := new(mdns.Msg)
	m.SetIxfr("example.org.", serial, "ns1.example.org.", "hostmaster.example.org.")
	return transferRecords(t, h, m)
}

func transferRecords(t *testing.T, h *Handler, m *mdns.Msg) ([]mdns.RR, int) {
	t.Helper()
	req, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	resp, o := h.Answer(req, make([]byte, 0, 65535), netip.MustParseAddr("127.0.0.1"), true)
	if !o.transfer {
		var r mdns.Msg
		if err := r.Unpack(resp); err != nil {
			t.Fatal(err)
		}
		return r.Answer, r.Rcode
	}
	var w strings.Builder
	if err := h.Transfer(&writerFunc{&w}, req); err != nil {
		t.Fatal(err)
	}
	b := []byte(w.String())
	var out []mdns.RR
	rcode := -1
	for len(b) >= 2 {
		n := int(b[0])<<8 | int(b[1])
		var r mdns.Msg
		if err := r.Unpack(b[2 : 2+n]); err != nil {
			t.Fatal(err)
		}
		if rcode < 0 {
			rcode = r.Rcode
		}
		if r.Rcode == mdns.RcodeSuccess && !r.Authoritative || r.Id != m.Id {
			t.Errorf("transfer message without AA or with id %d, want %d", r.Id, m.Id)
		}
		out = append(out, r.Answer...)
		b = b[2+n:]
	}
	return out, rcode
}

// applyIXFR applies an incremental transfer to records, the zone's at the
// serial asked from, as a secondary does: each step's old SOA must be the
// serial reached so far; its deletions must be present. It returns the
// records and the SOA reached.
func applyIXFR(t *testing.T, rrs []mdns.RR, from uint32, answer []mdns.RR) ([]mdns.RR, *mdns.SOA) {
	t.Helper()
	set := slices.Clone(rrs)
	soaAt := func(i int) *mdns.SOA {
		if i >= len(answer) {
			t.Fatalf("the transfer ends at record %d, within a step", i)
		}
		soa, ok := answer[i].(*mdns.SOA)
		if !ok {
			t.Fatalf("record %d is %v, want an SOA", i, answer[i])
		}
		return soa
	}
	final := soaAt(0)
	if last := soaAt(len(answer) - 1); last.Serial != final.Serial {
		t.Fatalf("the transfer ends with serial %d, begins with %d", last.Serial, final.Serial)
	}
	serial := from
	var reached *mdns.SOA
	i := 1
	for i < len(answer)-1 {
		if old := soaAt(i); old.Serial != serial {
			t.Fatalf("a step from serial %d, want %d", old.Serial, serial)
		}
		for i++; i < len(answer) && answer[i].Header().Rrtype != mdns.TypeSOA; i++ {
			j := slices.IndexFunc(set, func(rr mdns.RR) bool {
				return mdns.IsDuplicate(rr, answer[i]) && rr.Header().Ttl == answer[i].Header().Ttl
			})
			if j < 0 {
				t.Fatalf("deletes %v, which the zone at serial %d lacks", answer[i], serial)
			}
			set = slices.Delete(set, j, j+1)
		}
		reached = soaAt(i)
		serial = reached.Serial
		for i++; i < len(answer)-1 && answer[i].Header().Rrtype != mdns.TypeSOA; i++ {
			set = append(set, answer[i])
		}
	}
	if serial != final.Serial {
		t.Fatalf("the steps reach serial %d, the transfer announced %d", serial, final.Serial)
	}
	return set, reached
}

func rrStrings(rrs []mdns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, rr.String())
	}
	slices.Sort(out)
	return out
}

// TestIXFRSendsDifferences: an IXFR from a serial this process served
// gets the differences to the current version, over as many versions as
// lie between; applied to the records of that serial they give the
// current records and SOA.
func TestIXFRSendsDifferences(t *testing.T) {
	h, versions := versionedHandler(t, ixfrVersions)
	cur := versions[len(versions)-1].zone("example.org.")
	for i, v := range versions[:len(versions)-1] {
		z := v.zone("example.org.")
		t.Run(fmt.Sprintf("from version %d", i+1), func(t *testing.T) {
			answer, rcode := ixfr(t, h, z.soa.Serial)
			if rcode != mdns.RcodeSuccess {
				t.Fatalf("rcode %s", mdns.RcodeToString[rcode])
			}
			if len(answer) >= len(cur.rrs)+2 && answer[1].Header().Rrtype != mdns.TypeSOA {
				t.Fatalf("an AXFR-style answer, want the differences:\n%s", strings.Join(rrStrings(answer), "\n"))
			}
			got, soa := applyIXFR(t, z.rrs, z.soa.Serial, answer)
			if want := rrStrings(cur.rrs); !slices.Equal(rrStrings(got), want) {
				t.Errorf("applied, the differences give\n%s\nwant\n%s", strings.Join(rrStrings(got), "\n"), strings.Join(want, "\n"))
			}
			if soa.String() != cur.soa.String() {
				t.Errorf("applied, the differences reach %v, want %v", soa, cur.soa)
			}
			if steps := len(versions) - 1 - i; strings.Count(fmt.Sprint(answer), "SOA") != 2+2*steps {
				t.Errorf("%d SOAs for %d steps: %v", strings.Count(fmt.Sprint(answer), "SOA"), steps, answer)
			}
		})
	}
}

// TestIXFRUpToDate: a client whose serial is the zone's, or newer in RFC
// 1982 arithmetic (across the wrap too), gets the current SOA alone.
func TestIXFRUpToDate(t *testing.T) {
	h, versions := versionedHandler(t, ixfrVersions[:2])
	cur := versions[1].zone("example.org.").soa
	for _, serial := range []uint32{cur.Serial, cur.Serial + 1, cur.Serial + 1<<31 - 1} {
		answer, rcode := ixfr(t, h, serial)
		if rcode != mdns.RcodeSuccess || len(answer) != 1 || answer[0].String() != cur.String() {
			t.Errorf("IXFR from %d with the zone at %d: %s %v, want the current SOA alone", serial, cur.Serial, mdns.RcodeToString[rcode], answer)
		}
	}
}

// TestIXFRHistory: the history keeps the last maxHistory steps: an IXFR
// from the oldest serial kept gets the differences; one from an older
// serial, from a serial this process never served (another replica's),
// or from before a restart gets the whole zone, AXFR-style: SOA, every
// record, SOA.
func TestIXFRHistory(t *testing.T) {
	var versions []string
	for i := range maxHistory + 4 {
		versions = append(versions, fmt.Sprintf("    record www A 192.0.2.%d\n    record v%d TXT \"%d\"\n", i+1, i, i))
	}
	h, zs := versionedHandler(t, versions)
	last := zs[len(zs)-1].zone("example.org.")
	if n := len(last.history); n != maxHistory {
		t.Errorf("history of %d steps, want %d", n, maxHistory)
	}
	oldest := zs[len(zs)-1-maxHistory].zone("example.org.")
	answer, _ := ixfr(t, h, oldest.soa.Serial)
	if got, _ := applyIXFR(t, oldest.rrs, oldest.soa.Serial, answer); !slices.Equal(rrStrings(got), rrStrings(last.rrs)) {
		t.Errorf("IXFR from the oldest version kept: %v", answer)
	}
	axfrStyle := func(h *Handler, serial uint32, why string) {
		t.Helper()
		answer, _ := ixfr(t, h, serial)
		want := append(append([]mdns.RR{last.soa}, last.rrs...), last.soa)
		if !slices.Equal(rrStrings(answer), rrStrings(want)) || answer[0].String() != last.soa.String() || answer[len(answer)-1].String() != last.soa.String() {
			t.Errorf("IXFR from %d, %s:\n%s\nwant the zone between two SOAs", serial, why, strings.Join(rrStrings(answer), "\n"))
		}
	}
	axfrStyle(h, zs[len(zs)-2-maxHistory].zone("example.org.").soa.Serial, "a version no longer kept")
	for _, serial := range []uint32{1, 999, 1500, last.soa.Serial - 1} {
		axfrStyle(h, serial, "never served here")
	}
	// A restart: the process loads the last version alone.
	restarted := NewHandler(zs[0], locator, Options{}, nil)
	restarted.Publish(weights.Solve(time.Time{}, model.Inventory{}, model.Health{}, model.NewOverrides(nil), model.Policies{}))
	fresh := loadZones(t, ixfrConf(versions[len(versions)-1]), nil, int64(last.soa.Serial))
	if err := restarted.SetZones(fresh, Options{}); err != nil {
		t.Fatal(err)
	}
	axfrStyle(restarted, zs[len(zs)-2].zone("example.org.").soa.Serial, "served before a restart")
}

// TestIXFRAfterExplicitSerialKeptOnChange: new records under an explicit
// serial that did not grow drop the history: no client could follow that
// step, so every IXFR from an older serial gets the whole zone.
func TestIXFRAfterExplicitSerialKeptOnChange(t *testing.T) {
	soa := func(n int) string {
		return fmt.Sprintf("    soa ns1.example.org hostmaster@example.org {\n        serial %d\n    }\n", n)
	}
	h, zs := versionedHandler(t, []string{
		soa(1) + "    record www A 192.0.2.1\n",
		soa(2) + "    record www A 192.0.2.2\n",
		soa(2) + "    record www A 192.0.2.3\n",
	})
	last := zs[2].zone("example.org.")
	if answer, _ := ixfr(t, h, 1); len(answer) != len(last.rrs)+2 || answer[1].Header().Rrtype == mdns.TypeSOA {
		t.Errorf("IXFR from 1 after new records under serial 2: %v, want AXFR-style", answer)
	}
}

// TestIXFROverUDP: over UDP an IXFR gets the current SOA alone, not a
// truncated empty answer, whatever the client's serial (RFC 1995 section 2);
// one without the client's SOA is FORMERR, as Knot answers it.
func TestIXFROverUDP(t *testing.T) {
	h, versions := versionedHandler(t, ixfrVersions[:2])
	cur := versions[1].zone("example.org.").soa
	for _, serial := range []uint32{versions[0].zone("example.org.").soa.Serial, cur.Serial, 7} {
		m := new(mdns.Msg)
		m.SetIxfr("example.org.", serial, "ns1.example.org.", "hostmaster.example.org.")
		m.SetEdns0(1232, false)
		r, o := exchange(t, h, m, "127.0.0.1", false)
		if o.transfer || r.Truncated || r.Rcode != mdns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 || r.Answer[0].String() != cur.String() {
			t.Errorf("IXFR over UDP from %d: %v, want the current SOA alone", serial, r)
		}
		if r.IsEdns0() == nil {
			t.Errorf("IXFR over UDP with EDNS: no OPT in the answer")
		}
		if r.Id != m.Id || len(r.Question) != 1 || r.Question[0].Qtype != mdns.TypeIXFR {
			t.Errorf("the answer does not echo the question: %v", r)
		}
	}
	below := new(mdns.Msg)
	below.SetIxfr("www.example.org.", cur.Serial, "ns1.example.org.", "hostmaster.example.org.")
	if r, _ := exchange(t, h, below, "127.0.0.1", false); r.Rcode != mdns.RcodeNotAuth || len(r.Answer) != 0 {
		t.Errorf("IXFR over UDP of a name below the apex: %v, want NOTAUTH", r)
	}
	below = new(mdns.Msg)
	below.SetAxfr("www.example.org.")
	if _, rcode := transferRecords(t, h, below); rcode != mdns.RcodeNotAuth {
		t.Errorf("AXFR of a name below the apex: %s, want NOTAUTH", mdns.RcodeToString[rcode])
	}
	noSOA := new(mdns.Msg)
	noSOA.SetQuestion("example.org.", mdns.TypeIXFR)
	noSOA.Ns = []mdns.RR{&mdns.NS{Hdr: mdns.RR_Header{Name: "example.org.", Rrtype: mdns.TypeNS, Class: mdns.ClassINET}, Ns: "ns.example."}}
	if r, _ := exchange(t, h, noSOA, "127.0.0.1", false); r.Rcode != mdns.RcodeFormatError {
		t.Errorf("IXFR over UDP without an SOA: %v, want FORMERR", r)
	}
	if _, rcode := transferRecords(t, h, noSOA); rcode != mdns.RcodeFormatError {
		t.Errorf("IXFR over TCP without an SOA: rcode %s, want FORMERR", mdns.RcodeToString[rcode])
	}
}

// transferConf has a zone with a global service whose config allows
// transfers and NOTIFY; the opt-in is taken away after parsing, as config
// validation would refuse the zone without it.
const transferConf = `
zone example.org {
    ns ns1.example.org 192.0.2.53
    allow_transfer 127.0.0.0/8
    notify %s
    allow_transfer_without_services yes
    record www A 192.0.2.1
    service app {
    }
}
`

// TestZoneWithServicesNotTransferred: a zone with a global service is not
// transferred (AXFR and IXFR over UDP and TCP are REFUSED) nor notified,
// even to allowed clients, unless it opts in; with the opt-in it is, and
// without the service.
func TestZoneWithServicesNotTransferred(t *testing.T) {
	notified := make(chan *mdns.Msg, 4)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	secondary := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, m *mdns.Msg) {
		notified <- m
		r := new(mdns.Msg)
		r.SetReply(m)
		w.WriteMsg(r)
	})}
	go secondary.ActivateAndServe()
	defer secondary.Shutdown()
	c, err := config.Parse("t.conf", []byte(fmt.Sprintf(transferConf, pc.LocalAddr())))
	if err != nil {
		t.Fatal(err)
	}
	for _, optIn := range []bool{false, true} {
		t.Run(fmt.Sprintf("opt-in %v", optIn), func(t *testing.T) {
			zones := slices.Clone(c.Zones)
			zones[0].AllowTransferWithoutServices = optIn
			zs, err := LoadZones(zonesOf(zones), nil, time.Unix(1000, 0))
			if err != nil {
				t.Fatal(err)
			}
			h := NewHandler(zs, locator, Options{}, nil)
			h.Publish(weights.Solve(time.Time{}, model.Inventory{}, model.Health{}, model.NewOverrides(nil), c.Policies()))
			want := mdns.RcodeRefused
			if optIn {
				want = mdns.RcodeSuccess
			}
			axfr := new(mdns.Msg)
			axfr.SetAxfr("example.org.")
			ixfrMsg := new(mdns.Msg)
			ixfrMsg.SetIxfr("example.org.", 1, "ns1.example.org.", "hostmaster.example.org.")
			for _, m := range []*mdns.Msg{axfr, ixfrMsg} {
				name := mdns.Type(m.Question[0].Qtype).String()
				if _, rcode := transferRecords(t, h, m); rcode != want {
					t.Errorf("%s over TCP: %s, want %s", name, mdns.RcodeToString[rcode], mdns.RcodeToString[want])
				}
				if r, _ := exchange(t, h, m, "127.0.0.1", false); r.Rcode != want {
					t.Errorf("%s over UDP: %s, want %s", name, mdns.RcodeToString[r.Rcode], mdns.RcodeToString[want])
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			Notify(ctx, zs, nil, nil)
			select {
			case m := <-notified:
				if !optIn {
					t.Errorf("NOTIFY sent for a zone with services: %v", m)
				}
			default:
				if optIn {
					t.Error("no NOTIFY with the opt-in")
				}
			}
		})
	}
}

// TestIXFRBrokenSOA: an IXFR whose authority SOA is cut short gets
// FORMERR over TCP, as over UDP, rather than a closed connection.
func TestIXFRBrokenSOA(t *testing.T) {
	h, _ := versionedHandler(t, ixfrVersions[:1])
	m := new(mdns.Msg)
	m.SetIxfr("example.org.", 1, "ns1.example.org.", "hostmaster.example.org.")
	m.Id = 0x4242
	req, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	req = req[:len(req)-6]
	for _, tcp := range []bool{false, true} {
		resp, o := h.Answer(req, make([]byte, 0, 65535), netip.MustParseAddr("127.0.0.1"), tcp)
		if o.transfer {
			var w strings.Builder
			if err := h.Transfer(&writerFunc{&w}, req); err != nil {
				t.Fatalf("TCP: %v", err)
			}
			resp = []byte(w.String())[2:]
		}
		var r mdns.Msg
		if err := r.Unpack(resp); err != nil || r.Id != 0x4242 || !r.Response || r.Rcode != mdns.RcodeFormatError {
			t.Errorf("tcp %v: %v %v, want FORMERR", tcp, &r, err)
		}
	}
}

// TestAXFRWithSOA: an AXFR carrying the client's SOA in its authority
// section, as some secondaries send it, gets the zone, as from Knot.
func TestAXFRWithSOA(t *testing.T) {
	h, versions := versionedHandler(t, ixfrVersions[:1])
	m := new(mdns.Msg)
	m.SetIxfr("example.org.", 1, "ns1.example.org.", "hostmaster.example.org.")
	m.Question[0].Qtype = mdns.TypeAXFR
	answer, rcode := transferRecords(t, h, m)
	z := versions[0].zone("example.org.")
	if rcode != mdns.RcodeSuccess || len(answer) != len(z.rrs)+2 {
		t.Errorf("AXFR with an SOA: %s, %d records, want the zone's %d and two SOAs", mdns.RcodeToString[rcode], len(answer), len(z.rrs))
	}
}
