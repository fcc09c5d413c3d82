// Package knottest runs Knot DNS (Debian's knot package) on loopback for
// tests that compare Meridian with a reference server or put a real
// secondary behind it. It never skips: a missing knotd fails the test with
// what to install.
package knottest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	return tool(t, "knotd")
}

func tool(t testing.TB, name string) string {
	t.Helper()
	if bin, err := exec.LookPath(name); err == nil {
		return bin
	}
	// Debian puts the daemons in sbin, which a plain user's PATH may lack.
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
		if bin := filepath.Join(dir, name); fileExists(bin) {
			return bin
		}
	}
	t.Fatalf("%s is not installed: run `make test` as root, or apt-get install knot", name)
	return ""
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
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
	bin := Binary(t)
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The port is free when picked, but may be taken before knotd binds
	// it: then knotd fails to listen and it is tried again on another.
	for attempt := 1; ; attempt++ {
		s := &Server{Port: freePort(t), Dir: dir, out: &testlog.Buffer{}}
		exited := s.run(t, bin, strings.ReplaceAll(zones, "{dir}", dir))
		err := s.waitReady(exited)
		if err == nil {
			return s
		}
		if attempt < 5 && strings.Contains(s.out.String(), "failed to bind") {
			t.Logf("knotd could not bind port %s; trying another", s.Port)
			continue
		}
		t.Fatalf("knotd: %v\n%s", err, s.out)
	}
}

// run starts knotd and returns a channel closed when it exits.
func (s *Server) run(t testing.TB, bin, zones string) chan struct{} {
	t.Helper()
	conf := filepath.Join(s.Dir, "knot.conf")
	text := fmt.Sprintf(`server:
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
`, s.Dir, s.Port, zones)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("knotd output:\n%s", s.out)
		}
	})
	return exited
}

// waitReady waits until knotd answers a query over UDP, whatever the rcode.
func (s *Server) waitReady(exited chan struct{}) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("knotd exited")
		default:
		}
		if answers(s.Port) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("knotd did not answer within 20s")
}

// answers reports whether a DNS server answers on 127.0.0.1:port: a bare
// query for the root's SOA, any response.
func answers(port string) bool {
	c, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return false
	}
	defer c.Close()
	q := []byte{0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1}
	if _, err := c.Write(q); err != nil {
		return false
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	return err == nil && n >= 12 && buf[0] == 0x12 && buf[1] == 0x34
}

// Ctl runs knotc against the server and returns its output.
func (s *Server) Ctl(t testing.TB, args ...string) string {
	t.Helper()
	bin := tool(t, "knotc")
	out, err := exec.Command(bin, append([]string{"-s", filepath.Join(s.Dir, "knot.sock")}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("knotc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Log returns what knotd has logged so far.
func (s *Server) Log() string { return s.out.String() }

// freePort returns a port free over UDP and TCP at the time of asking.
func freePort(t testing.TB) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(l.Addr().String())
		c, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", port))
		l.Close()
		if err == nil {
			c.Close()
			return port
		}
	}
	t.Fatal("no port free over both UDP and TCP")
	return ""
}
