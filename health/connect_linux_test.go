package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tcpProbers are the two ways a TCP probe runs: in the connector's rounds
// (Linux) and on a worker with a net.Dialer (elsewhere, and dialEach).
// Each probes addr once as check says, from src, and returns the result.
var tcpProbers = []struct {
	name  string
	probe func(t *testing.T, check Check, src Source, addr netip.Addr) (outcome, string)
}{
	{"batched", probeBatched},
	{"dialed", func(t *testing.T, check Check, src Source, addr netip.Addr) (outcome, string) {
		return newTestProber(t, check, src).probe(context.Background(), addr)
	}},
}

func newTestProber(t *testing.T, check Check, src Source) *prober {
	t.Helper()
	check.Kind = "tcp"
	p, err := newProber(check, src)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// probeBatched probes addr in connector rounds until the probe ends.
func probeBatched(t *testing.T, check Check, src Source, addr netip.Addr) (outcome, string) {
	t.Helper()
	conn, err := newConnector()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.close()
	j := &job{prober: newTestProber(t, check, src), kind: "tcp", addr: addr}
	return roundsUntilDone(t, conn, []*job{j})[0].outcome, j.reason
}

// roundsUntilDone runs rounds of conn, the first starting jobs, until every
// job has finished, and returns them in the order they finished.
func roundsUntilDone(t *testing.T, conn *connector, jobs []*job) []*job {
	t.Helper()
	var done []*job
	giveUp := time.Now().Add(time.Minute)
	for start := jobs; len(done) < len(jobs); start = nil {
		done = append(done, conn.round(start, time.Now())...)
		if time.Now().After(giveUp) {
			t.Fatalf("%d of %d probes still running after a minute", len(jobs)-len(done), len(jobs))
		}
		time.Sleep(probeRound)
	}
	return done
}

func tcpCheck(port int, timeout time.Duration) Check {
	return Check{Kind: "tcp", Port: uint16(port), Interval: time.Second, Timeout: timeout, Rise: 1, Fall: 1}
}

// A target that accepts connections is up, over IPv4 and IPv6.
func TestTCPProbeUp(t *testing.T) {
	for _, addr := range []netip.Addr{localhost, netip.MustParseAddr("::1")} {
		ln := serveKind(t, "tcp", addr)
		for _, p := range tcpProbers {
			t.Run(addr.String()+"/"+p.name, func(t *testing.T) {
				o, reason := p.probe(t, tcpCheck(portOf(t, ln.Addr().String()), time.Minute), Source{}, addr)
				if o != passed || reason != "connected" {
					t.Errorf("probe: %v %q, want ok connected", o, reason)
				}
			})
		}
	}
}

// A port without a listener refuses the connection (RST), which is a
// failure at once, not a timeout: with a minute's timeout, a probe that
// waited for it would end timed out.
func TestTCPProbeRefused(t *testing.T) {
	for _, addr := range []netip.Addr{localhost, netip.MustParseAddr("::1")} {
		port := closedPort(t, addr)
		for _, p := range tcpProbers {
			t.Run(addr.String()+"/"+p.name, func(t *testing.T) {
				o, reason := p.probe(t, tcpCheck(port, time.Minute), Source{}, addr)
				if o != failed || reason != "connect: connection refused" {
					t.Errorf("probe: %v %q, want fail, connect: connection refused", o, reason)
				}
			})
		}
	}
}

// A target that never answers the SYN times out at its check's timeout,
// over IPv4 and IPv6.
func TestTCPProbeBlackholed(t *testing.T) {
	for _, addr := range []netip.Addr{localhost, netip.MustParseAddr("::1")} {
		port := blackhole(t, addr)
		for _, p := range tcpProbers {
			t.Run(addr.String()+"/"+p.name, func(t *testing.T) {
				o, reason := p.probe(t, tcpCheck(port, 300*time.Millisecond), Source{}, addr)
				if o != timedOut || reason != "timeout after 300ms" {
					t.Errorf("probe: %v %q, want timeout after 300ms", o, reason)
				}
			})
		}
	}
}

// Each connect times out at its own check's timeout: of two probes of a
// blackholed target started in one round, the one with the shorter
// timeout ends first, though it was started second.
func TestTCPProbeTimeoutPerCheck(t *testing.T) {
	port := blackhole(t, localhost)
	conn, err := newConnector()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.close()
	long := &job{prober: newTestProber(t, tcpCheck(port, 900*time.Millisecond), Source{}), kind: "tcp", addr: localhost}
	short := &job{prober: newTestProber(t, tcpCheck(port, 200*time.Millisecond), Source{}), kind: "tcp", addr: localhost}
	done := roundsUntilDone(t, conn, []*job{long, short})
	if done[0] != short || done[1] != long {
		t.Errorf("the 900 ms probe ended first: %q, then %q", done[0].reason, done[1].reason)
	}
	for _, j := range done {
		if want := fmt.Sprintf("timeout after %v", j.prober.check.Timeout); j.outcome != timedOut || j.reason != want {
			t.Errorf("probe: %v %q, want %s", j.outcome, j.reason, want)
		}
	}
}

// A connect still in flight at the round after the one that started it
// (which the round's ppoll hands to epoll) is judged when it ends:
// connected when the target makes room for it, refused when the target
// stops listening. The target's full accept queue drops the first SYN; the
// kernel sends it again a second later.
func TestTCPProbeLate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		then   func(t *testing.T, b *blackholed)
		want   outcome
		reason string
	}{
		{"connected", func(t *testing.T, b *blackholed) {
			nfd, _, err := syscall.Accept(b.fd) // the queue's filler: room for one
			if err != nil {
				t.Fatal(err)
			}
			syscall.Close(nfd)
		}, passed, "connected"},
		{"refused", func(t *testing.T, b *blackholed) { syscall.Close(b.fd) }, failed, "connect: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBlackhole(t, localhost)
			conn, err := newConnector()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.close()
			j := &job{prober: newTestProber(t, tcpCheck(b.port, time.Minute), Source{}), kind: "tcp", addr: localhost}
			for _, start := range [][]*job{{j}, nil} {
				if done := conn.round(start, time.Now()); len(done) > 0 {
					t.Fatalf("the probe of a full accept queue ended at once: %v %q", j.outcome, j.reason)
				}
			}
			if len(conn.fresh) > 0 {
				t.Fatal("the connect in flight is still fresh after the round that polled it")
			}
			tc.then(t, b)
			var done []*job
			for giveUp := time.Now().Add(time.Minute); len(done) == 0; time.Sleep(probeRound) {
				if time.Now().After(giveUp) {
					t.Fatal("the probe is still running after a minute")
				}
				done = conn.round(nil, time.Now())
			}
			if j.outcome != tc.want || j.reason != tc.reason {
				t.Errorf("probe: %v %q, want %v %q", j.outcome, j.reason, tc.want, tc.reason)
			}
		})
	}
}

