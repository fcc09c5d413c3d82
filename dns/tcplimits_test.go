package dns

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/internal/testmetrics"
)

// failingListener fails its first fails accepts the way a process out of
// file descriptors does, then accepts for real.
type failingListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestServerTCPAcceptRetries checks that accept errors such as EMFILE are
// waited out: counted, then the connection waiting is served.
func TestServerTCPAcceptRetries(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newServer(ServerConfig{Handler: newTestHandler(t, testConf), Stats: NewStats(reg)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &failingListener{Listener: ln}
	fl.fails.Store(6) // 5+10+20+40+80+160 ms of back-off
	tcp := s.acceptingThrough(fl)
	s.tcp = append(s.tcp, tcp)
	s.accepters.Add(1)
	go s.serveTCP(tcp)
	t.Cleanup(func() { s.Shutdown(t.Context()) })

	c := &mdns.Client{Net: "tcp", Timeout: 20 * time.Second}
	r, _, err := c.Exchange(testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: -1}.msg(), ln.Addr().String())
	if err != nil || len(r.Answer) != 1 {
		t.Fatalf("after failed accepts: %v %v", r, err)
	}
	select {
	case err := <-s.Failed():
		t.Errorf("Failed reported %v", err)
	default:
	}
	if text := testmetrics.Text(t, reg); !strings.Contains(text, "meridian_dns_tcp_accept_errors_total 6\n") {
		t.Errorf("accept errors not counted:\n%s", grepLines(text, "meridian_dns_tcp"))
	}
	// A listener closed other than by Shutdown still stops the server.
	ln.Close()
	select {
	case err := <-s.Failed():
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Failed: %v, want net.ErrClosed", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("a closed listener was not reported")
	}
}

// dialFrom connects to addr from the loopback address src and checks that
// one query is answered on the connection, which it leaves open.
func dialFrom(t *testing.T, src, addr string) *mdns.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &mdns.Conn{Conn: nc}
	if err := exchangeOn(c); err != nil {
		t.Fatalf("from %s: %v", src, err)
	}
	return c
}

// exchangeOn asks one query on an open connection, waiting at most 5 s.
func exchangeOn(c *mdns.Conn) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.WriteMsg(testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: -1}.msg()); err != nil {
		return err
	}
	r, err := c.ReadMsg()
	if err == nil && len(r.Answer) != 1 {
		err = errors.New("no answer: " + r.String())
	}
	return err
}

// closedByServer reports whether the server closed c: a read gets EOF (or a
// reset) within 5 s rather than waiting.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET)
}

// TestServerTCPPerNetworkLimit checks that a client network holds at most
// TCPMaxConnsPerNetwork connections, a new one taking the place of the one
// of that network idle longest.
func TestServerTCPPerNetworkLimit(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := startServer(t, ServerConfig{Stats: NewStats(reg), TCPMaxConnsPerNetwork: 2})
	addr := s.Addrs()[len(s.Addrs())-1].String()
	other := dialFrom(t, "127.0.1.1", addr) // another network, idle longest of all
	time.Sleep(20 * time.Millisecond)
	a := dialFrom(t, "127.0.0.1", addr)
	time.Sleep(20 * time.Millisecond)   // so that a has been idle longer than b
	b := dialFrom(t, "127.0.0.2", addr) // the same /24
	dialFrom(t, "127.0.0.3", addr)
	if !closedByServer(a) {
		t.Error("a third connection from 127.0.0.0/24 did not take the place of the idlest of that network")
	}
	for name, conn := range map[string]*mdns.Conn{"b, of the network": b, "of another network": other} {
		if err := exchangeOn(conn); err != nil {
			t.Errorf("connection %s: %v", name, err)
		}
	}
	text := testmetrics.Text(t, reg)
	for _, want := range []string{`meridian_dns_tcp_idle_closed_total{limit="network"} 1`, `meridian_dns_tcp_connections 3`} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(text, "meridian_dns_tcp"))
		}
	}

	// With /32, each address is a network of its own.
	s = startServer(t, ServerConfig{TCPMaxConnsPerNetwork: 1, TCPIPv4Prefix: 32})
	addr = s.Addrs()[len(s.Addrs())-1].String()
	a = dialFrom(t, "127.0.0.1", addr)
	dialFrom(t, "127.0.0.2", addr)
	if err := exchangeOn(a); err != nil {
		t.Errorf("127.0.0.1 with a limit per address: %v", err)
	}
}

