// Package daemontest holds what knottest and nsdtest share to run a DNS
// daemon on loopback for a test: finding it where Debian installs it, a
// free port, running it for the test's lifetime, and waiting until it
// answers.
package daemontest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/internal/testlog"
)

// Binary returns the path of the program name, failing t with the Debian
// package pkg to install when it is missing.
func Binary(t testing.TB, name, pkg string) string {
	t.Helper()
	if bin, err := exec.LookPath(name); err == nil {
		return bin
	}
	// Debian puts the daemons in sbin, which a plain user's PATH may lack.
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
		bin := filepath.Join(dir, name)
		if _, err := os.Stat(bin); err == nil {
			return bin
		}
	}
	t.Fatalf("%s is not installed: run `make test` as root, or apt-get install %s", name, pkg)
	return ""
}

// Daemon is a DNS server a test runs: how to find it, configure it and
// tell that its port was taken.
type Daemon struct {
	Name, Package string // the program, and the Debian package that has it
	// BindFailure is what it prints when its port is taken.
	BindFailure string
	// Config returns the name and text of its config file, for a run in
	// dir on port (at 127.0.0.1).
	Config func(dir, port string) (file, text string)
	// Args are its arguments, given the path of its config file.
	Args func(conf string) []string
}

// Start writes files (name to content) into a new directory, runs d with
// its config there on a free port, and returns the port, the directory
// and d's output once d answers; d is stopped when the test ends. The
// port is free when picked, but may be taken before d binds it: then d
// says so and is tried again on another.
func Start(t testing.TB, d Daemon, files map[string]string) (port, dir string, out *testlog.Buffer) {
	t.Helper()
	bin := Binary(t, d.Name, d.Package)
	dir = t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for attempt := 1; ; attempt++ {
		port, out = FreePort(t), &testlog.Buffer{}
		file, text := d.Config(dir, port)
		conf := filepath.Join(dir, file)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		exited := Run(t, exec.Command(bin, d.Args(conf)...), out)
		err := WaitAnswers(port, exited)
		if err == nil {
			return port, dir, out
		}
		if attempt < 5 && strings.Contains(out.String(), d.BindFailure) {
			t.Logf("%s could not bind port %s; trying another", d.Name, port)
			continue
		}
		t.Fatalf("%s: %v\n%s", d.Name, err, out)
	}
}

// FreePort returns a port free over UDP and TCP at 127.0.0.1 at the time
// of asking. It may be taken before the daemon binds it: callers retry on
// another when the daemon says so.
func FreePort(t testing.TB) string {
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

// Run starts cmd with its output in out and returns a channel closed when
// it exits. The process is killed when the test ends, with the processes
// it forked (nsd's server and xfrd), and what it wrote is logged if the
// test failed.
func Run(t testing.TB, cmd *exec.Cmd, out *testlog.Buffer) <-chan struct{} {
	t.Helper()
	cmd.Stdout, cmd.Stderr = out, out
	// A group of its own, killed whole: a child left behind by a killed
	// parent would write its state into a directory the test is removing.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	name := filepath.Base(cmd.Path)
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out)
		}
	})
	return exited
}

// WaitAnswers waits until the DNS server at 127.0.0.1:port answers a query
// over UDP, whatever the rcode, for up to 20 seconds, or until exited is
// closed.
func WaitAnswers(port string, exited <-chan struct{}) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("exited")
		default:
		}
		if answers(port) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("did not answer within 20s")
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
