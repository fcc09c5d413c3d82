// Package knottest runs Knot DNS (Debian's knot package) on loopback for
// tests that compare Meridian with a reference server or put a real
// secondary behind it. It never skips: a missing knotd fails the test with
// what to install.
package knottest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meridian-gtm/meridian/internal/daemontest"
	"github.com/meridian-gtm/meridian/internal/testlog"
)

// Server is a running knotd.
type Server struct {
	// Port is the port knotd answers on, over UDP and TCP, at 127.0.0.1.
	Port string
	// Dir is knotd's run and storage directory; zone files written
	// there can be named relative to it.
	Dir string
	out *testlog.Buffer
}

// Binary returns the path of knotd, failing t when it is not installed.
func Binary(t testing.TB) string {
	t.Helper()
	return daemontest.Binary(t, "knotd", "knot")
}

// Start runs knotd with zones, the part of knot.conf after its server,
// database and log sections (acl:, remote:, template: and zone:
// sections), in which every {dir} is replaced by the server's directory.
// A server: section there adds settings to the one Start writes (knotd
// merges repeated sections), such as nsid or version.
// files are written into that directory first (name to content). Start
// returns once knotd answers; knotd is stopped when the test ends.
func Start(t testing.TB, zones string, files map[string]string) *Server {
	t.Helper()
	port, dir, out := daemontest.Start(t, daemontest.Daemon{
		Name: "knotd", Package: "knot", BindFailure: "failed to bind",
		Config: func(dir, port string) (string, string) {
			return "knot.conf", fmt.Sprintf(`server:
    rundir: "%[1]s"
    listen: 127.0.0.1@%[2]s
    tcp-workers: 1
    udp-workers: 1
    background-workers: 1
database:
    storage: "%[1]s"
log:
  - target: stderr
    any: info
%[3]s
`, dir, port, strings.ReplaceAll(zones, "{dir}", dir))
		},
		Args: func(conf string) []string { return []string{"-c", conf} },
	}, files)
	return &Server{Port: port, Dir: dir, out: out}
}

// Ctl runs knotc against the server and returns its output.
func (s *Server) Ctl(t testing.TB, args ...string) string {
	t.Helper()
	bin := daemontest.Binary(t, "knotc", "knot")
	out, err := exec.Command(bin, append([]string{"-s", filepath.Join(s.Dir, "knot.sock")}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("knotc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Log returns what knotd has logged so far.
func (s *Server) Log() string { return s.out.String() }