// TestServerTCPRefusesWhenAllBusy checks that a new connection over a limit
// is refused, not let in, when every connection that limit counts is busy
// answering a query, and that the idlest gives way as soon as one is idle.
func TestServerTCPRefusesWhenAllBusy(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newServer(ServerConfig{Stats: NewStats(reg), TCPMaxConns: 2, TCPMaxConnsPerNetwork: 2})
	pipe := func() net.Conn {
		c, peer := net.Pipe()
		t.Cleanup(func() { c.Close(); peer.Close() })
		return c
	}
	one, two := s.admit(pipe()), s.admit(pipe())
	if one == nil || two == nil {
		t.Fatal("the first two connections were refused")
	}
	one.Busy() // both busy answering
	two.Busy()
	if s.admit(pipe()) != nil {
		t.Error("a third connection was let in while both were busy")
	}
	two.Waiting()
	if s.admit(pipe()) == nil {
		t.Error("a connection was refused while one was idle")
	}
	if s.conns.Lookup(two.Conn) != nil {
		t.Error("the idle connection was not the one to give way")
	}
	text := testmetrics.Text(t, reg)
	for _, want := range []string{`meridian_dns_tcp_refused_total{limit="network"} 1`, `meridian_dns_tcp_idle_closed_total{limit="network"} 1`} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(text, "meridian_dns_tcp"))
		}
	}
}

// TestServerTCPFullClosesIdlest checks that when every place is taken, a new
// client gets the place of the connection idle longest.
func TestServerTCPFullClosesIdlest(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := startServer(t, ServerConfig{Stats: NewStats(reg), TCPMaxConns: 3, TCPMaxConnsPerNetwork: 3})
	addr := s.Addrs()[len(s.Addrs())-1].String()
	a := dialFrom(t, "127.0.1.1", addr)
	time.Sleep(20 * time.Millisecond) // so that a has been idle longest
	b := dialFrom(t, "127.0.2.1", addr)
	c := dialFrom(t, "127.0.3.1", addr)
	if err := exchangeOn(b); err != nil { // b is busy again: c is now idler
		t.Fatal(err)
	}
	dialFrom(t, "127.0.4.1", addr)
	if !closedByServer(a) {
		t.Error("the idlest connection was not closed to make room")
	}
	for name, conn := range map[string]*mdns.Conn{"b": b, "c": c} {
		if err := exchangeOn(conn); err != nil {
			t.Errorf("connection %s, not the idlest: %v", name, err)
		}
	}
	if text := testmetrics.Text(t, reg); !strings.Contains(text, `meridian_dns_tcp_idle_closed_total{limit="total"} 1`+"\n") {
		t.Errorf("closing to make room not counted:\n%s", grepLines(text, "meridian_dns_tcp"))
	}
}

// TestServerTCPHog is issue 14's lock-out: one address holds as many
// connections as the server takes, each asking now and then, as do a dozen
// networks together; a fresh client is still answered within a second.
func TestServerTCPHog(t *testing.T) {
	s := startServer(t, ServerConfig{}) // the defaults
	addr := s.Addrs()[len(s.Addrs())-1].String()
	hog := func(sources []string, perSource int) {
		var wg sync.WaitGroup
		for _, src := range sources {
			for range perSource {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
					nc, err := d.Dial("tcp", addr)
					if err != nil {
						return
					}
					t.Cleanup(func() { nc.Close() })
					exchangeOn(&mdns.Conn{Conn: nc}) // answered, or closed for the limits
				}()
			}
		}
		wg.Wait()
	}
	fresh := func(src string) {
		t.Helper()
		c := &mdns.Client{Net: "tcp", Timeout: time.Second,
			Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: time.Second}}
		r, _, err := c.Exchange(testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: -1}.msg(), addr)
		if err != nil || len(r.Answer) != 1 {
			t.Errorf("a fresh client from %s: %v %v", src, r, err)
		}
	}
	hog([]string{"127.0.0.1"}, 1000)
	fresh("127.0.0.2") // a neighbour, in the hog's /24
	fresh("127.0.1.1")
	var nets []string
	for i := 2; i < 14; i++ {
		nets = append(nets, "127.0."+strconv.Itoa(i)+".1")
	}
	hog(nets, 100) // 1,200 connections for 1,000 places
	fresh("127.0.200.1")
}

// grepLines keeps the lines of text that contain sub.
func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestServerTCPIdleConnectionsHoldLittle: connections waiting for their
// next query, or for the rest of one (slowloris), hold no query buffer;
// 400 of them once held 128 KiB each, 50 MB in all.
func TestServerTCPIdleConnectionsHoldLittle(t *testing.T) {
	s := startServer(t, ServerConfig{TCPMaxConns: 1000, TCPMaxConnsPerNetwork: 1000})
	addr := s.Addrs()[len(s.Addrs())-1].String()
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for i := range 400 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		c := &mdns.Conn{Conn: nc}
		if i%2 == 0 {
			if err := exchangeOn(c); err != nil { // answered, then idle
				t.Fatalf("query %d: %v", i, err)
			}
		} else if _, err := nc.Write([]byte{0, 40, 0x12, 0x34}); err != nil { // a query cut short
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // the cut-short queries reach their readers
	if grown := int64(heap()) - int64(before); grown > 16<<20 {
		t.Errorf("400 waiting TCP connections hold %d MB of heap, want under 16 MB", grown>>20)
	}
}
