package dns

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/internal/testmetrics"
)

func startServer(t *testing.T, cfg ServerConfig) *Server {
	t.Helper()
	if cfg.Handler == nil {
		cfg.Handler = newTestHandler(t, testConf)
	}
	cfg.Addrs = []string{"127.0.0.1:0"}
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func TestServerUDPAndTCP(t *testing.T) {
	s := startServer(t, ServerConfig{UDPSockets: 2})
	addr := s.Addrs()[0].String()
	m := testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg()
	for _, network := range []string{"udp", "tcp"} {
		r, _, err := (&mdns.Client{Net: network}).Exchange(m, addr)
		if err != nil || len(r.Answer) != 1 {
			t.Errorf("%s: %v %v", network, r, err)
		}
	}
}

// TestServerUDPBurst sends bursts from several clients at once, so that
// readers take many packets per call, and checks that every query gets its
// own answer, sent back to its own client. The bursts stay well inside a
// socket's default receive buffer (about 150 small packets), which the
// kernel would otherwise overflow by dropping.
func TestServerUDPBurst(t *testing.T) {
	s := startServer(t, ServerConfig{UDPSockets: 2})
	const clients, each = 4, 25
	names := []string{"www.gslb.example.com.", "mail.gslb.example.com.", "nope.gslb.example.com."}
	errs := make(chan error, clients)
	for c := range clients {
		go func() { errs <- burst(s.Addrs()[0].String(), names, uint16(c*1000), each) }()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// burst sends n queries with IDs from first on, cycling through names,
// without waiting, then reads until each has its answer.
func burst(addr string, names []string, first uint16, n int) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	for i := range n {
		m := testQuery{name: names[i%len(names)], qtype: mdns.TypeA, edns: 0}.msg()
		m.Id = first + uint16(i)
		b, _ := m.Pack()
		if _, err := c.Write(b); err != nil {
			return err
		}
	}
	seen := map[uint16]bool{}
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(seen) < n {
		k, err := c.Read(buf)
		if err != nil {
			return fmt.Errorf("client %d: %d of %d answers: %v", first, len(seen), n, err)
		}
		var r mdns.Msg
		if err := r.Unpack(buf[:k]); err != nil {
			return err
		}
		i := int(r.Id) - int(first)
		if i < 0 || i >= n || seen[r.Id] || !strings.EqualFold(r.Question[0].Name, names[i%len(names)]) {
			return fmt.Errorf("client %d: unexpected answer id %d for %s", first, r.Id, r.Question[0].Name)
		}
		seen[r.Id] = true
	}
	return nil
}

// TestServerShutdown: Shutdown wakes readers that wait for packets, returns
// before its deadline, and leaves no socket bound.
func TestServerShutdown(t *testing.T) {
	s, err := Listen(ServerConfig{Handler: newTestHandler(t, testConf), Addrs: []string{"127.0.0.1:0"}, UDPSockets: 3})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs()[0].String()
	m := testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg()
	if r, _, err := new(mdns.Client).Exchange(m, addr); err != nil || len(r.Answer) != 1 {
		t.Fatalf("before Shutdown: %v %v", r, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Bound without SO_REUSEPORT, the port is free only if every socket of
	// the server is closed.
	for _, network := range []string{"udp", "tcp"} {
		var l io.Closer
		if network == "udp" {
			l, err = net.ListenPacket(network, addr)
		} else {
			l, err = net.Listen(network, addr)
		}
		if err != nil {
			t.Errorf("after Shutdown, %s %s is still bound: %v", network, addr, err)
			continue
		}
		l.Close()
	}
	if r, _, err := (&mdns.Client{Timeout: 300 * time.Millisecond}).Exchange(m, addr); err == nil {
		t.Errorf("answered after Shutdown: %v", r)
	}
}

// TestServerTCPPipelining sends three queries at once on one connection and
// reads three answers.
func TestServerTCPPipelining(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c, err := net.Dial("tcp", s.Addrs()[len(s.Addrs())-1].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var batch []byte
	names := []string{"www.gslb.example.com.", "mail.gslb.example.com.", "nope.gslb.example.com."}
	for i, n := range names {
		m := testQuery{name: n, qtype: mdns.TypeA, edns: -1}.msg()
		m.Id = uint16(i + 1)
		b, _ := m.Pack()
		batch = append(binary.BigEndian.AppendUint16(batch, uint16(len(b))), b...)
	}
	c.Write(batch)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range names {
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, binary.BigEndian.Uint16(l[:]))
		io.ReadFull(c, b)
		var r mdns.Msg
		if err := r.Unpack(b); err != nil || r.Id != uint16(i+1) {
			t.Errorf("answer %d: id %d, %v", i, r.Id, err)
		}
	}
}

// TestServerTCPPipeliningMany: 2,000 queries sent in one go on one
// connection, more answers than one write of the server holds (64 KiB),
// are all answered, in order, each once.
func TestServerTCPPipeliningMany(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c, err := net.Dial("tcp", s.Addrs()[len(s.Addrs())-1].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 2000
	names := []string{"www.gslb.example.com.", "mail.gslb.example.com.", "nope.gslb.example.com."}
	var batch []byte
	for i := range n {
		m := testQuery{name: names[i%len(names)], qtype: mdns.TypeA, edns: 0}.msg()
		m.Id = uint16(i)
		b, _ := m.Pack()
		batch = append(binary.BigEndian.AppendUint16(batch, uint16(len(b))), b...)
	}
	go c.Write(batch)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	total := 0
	for i := range n {
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		total += 2 + len(b)
		var r mdns.Msg
		if err := r.Unpack(b); err != nil || r.Id != uint16(i) || !strings.EqualFold(r.Question[0].Name, names[i%len(names)]) {
			t.Fatalf("answer %d: id %d, %v", i, r.Id, err)
		}
	}
	if total <= 0xFFFF {
		t.Fatalf("the answers took %d bytes, no more than one write: the test needs more queries", total)
	}
}

func TestServerTCPLimits(t *testing.T) {
	s := startServer(t, ServerConfig{TCPMaxConns: 1, TCPIdle: 200 * time.Millisecond})
	addr := s.Addrs()[len(s.Addrs())-1].String()
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	time.Sleep(50 * time.Millisecond) // let the server take the first connection
	// A connection over the limit takes the place of the idle first.
	second := dialFrom(t, "127.0.0.1", addr)
	first.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := first.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("an idle connection when a new one came over the limit: read %v, want it closed (EOF)", err)
	}
	// The second, left idle, is closed after TCPIdle.
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := second.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("an idle connection: read %v, want EOF", err)
	}
	if time.Since(start) > 4*time.Second {
		t.Error("idle connection kept open")
	}
}

func TestServerRateLimit(t *testing.T) {
	reg := prometheus.NewRegistry()
	stats := NewStats(reg)
	s := startServer(t, ServerConfig{
		Stats:   stats,
		Limiter: NewLimiter(&LimiterConfig{ResponsesPerSecond: 5, Window: 15 * time.Second, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}),
	})
	c, err := net.Dial("udp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, _ := testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: -1}.msg().Pack()
	const sent = 50
	for range sent {
		c.Write(q)
	}
	full, truncated := 0, 0
	buf := make([]byte, 2048)
	for {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		var r mdns.Msg
		r.Unpack(buf[:n])
		if r.Truncated {
			truncated++
		} else {
			full++
		}
	}
	// A burst of 5 passes; of the 45 limited, every second slips as TC.
	if full < 5 || full > 7 || truncated < 20 || truncated > 24 {
		t.Errorf("%d full and %d truncated answers to %d queries, want about 5 and 22", full, truncated, sent)
	}
	if !regexp.MustCompile(`meridian_dns_rate_limited_total 2\d\n`).MatchString(testmetrics.Text(t, reg)) {
		t.Errorf("rate_limited_total is not about 22:\n%s", testmetrics.Text(t, reg))
	}
	// TCP is never limited.
	if r, _, err := (&mdns.Client{Net: "tcp"}).Exchange(testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: -1}.msg(),
		s.Addrs()[len(s.Addrs())-1].String()); err != nil || len(r.Answer) != 1 {
		t.Errorf("over TCP while limited: %v %v", r, err)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	stats := NewStats(reg)
	c, _ := config.Parse("t.conf", []byte(testConf))
	zs, _ := LoadZones(zonesOf(c.Zones), nil, time.Now())
	h := NewHandler(zs, locator, Options{}, stats)
	h.Publish(newTestHandler(t, testConf).table.Load().plan)
	s := startServer(t, ServerConfig{Handler: h, Stats: stats})
	addr := s.Addrs()[0].String()
	for _, q := range []testQuery{
		{name: "app.gslb.example.com.", qtype: mdns.TypeA, subnet: "8.8.8.0/24"},
		{name: "nope.gslb.example.com.", qtype: mdns.TypeA, edns: -1},
		{name: "www.example.org.", qtype: mdns.TypeAAAA, edns: -1},
	} {
		if _, _, err := new(mdns.Client).Exchange(q.msg(), addr); err != nil {
			t.Fatal(err)
		}
	}
	// Counters are bumped after the answer is written: wait until the
	// three responses are counted, then check every counter.
	text := testmetrics.Text(t, reg)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(text, "meridian_dns_response_seconds_count 3\n") && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		text = testmetrics.Text(t, reg)
	}
	for _, want := range []string{
		`meridian_dns_queries_total{type="A"} 2`,
		`meridian_dns_queries_total{type="AAAA"} 1`,
		`meridian_dns_responses_total{rcode="NXDOMAIN"} 1`,
		`meridian_dns_responses_total{rcode="REFUSED"} 1`,
		`meridian_dns_client_subnet_total{ecs="present"} 1`,
		`meridian_dns_zone_queries_total{zone="gslb.example.com"} 2`,
		`meridian_dns_service_answers_total{cluster="us-east",service="app.gslb.example.com"} 1`,
		`meridian_dns_response_seconds_count 3`,
		`meridian_dns_truncated_total 0`,
		`meridian_dns_udp_steering_changes_total{to="spread"} 0`, // 3 packets are too few to steer
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	// The UDP sockets read the three queries between them.
	read := 0
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "meridian_dns_udp_socket_packets_total{socket="); ok {
			n, _ := strconv.Atoi(v[strings.Index(v, " ")+1:])
			read += n
		}
	}
	if read != 3 {
		t.Errorf("meridian_dns_udp_socket_packets_total adds up to %d, want 3:\n%s", read, text)
	}
}

// TestNotify checks that a zone's secondaries are told of a new serial.
func TestNotify(t *testing.T) {
	got := make(chan *mdns.Msg, 1)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	secondary := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, m *mdns.Msg) {
		got <- m
		r := new(mdns.Msg)
		r.SetReply(m)
		w.WriteMsg(r)
	})}
	go secondary.ActivateAndServe()
	defer secondary.Shutdown()
	c, err := config.Parse("t.conf", []byte("zone example.org {\n    ns ns.example.net\n    notify "+pc.LocalAddr().String()+"\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	zs, _ := LoadZones(zonesOf(c.Zones), nil, time.Unix(1000, 0))
	Notify(context.Background(), zs, nil, nil)
	select {
	case m := <-got:
		if m.Opcode != mdns.OpcodeNotify || m.Question[0].Name != "example.org." || len(m.Answer) != 1 || m.Answer[0].(*mdns.SOA).Serial != 1000 {
			t.Errorf("notify = %v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no NOTIFY arrived")
	}
}

// countingConn counts the writes made to a connection.
type countingConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// TestServerTCPAnswersBatched: the queries one read brings in are
// answered with one write, not one write each.
func TestServerTCPAnswersBatched(t *testing.T) {
	s := startServer(t, ServerConfig{})
	client, server := net.Pipe()
	defer client.Close()
	counted := &countingConn{Conn: server}
	tc := s.admit(counted)
	if tc == nil {
		t.Fatal("the connection was not admitted")
	}
	go s.serveConn(tc)
	const n = 20
	var batch []byte
	for i := range n {
		m := testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA}.msg()
		m.Id = uint16(i)
		b, _ := m.Pack()
		batch = append(binary.BigEndian.AppendUint16(batch, uint16(len(b))), b...)
	}
	if len(batch) > 4096 {
		t.Fatalf("%d bytes of queries: more than one read of the server's", len(batch))
	}
	go client.Write(batch)
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range n {
		var l [2]byte
		if _, err := io.ReadFull(client, l[:]); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(client, b); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		var r mdns.Msg
		if err := r.Unpack(b); err != nil || r.Id != uint16(i) {
			t.Fatalf("answer %d: id %d, %v", i, r.Id, err)
		}
	}
	if w := counted.writes.Load(); w != 1 {
		t.Errorf("%d answers written in %d writes, want 1", n, w)
	}
}
