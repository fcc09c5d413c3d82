package knottest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStartServesZone starts knotd with a one-record zone and asks it.
func TestStartServesZone(t *testing.T) {
	s := Start(t, `zone:
  - domain: example.test
    file: "{dir}/example.test.zone"
`, map[string]string{"example.test.zone": `$ORIGIN example.test.
$TTL 300
@ SOA ns1 hostmaster 7 3600 600 86400 60
@ NS ns1
ns1 A 192.0.2.1
www A 192.0.2.80
`})
	out, err := exec.Command("kdig", "@127.0.0.1", "-p", s.Port, "+short", "www.example.test", "A").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "192.0.2.80" {
		t.Fatalf("kdig www.example.test: %v %q", err, out)
	}
	if st := s.Ctl(t, "zone-status", "example.test"); !strings.Contains(st, "serial: 7") {
		t.Errorf("knotc zone-status: %s", st)
	}
}
