package config

import (
	"path/filepath"
	"testing"
)

// TestDNSSEC: the dnssec block, its defaults, and its mistakes by line.
func TestDNSSEC(t *testing.T) {
	zone := func(body string) string {
		return "zone example.org {\n    ns ns1.example.org 192.0.2.53\n" + body + "}\n"
	}
	c, err := Parse("/etc/meridian/t.conf", []byte(zone("    dnssec {\n        keys keys.d\n    }\n")))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Zones[0].DNSSEC; d == nil || d.Keys != filepath.FromSlash("/etc/meridian/keys.d") || d.Algorithm != AlgorithmECDSAP256 {
		t.Errorf("dnssec %+v, want keys beside the config and ECDSA P-256", d)
	}
	c, err = Parse("t.conf", []byte(zone("    dnssec {\n        keys /k\n        algorithm Ed25519\n    }\n")))
	if err != nil || c.Zones[0].DNSSEC.Algorithm != AlgorithmEd25519 || c.Zones[0].DNSSEC.Keys != "/k" {
		t.Errorf("ed25519: %v %+v", err, c.Zones[0].DNSSEC)
	}
	for body, want := range map[string]string{
		"    dnssec {\n    }\n": "t.conf:3: dnssec: zone example.org needs keys DIRECTORY, where its keys are or are generated on first start; " +
			"or an overrides kubernetes store, where the replicas share them in a Secret",
		"    dnssec {\n        keys /k\n        algorithm rsasha256\n    }\n": `t.conf:5: algorithm: expected ecdsap256sha256 (13) or ed25519 (15), got "rsasha256"`,
		"    dnssec {\n        keys /k\n    }\n    allow_transfer 192.0.2.1\n": "t.conf:6: allow_transfer: zone example.org is signed online (dnssec at line 3): a secondary would get no signatures " +
			"and serve it unsigned. Run more Meridian replicas, sharing the keys, instead of secondaries",
	} {
		if _, err := Parse("t.conf", []byte(zone(body))); err == nil || err.Error() != want {
			t.Errorf("%q:\n got %v\nwant %s", body, err, want)
		}
	}
}
