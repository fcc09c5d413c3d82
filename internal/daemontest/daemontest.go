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
