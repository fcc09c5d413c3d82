package config

import (
	"net/netip"
	"strings"
	"testing"
)

// TestHealthSource: health_source takes one address per family, as
// written, and refuses what cannot be the address of an interface.
func TestHealthSource(t *testing.T) {
	const zone = "zone example.org {\n    ns ns1.example.org 192.0.2.53\n}\n"
	for conf, want := range map[string]HealthSource{
		"":                                     {},
		"health_source 192.0.2.10":             {IPv4: netip.MustParseAddr("192.0.2.10")},
		"health_source 2001:db8::10":           {IPv6: netip.MustParseAddr("2001:db8::10")},
		"health_source 2001:db8::10 192.0.2.1": {IPv4: netip.MustParseAddr("192.0.2.1"), IPv6: netip.MustParseAddr("2001:db8::10")},
		"health_source ::ffff:192.0.2.7":       {IPv4: netip.MustParseAddr("192.0.2.7")},
	} {
		c, err := Parse("t.conf", []byte("meridian {\n    "+conf+"\n}\n"+zone))
		if err != nil {
			t.Errorf("%q: %v", conf, err)
			continue
		}
		got := c.Meridian.HealthSource
		if got.IPv4 != want.IPv4 || got.IPv6 != want.IPv6 {
			t.Errorf("%q: got %v and %v, want %v and %v", conf, got.IPv4, got.IPv6, want.IPv4, want.IPv6)
		}
		if conf != "" && got.Pos.String() != "t.conf:2" {
			t.Errorf("%q: position %s, want t.conf:2", conf, got.Pos)
		}
	}
	for conf, want := range map[string]string{
		"health_source":                                        `t.conf:2: health_source: expected health_source ADDRESS [ADDRESS], got 0 arguments`,
		"health_source 192.0.2.1 2001:db8::1 x":                `t.conf:2: health_source: expected health_source ADDRESS [ADDRESS], got 3 arguments`,
		"health_source eth0":                                   `t.conf:2: health_source: "eth0" is not an IP address`,
		"health_source 192.0.2.1:80":                           `t.conf:2: health_source: "192.0.2.1:80" is not an IP address`,
		"health_source fe80::1%eth0":                           `t.conf:2: health_source: "fe80::1%eth0" is not an IP address`,
		"health_source 0.0.0.0":                                `t.conf:2: health_source: 0.0.0.0 is not the address of one interface; give an address of this host`,
		"health_source ::":                                     `t.conf:2: health_source: :: is not the address of one interface; give an address of this host`,
		"health_source 224.0.0.1":                              `t.conf:2: health_source: 224.0.0.1 is not the address of one interface; give an address of this host`,
		"health_source ff02::1":                                `t.conf:2: health_source: ff02::1 is not the address of one interface; give an address of this host`,
		"health_source 255.255.255.255":                        `t.conf:2: health_source: 255.255.255.255 is not the address of one interface; give an address of this host`,
		"health_source 192.0.2.1 192.0.2.2":                    `t.conf:2: health_source: two IPv4 addresses; give at most one IPv4 and one IPv6 address`,
		"health_source ::1 2001:db8::1":                        `t.conf:2: health_source: two IPv6 addresses; give at most one IPv4 and one IPv6 address`,
		"health_source 192.0.2.1\n    health_source 192.0.2.2": `t.conf:3: health_source: already set in this meridian block at line 2`,
	} {
		_, err := Parse("t.conf", []byte("meridian {\n    "+conf+"\n}\n"+zone))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %s", conf, err, want)
		}
	}
}