// A round that runs past the deadline of the connects it started (a
// Checker short of CPU, thousands of probes due at once) judges them on
// what they did before it times any out: here the timeout is a
// nanosecond, past by the time the round looks. A loopback connect is
// nearly always up when connect(2) returns (the listener's half of the
// handshake runs in its softirq), but a machine busy with other traffic
// may leave some of that softirq work to ksoftirqd, so the test asks for
// at least one probe up, and only up or timed out: without the poll
// before the timeouts, every one times out.
func TestTCPProbeLongRound(t *testing.T) {
	ln := serveKind(t, "tcp", localhost)
	conn, err := newConnector()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.close()
	var jobs []*job
	for range 20 {
		jobs = append(jobs, &job{prober: newTestProber(t, tcpCheck(portOf(t, ln.Addr().String()), time.Nanosecond), Source{}), kind: "tcp", addr: localhost})
	}
	done := conn.round(jobs, time.Now())
	if len(done) != len(jobs) {
		t.Fatalf("%d of %d probes ended in the round that ran past their deadline", len(done), len(jobs))
	}
	up := 0
	for _, j := range done {
		switch {
		case j.outcome == passed && j.reason == "connected":
			up++
		case j.outcome == timedOut && j.reason == "timeout after 1ns":
		default:
			t.Errorf("probe: %v %q, want ok connected or a timeout", j.outcome, j.reason)
		}
	}
	if up == 0 {
		t.Errorf("all %d probes timed out: none was judged on its connect first", len(done))
	}
}

// Probes from a source address come from it; a source that is not the
// host's fails the probe, saying why.
func TestTCPProbeFromSource(t *testing.T) {
	ln := serveKind(t, "tcp", localhost)
	port := portOf(t, ln.Addr().String())
	for _, p := range tcpProbers {
		t.Run(p.name, func(t *testing.T) {
			o, reason := p.probe(t, tcpCheck(port, time.Minute), Source{IPv4: netip.MustParseAddr("127.0.0.12")}, localhost)
			if o != passed {
				t.Fatalf("probe: %v %q", o, reason)
			}
			o, reason = p.probe(t, tcpCheck(port, time.Minute), Source{IPv4: netip.MustParseAddr("192.0.2.1")}, localhost)
			if o != failed || reason != "bind: cannot assign requested address" {
				t.Errorf("probe from 192.0.2.1: %v %q, want the bind's error", o, reason)
			}
		})
	}
	if got := ln.seen(); len(got) != 1 || got[0] != "127.0.0.12" {
		t.Errorf("the server saw probes from %v, want only 127.0.0.12", got)
	}
}

