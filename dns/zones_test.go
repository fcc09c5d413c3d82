package dns

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
)

// TestUnencodableRecords: records whose RDATA parses but cannot be packed
// are errors of the config, naming FILE:LINE, found when the zones load;
// they used to pass and then panic when the answer tables were compiled.
// longName is four labels of 63 octets: a valid name alone (256 octets
// with its root), too long under any origin.
var longName = strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 62)

func TestUnencodableRecords(t *testing.T) {
	for _, tc := range []struct {
		name, record, want string
	}{
		{"SSHFP with odd hex", "record fp SSHFP 1 1 ABC",
			"t.conf:3: record fp.example.org SSHFP: cannot be encoded: "},
		{"DS digest of 65 hex digits", "record sub DS 60485 5 1 " + strings.Repeat("a", 65),
			"t.conf:3: record sub.example.org DS: cannot be encoded: "},
		{"TLSA with odd hex", "record _443._tcp.www TLSA 3 1 1 ABCDE",
			"t.conf:3: record _443._tcp.www.example.org TLSA: cannot be encoded: "},
		// 4 labels of 63 octets and the origin: 269 octets, more than 255.
		{"owner name over 255 octets", "record " + longName + " A 192.0.2.1",
			"t.conf:3: record " + longName + ".example.org A: cannot be encoded: "},
		{"CNAME target over 255 octets", "record x CNAME " + longName,
			"t.conf:3: record x.example.org CNAME: cannot be encoded: "},
		{"MX exchange over 255 octets", "record x MX 10 " + longName,
			"t.conf:3: record x.example.org MX: cannot be encoded: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := "zone example.org {\n    ns ns.example.net\n    " + tc.record + "\n    record www A 192.0.2.1\n}\n"
			c, err := config.Parse("t.conf", []byte(conf))
			if err != nil {
				t.Fatal(err)
			}
			zs, err := LoadZones(zonesOf(c.Zones), nil, time.Now())
			if err == nil {
				// What the old code did next: compile and panic.
				h := NewHandler(zs, locator, Options{}, nil)
				h.Publish(weights.Solve(time.Time{}, model.Inventory{}, model.Health{}, model.NewOverrides(nil), c.Policies()))
				t.Fatalf("LoadZones accepted %q", tc.record)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant  %s...", err, tc.want)
			}
		})
	}
}

