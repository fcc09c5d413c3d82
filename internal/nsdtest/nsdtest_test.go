package nsdtest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/internal/daemontest"
	"github.com/meridian-gtm/meridian/internal/testlog"
)

// TestStartServesZone starts nsd with a one-record zone and asks it.
func TestStartServesZone(t *testing.T) {
	s := Start(t, `zone:
    name: example.test
    zonefile: "{dir}/example.test.zone"
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
	if st := s.Ctl(t, "zonestatus", "example.test"); !strings.Contains(st, "state: master") {
		t.Errorf("nsd-control zonestatus: %s", st)
	}
}

// TestBindFailureIsRecognised runs nsd on a port already taken over UDP
// and wants it to exit saying what Start looks for to try another port.
func TestBindFailureIsRecognised(t *testing.T) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, port, _ := net.SplitHostPort(c.LocalAddr().String())
	d, dir, out := daemon(""), t.TempDir(), &testlog.Buffer{}
	file, text := d.Config(dir, port)
	conf := filepath.Join(dir, file)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-daemontest.Run(t, exec.Command(Binary(t), d.Args(conf)...), out):
	case <-time.After(20 * time.Second):
		t.Fatal("nsd still runs on a taken port after 20s")
	}
	if !strings.Contains(out.String(), d.BindFailure) {
		t.Errorf("nsd's output does not say %q:\n%s", d.BindFailure, out)
	}
}
