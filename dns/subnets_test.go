package dns

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

// TestSubnetListScope checks the ECS scope rule: an answer's scope is never
// wider than the narrowest input that decided it. A subnet-list entry
// decides with its own prefix length; where GeoIP decides, its network's
// scope is narrowed so that it covers no entry that answers otherwise.
func TestSubnetListScope(t *testing.T) {
	nets := filepath.Join(t.TempDir(), "nets.txt")
	body := "81.2.69.0/24 us-east # inside GeoIP's 81.2.64.0/18, which says GB\n8.8.8.0/24 eu-west us-east\n2001:db8::/32 us-east\n"
	if err := os.WriteFile(nets, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(testConf, "meridian {\n", "meridian {\n    subnets "+nets+"\n", 1)
	h := newTestHandler(t, conf)
	const eu, us = "app.gslb.example.com. 30 IN A 192.0.2.", "app.gslb.example.com. 30 IN A 198.51.100.10"
	for _, tc := range []struct {
		name, subnet, from string
		want               string // the answer's prefix: eu or us
		scope              int    // -1: no ECS option expected
	}{
		{"the entry decides, with its prefix", "81.2.69.0/24", "", us, 24},
		{"again, from the address cache", "81.2.69.0/24", "", us, 24},
		{"a longer source: still the entry's scope", "81.2.69.128/25", "", us, 24},
		{"GeoIP decides next door, narrowed off the entry", "81.2.70.0/24", "", eu, 23},
		{"GeoIP decides further off, narrowed less", "81.2.100.0/24", "", eu, 19},
		{"GeoIP decides far from any entry: its network's scope", "10.9.0.0/28", "", eu, 28},
		{"an entry that sends a US address to Europe first", "8.8.8.0/24", "", eu, 24},
		{"GeoIP for the rest of its network", "8.8.9.0/24", "", us, 24},
		{"IPv6 entries for IPv6 subnets", "2001:db8:1::/48", "", us, 32},
		{"an IPv4-mapped subnet: the entry's scope in IPv6 bits", "::ffff:81.2.69.0/120", "", us, 120},
		{"an IPv4-mapped subnet placed by GeoIP: its network in IPv6 bits", "::ffff:81.2.70.0/120", "", eu, 119},
		{"the resolver's address when there is no ECS", "", "81.2.69.7", us, -1},
	} {
		q := testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: tc.subnet, from: tc.from}
		if tc.subnet == "" {
			q.edns = -1
		}
		r, _ := exchange(t, h, q.msg(), tc.from, false)
		got := section(r.Answer)
		if len(got) == 0 || !strings.HasPrefix(got[0], tc.want) {
			t.Errorf("%s: answer %v, want %s...", tc.name, got, tc.want)
		}
		scope, ok := ecsScope(r)
		if tc.scope >= 0 && (!ok || scope != tc.scope) {
			t.Errorf("%s: ECS scope %d (present %v), want %d", tc.name, scope, ok, tc.scope)
		}
	}
	// The hot path stays free of allocations with a subnet list: IPv4 from
	// the address cache, IPv6 placed per query.
	out := make([]byte, 0, 65535)
	for _, subnet := range []string{"81.2.69.0/24", "81.2.70.0/24", "2001:db8:1::/48", "2001:db9:1::/48"} {
		req, _ := testQuery{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: subnet}.msg().Pack()
		h.Answer(req, out, netip.MustParseAddr("127.0.0.1"), false)
		if n := testing.AllocsPerRun(1000, func() { h.Answer(req, out, netip.MustParseAddr("127.0.0.1"), false) }); n != 0 {
			t.Errorf("answer to %s allocates %v times per query, want 0", subnet, n)
		}
	}
}