// TestCompileErrorKeepsTable: zones or settings that cannot be compiled
// leave the running table in place, and SetZones says why. Config checks
// keep a CHAOS text within one TXT string; this bypasses them.
func TestCompileErrorKeepsTable(t *testing.T) {
	h := newTestHandler(t, testConf)
	ask := func(name string, qtype uint16) []string {
		t.Helper()
		m := new(mdns.Msg)
		m.SetQuestion(name, qtype)
		if qtype == mdns.TypeTXT {
			m.Question[0].Qclass = mdns.ClassCHAOS
		}
		r, _ := exchange(t, h, m, "", false)
		return section(r.Answer)
	}
	www, version := ask("www.gslb.example.com.", mdns.TypeA), ask("version.bind.", mdns.TypeTXT)
	if len(www) != 1 || len(version) != 1 {
		t.Fatalf("before: www %q, version.bind %q", www, version)
	}
	if err := h.SetZones(h.Zones(), Options{ChaosVersion: strings.Repeat("v", 256)}); err == nil {
		t.Fatal("SetZones took a CHAOS text of 256 bytes")
	}
	if got := ask("version.bind.", mdns.TypeTXT); !slices.Equal(got, version) {
		t.Errorf("after a failed SetZones, version.bind answers %q, want %q", got, version)
	}
	if got := ask("www.gslb.example.com.", mdns.TypeA); !slices.Equal(got, www) {
		t.Errorf("after a failed SetZones, www answers %q, want %q", got, www)
	}
	// Publish keeps what it has too, and Err says why.
	bad := NewHandler(h.Zones(), locator, Options{ChaosID: strings.Repeat("i", 256)}, nil)
	bad.Publish(h.table.Load().plan)
	if bad.Err() == nil || bad.Ready() {
		t.Errorf("Publish with a CHAOS text of 256 bytes: err %v, ready %v; want an error and no table", bad.Err(), bad.Ready())
	}
	// A backslash in the config's text is a backslash, not an escape.
	if err := h.SetZones(h.Zones(), Options{ChaosVersion: `v1\065\`}); err != nil {
		t.Fatal(err)
	}
	want := `version.bind. 0 CH TXT "v1\\065\\"`
	if got := ask("version.bind.", mdns.TypeTXT); len(got) != 1 || got[0] != want {
		t.Errorf("version.bind answers %q, want %q", got, want)
	}
}

// TestTransferOfLargeRecords: a zone transfer splits its records so that
// every message fits the 64 KiB a TCP length prefix can say; it used to
// cut by count alone, and three records of 30 KB made one message whose
// length wrapped around.
func TestTransferOfLargeRecords(t *testing.T) {
	var conf strings.Builder
	conf.WriteString("zone example.org {\n    ns ns.example.net\n    allow_transfer 127.0.0.0/8\n")
	for i := range 3 {
		fmt.Fprintf(&conf, "    record big%d TXT", i)
		for range 120 {
			conf.WriteString(" " + strings.Repeat("x", 250))
		}
		conf.WriteString("\n")
	}
	conf.WriteString("}\n")
	h := newTestHandler(t, conf.String())
	m := new(mdns.Msg)
	m.SetQuestion("example.org.", mdns.TypeAXFR)
	req, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var w strings.Builder
	if err := h.Transfer(&writerFunc{&w}, req); err != nil {
		t.Fatal(err)
	}
	rrs, err := parseTransfer([]byte(w.String()))
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + 1 + 3 + 1; len(rrs) != want { // SOA, NS, 3 TXT, SOA
		t.Errorf("transfer holds %d records, want %d", len(rrs), want)
	}
}

// parseTransfer reads length-prefixed messages and returns their records,
// or an error when the stream is not a sequence of whole messages.
func parseTransfer(b []byte) ([]mdns.RR, error) {
	var out []mdns.RR
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("%d bytes left after the last message", len(b))
		}
		n := int(b[0])<<8 | int(b[1])
		if len(b) < 2+n {
			return nil, fmt.Errorf("a message of %d bytes with %d left", n, len(b)-2)
		}
		var m mdns.Msg
		if err := m.Unpack(b[2 : 2+n]); err != nil {
			return nil, err
		}
		out = append(out, m.Answer...)
		b = b[2+n:]
	}
	return out, nil
}

// TestEscapedOwnerNames: an owner written with escapes (\087 is W, \. a
// dot inside a label) is found by the queries that name it, in any case,
// and invents no names: the part after an escaped dot is not a parent.
func TestEscapedOwnerNames(t *testing.T) {
	h := newTestHandler(t, "zone example.org {\n    ns ns.example.net\n    record \\087ww A 192.0.2.1\n    record a\\.b TXT x\n}\n")
	for _, tc := range []struct {
		name  string
		rcode int
		n     int
	}{
		{"www.example.org.", mdns.RcodeSuccess, 1},
		{"WWW.example.org.", mdns.RcodeSuccess, 1},
		{"b.example.org.", mdns.RcodeNameError, 0},
	} {
		m := new(mdns.Msg)
		m.SetQuestion(tc.name, mdns.TypeA)
		r, _ := exchange(t, h, m, "", false)
		if r.Rcode != tc.rcode || len(r.Answer) != tc.n {
			t.Errorf("%s A: %s with %d answers, want %s with %d", tc.name, mdns.RcodeToString[r.Rcode], len(r.Answer), mdns.RcodeToString[tc.rcode], tc.n)
		}
	}
}