// Probes leave nothing behind: every connection a target accepted ends
// with a reset, not a FIN (so neither end waits in TIME_WAIT and no
// ephemeral port is held), no socket of the target's port is left in any
// state but the listener's, and the process has the file descriptors it
// had before, after probes that connected, were refused and timed out.
func TestTCPProbesLeaveNoSockets(t *testing.T) {
	const probes = 50
	// An address of its own, so that no other socket on the machine (all of
	// whose sockets /proc/net/tcp lists) shares the target's address and port.
	target := netip.MustParseAddr("127.86.0.21")
	ln, err := net.Listen("tcp", target.String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ends := make(chan error, probes)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, err := c.Read(make([]byte, 1))
				c.Close()
				ends <- err
			}()
		}
	}()
	port := portOf(t, ln.Addr().String())
	refused, silent := closedPort(t, localhost), blackhole(t, localhost)

	conn, err := newConnector()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.close()
	before := openFiles(t)
	var jobs []*job
	for i := range probes {
		jobs = append(jobs, &job{prober: newTestProber(t, tcpCheck(port, time.Minute), Source{}), kind: "tcp", addr: target})
		if i%10 == 0 {
			jobs = append(jobs,
				&job{prober: newTestProber(t, tcpCheck(refused, time.Minute), Source{}), kind: "tcp", addr: localhost},
				&job{prober: newTestProber(t, tcpCheck(silent, 100*time.Millisecond), Source{}), kind: "tcp", addr: localhost})
		}
	}
	count := map[outcome]int{}
	for _, j := range roundsUntilDone(t, conn, jobs) {
		count[j.outcome]++
	}
	if count[passed] != probes || count[failed] != probes/10 || count[timedOut] != probes/10 {
		t.Errorf("outcomes %v, want %d ok, %d failed, %d timed out", count, probes, probes/10, probes/10)
	}
	for range probes {
		if err := <-ends; !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("a probe's connection ended with %v at the target, want a reset", err)
		}
	}
	if left := socketsOf(t, target, port); len(left) != 1 {
		t.Errorf("sockets of the target's port, the listener's first:\n%s", strings.Join(left, "\n"))
	}
	if after := openFiles(t); after != before {
		t.Errorf("%d open files before the probes, %d after", before, after)
	}
}

// closedPort returns a port of addr that nothing listens on.
func closedPort(t *testing.T, addr netip.Addr) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := portOf(t, ln.Addr().String())
	ln.Close()
	return port
}

// blackhole returns a port of addr whose listener drops every SYN: its
// accept queue (backlog 0, room for one) holds a connection never
// accepted. It checks that a connect there does time out.
func blackhole(t *testing.T, addr netip.Addr) int {
	t.Helper()
	return newBlackhole(t, addr).port
}

// blackholed is blackhole's listener: fd, on port, its accept queue full
// of one connection.
type blackholed struct {
	fd, port int
}

func newBlackhole(t *testing.T, addr netip.Addr) *blackholed {
	t.Helper()
	family, sa := syscall.AF_INET6, syscall.Sockaddr(&syscall.SockaddrInet6{Addr: addr.As16()})
	if addr.Is4() {
		family, sa = syscall.AF_INET, &syscall.SockaddrInet4{Addr: addr.As4()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) }) // EBADF if the test closed it
	if err := syscall.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	bound, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	var port int
	switch a := bound.(type) {
	case *syscall.SockaddrInet4:
		port = a.Port
	case *syscall.SockaddrInet6:
		port = a.Port
	}
	target := net.JoinHostPort(addr.String(), fmt.Sprint(port))
	filler, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		t.Fatalf("filling the accept queue: %v", err)
	}
	t.Cleanup(func() { filler.Close() })
	c, err := net.DialTimeout("tcp", target, 200*time.Millisecond)
	if err == nil {
		c.Close()
		t.Fatal("a connect to the full accept queue succeeded")
	}
	if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
		t.Fatalf("a connect to the full accept queue: %v, want a timeout", err)
	}
	return &blackholed{fd: fd, port: port}
}

// openFiles counts this process's file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// socketsOf returns the lines of /proc/net/tcp of sockets whose local or
// remote end is addr:port, an IPv4 address.
func socketsOf(t *testing.T, addr netip.Addr, port int) []string {
	t.Helper()
	a := addr.As4() // /proc/net/tcp writes it as a number in the host's order, little-endian here
	hex := fmt.Sprintf("%02X%02X%02X%02X:%04X ", a[3], a[2], a[1], a[0], port)
	var lines []string
	for _, f := range []string{"/proc/net/tcp"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			if len(fields) > 3 && (strings.HasSuffix(fields[1]+" ", hex) || strings.HasSuffix(fields[2]+" ", hex)) {
				lines = append(lines, line)
			}
		}
	}
	return lines
}
