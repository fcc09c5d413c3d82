// Package nsdtest runs NSD (Debian's nsd package) on loopback for tests
// that compare Meridian with a reference server. It never skips: a missing
// nsd fails the test with what to install. It reads as knottest does.
package nsdtest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-gtm/meridian/internal/daemontest"
	"github.com/meridian-gtm/meridian/internal/testlog"
)

// Server is a running nsd.
type Server struct {
	// Port is the port nsd answers on, over UDP and TCP, at 127.0.0.1.
	Port string
	// Dir is nsd's zones and state directory; zone files written there
	// can be named relative to it.
	Dir string
	out *testlog.Buffer
}

// Binary returns the path of nsd, failing t when it is not installed.
func Binary(t testing.TB) string {
	t.Helper()
	return daemontest.Binary(t, "nsd", "nsd")
}

// Start runs nsd in the foreground with zones, the part of nsd.conf after
// its server and remote-control sections (pattern:, key: and zone:
// sections), in which every {dir} is replaced by the server's directory.
// A server: section there adds settings to the one Start writes (nsd
// reads repeated sections as one), such as version or minimal-responses.
// files are written into that directory first (name to content). Start
// returns once nsd answers; nsd is stopped when the test ends.
func Start(t testing.TB, zones string, files map[string]string) *Server {
	t.Helper()
	port, dir, out := daemontest.Start(t, daemon(zones), files)
	return &Server{Port: port, Dir: dir, out: out}
}

// daemon is nsd run in the foreground with zones.
//
// Everything nsd writes goes to the test's directory: no chroot, no user
// to switch to, no database (zones are read from their files), and the
// log on stderr alone, not syslog. Debian builds nsd with response rate
// limiting on by default (200 answers a second per client network), which
// would truncate a test's burst of queries: rrl-ratelimit 0 turns it off.
// nsd-control talks to it over a Unix socket there, which needs no keys.
func daemon(zones string) daemontest.Daemon {
	return daemontest.Daemon{
		Name: "nsd", Package: "nsd", BindFailure: "can't bind",
		Config: func(dir, port string) (string, string) {
			return "nsd.conf", fmt.Sprintf(`server:
    ip-address: 127.0.0.1@%[2]s
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "%[1]s"
    database: ""
    zonelistfile: "%[1]s/zone.list"
    xfrdfile: "%[1]s/xfrd.state"
    xfrdir: "%[1]s"
    pidfile: "%[1]s/nsd.pid"
    logfile: "/dev/stderr"
    verbosity: 2
    rrl-ratelimit: 0
remote-control:
    control-enable: yes
    control-interface: "%[1]s/nsd.sock"
%[3]s
`, dir, port, strings.ReplaceAll(zones, "{dir}", dir))
		},
		Args: func(conf string) []string { return []string{"-d", "-c", conf} },
	}
}

// Ctl runs nsd-control against the server and returns its output.
func (s *Server) Ctl(t testing.TB, args ...string) string {
	t.Helper()
	bin := daemontest.Binary(t, "nsd-control", "nsd")
	out, err := exec.Command(bin, append([]string{"-c", filepath.Join(s.Dir, "nsd.conf")}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nsd-control %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Log returns what nsd has logged so far.
func (s *Server) Log() string { return s.out.String() }
