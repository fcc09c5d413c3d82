package dns

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	framestream "github.com/farsightsec/golang-framestream"
	mdns "github.com/miekg/dns"
	"google.golang.org/protobuf/proto"
)

// tapReader is a dnstap reader on a Unix socket (golang-dnstap's, as its
// `dnstap` command reads), delivering the messages it decodes.
func tapReader(t *testing.T) (string, <-chan *dnstap.Dnstap) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tap.sock")
	in, err := dnstap.NewFrameStreamSockInputFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	in.SetTimeout(5 * time.Second)
	frames := make(chan []byte, 64)
	go in.ReadInto(frames)
	msgs := make(chan *dnstap.Dnstap, 64)
	go func() {
		for f := range frames {
			var m dnstap.Dnstap
			if err := proto.Unmarshal(f, &m); err != nil {
				t.Errorf("a frame that is not a dnstap message: %v", err)
				continue
			}
			msgs <- &m
		}
	}()
	return path, msgs
}

// waitWritten waits up to 5 s for the writer to count n messages written:
// it counts them once flushed, which may be after the reader has them.
func waitWritten(tap *Tap, n uint64) {
	for deadline := time.Now().Add(5 * time.Second); tap.written.Load() < n && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

// next waits for the next message.
func next(t *testing.T, msgs <-chan *dnstap.Dnstap) *dnstap.Message {
	t.Helper()
	select {
	case m := <-msgs:
		return m.GetMessage()
	case <-time.After(10 * time.Second):
		t.Fatal("no dnstap message within 10 s")
		return nil
	}
}

// TestTapServer runs a server with a tap: a UDP query with a client subnet
// and a TCP one reach the reader as AUTH_QUERY and AUTH_RESPONSE, with
// their sockets, times, and messages as sent, the client subnet in the
// query's.
func TestTapServer(t *testing.T) {
	path, msgs := tapReader(t)
	tap, err := NewTap(TapConfig{Network: "unix", Addr: path, Queries: true, Responses: true, Identity: "r1", Version: "meridian test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	s := startServer(t, ServerConfig{Tap: tap})
	addr := s.Addrs()[0].String()

	m := testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}.msg()
	before := time.Now()
	for _, network := range []string{"udp", "tcp"} {
		r, _, err := (&mdns.Client{Net: network}).Exchange(m, addr)
		if err != nil || len(r.Answer) != 1 {
			t.Fatalf("%s: %v %v", network, r, err)
		}
		q, resp := next(t, msgs), next(t, msgs)
		proto := dnstap.SocketProtocol_UDP
		if network == "tcp" {
			proto = dnstap.SocketProtocol_TCP
		}
		if q.GetType() != dnstap.Message_AUTH_QUERY || resp.GetType() != dnstap.Message_AUTH_RESPONSE ||
			q.GetSocketProtocol() != proto || q.GetSocketFamily() != dnstap.SocketFamily_INET ||
			netip.AddrFrom4([4]byte(q.GetQueryAddress())) != netip.MustParseAddr("127.0.0.1") || q.GetQueryPort() == 0 ||
			q.GetResponsePort() == 0 {
			t.Errorf("%s: query %v, response %v", network, q, resp)
		}
		if qt := time.Unix(int64(q.GetQueryTimeSec()), int64(q.GetQueryTimeNsec())); qt.Before(before.Add(-time.Second)) || qt.After(time.Now()) {
			t.Errorf("%s: query time %v", network, qt)
		}
		var logged, answer mdns.Msg
		if err := logged.Unpack(q.GetQueryMessage()); err != nil || logged.Id != m.Id || logged.IsEdns0() == nil {
			t.Fatalf("%s: the query logged: %v %v", network, &logged, err)
		}
		var subnet *mdns.EDNS0_SUBNET
		for _, o := range logged.IsEdns0().Option {
			if e, ok := o.(*mdns.EDNS0_SUBNET); ok {
				subnet = e
			}
		}
		if subnet == nil || subnet.Address.String() != "81.2.69.0" || subnet.SourceNetmask != 24 {
			t.Errorf("%s: client subnet %v", network, subnet)
		}
		if err := answer.Unpack(resp.GetResponseMessage()); err != nil || len(answer.Answer) != 1 || answer.Id != m.Id || resp.GetResponseTimeSec() == 0 {
			t.Errorf("%s: the response logged: %v %v", network, &answer, err)
		}
	}
	if waitWritten(tap, 4); tap.written.Load() != 4 || tap.dropped.Load() != 0 {
		t.Errorf("%d written, %d dropped, want 4 and 0", tap.written.Load(), tap.dropped.Load())
	}
}

// TestTapSampleAndKinds: `sample N` logs one query in N; `responses`
// alone logs responses alone.
func TestTapSampleAndKinds(t *testing.T) {
	path, msgs := tapReader(t)
	tap, err := NewTap(TapConfig{Network: "unix", Addr: path, Sample: 3, Responses: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	var n uint32
	client := netip.MustParseAddrPort("192.0.2.1:5300")
	local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	for i := range 9 {
		if tap.sampled(&n) {
			tap.record([]byte{byte(i)}, []byte{0xAA, byte(i)}, client, local, false, time.Now())
		}
	}
	for _, want := range []byte{2, 5, 8} {
		m := next(t, msgs)
		if m.GetType() != dnstap.Message_AUTH_RESPONSE || len(m.GetResponseMessage()) != 2 || m.GetResponseMessage()[1] != want {
			t.Errorf("got %v, want the response of query %d", m, want)
		}
	}
	if waitWritten(tap, 3); tap.written.Load() != 3 {
		t.Errorf("%d written, want 3", tap.written.Load())
	}
}

// TestTapDropsWhenBehind: recording never waits: with no reader, what the
// writer cannot send, and what does not fit, is counted as dropped.
func TestTapDropsWhenBehind(t *testing.T) {
	tap, err := NewTap(TapConfig{Network: "unix", Addr: filepath.Join(t.TempDir(), "nobody.sock"), Queries: true, Responses: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	client := netip.MustParseAddrPort("192.0.2.1:5300")
	local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	const n = 3 * tapRoom
	for range n {
		tap.record([]byte{1}, []byte{2}, client, local, false, time.Now())
	}
	// At most tapRoom queries wait, and one is in the writer's hands.
	if d := tap.dropped.Load(); d < 2*(n-tapRoom-1) {
		t.Errorf("%d messages dropped, want at least %d", d, 2*(n-tapRoom-1))
	}
}

// BenchmarkTapRecord is what a logged query costs its reader: copying the
// query and response for the writer. Each iteration also takes the entry
// back as the writer would (two uncontended channel operations more).
func BenchmarkTapRecord(b *testing.B) {
	tap := &Tap{cfg: TapConfig{Queries: true, Responses: true}, free: make(chan *tapEntry, tapRoom), queue: make(chan *tapEntry, tapRoom)}
	for range tapRoom {
		tap.free <- new(tapEntry)
	}
	q, _ := testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}.msg().Pack()
	r := make([]byte, 120)
	client := netip.MustParseAddrPort("192.0.2.1:5300")
	local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		tap.record(q, r, client, local, false, now)
		tap.free <- <-tap.queue
	}
	if tap.dropped.Load() != 0 {
		b.Fatal("dropped")
	}
}

// BenchmarkTapEncode is the writer's cost of one query and its response:
// two messages encoded.
func BenchmarkTapEncode(b *testing.B) {
	q, _ := testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, subnet: "81.2.69.0/24"}.msg().Pack()
	e := &tapEntry{query: q, resp: make([]byte, 120), client: netip.MustParseAddrPort("192.0.2.1:5300"),
		local: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}, qtime: time.Now(), rtime: time.Now()}
	enc := tapEncoder{identity: []byte("r1"), version: []byte("meridian")}
	b.ReportAllocs()
	for b.Loop() {
		for _, typ := range []dnstap.Message_Type{dnstap.Message_AUTH_QUERY, dnstap.Message_AUTH_RESPONSE} {
			if _, err := enc.encode(e, typ); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestTapTCP: the log goes to a reader at a TCP address too.
func TestTapTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in := dnstap.NewFrameStreamSockInput(ln)
	in.SetTimeout(5 * time.Second)
	frames := make(chan []byte, 4)
	go in.ReadInto(frames)
	tap, err := NewTap(TapConfig{Network: "tcp", Addr: ln.Addr().String(), Queries: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	tap.record([]byte{7}, nil, netip.MustParseAddrPort("[2001:db8::1]:5300"), &net.UDPAddr{IP: net.IPv6loopback, Port: 53}, true, time.Now())
	select {
	case f := <-frames:
		var d dnstap.Dnstap
		if err := proto.Unmarshal(f, &d); err != nil {
			t.Fatal(err)
		}
		m := d.GetMessage()
		if m.GetType() != dnstap.Message_AUTH_QUERY || m.GetSocketFamily() != dnstap.SocketFamily_INET6 || m.GetSocketProtocol() != dnstap.SocketProtocol_TCP ||
			len(m.GetQueryAddress()) != 16 || string(m.GetQueryMessage()) != "\x07" || len(m.GetResponseMessage()) != 0 {
			t.Errorf("over TCP: %v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing over TCP within 10 s")
	}
}

// readerConns accepts dnstap connections on ln, one at a time, as a
// dnstap reader does (Frame Streams, bidirectional), and delivers the
// query messages' first bytes; kick closes the connection being read.
func readerConns(t *testing.T, ln net.Listener) (msgs <-chan byte, kick func()) {
	t.Helper()
	out := make(chan byte, 64)
	conns := make(chan net.Conn, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			r, err := framestream.NewReader(c, &framestream.ReaderOptions{ContentTypes: [][]byte{dnstap.FSContentType}, Bidirectional: true})
			for err == nil {
				buf := make([]byte, 4096)
				var n int
				if n, err = r.ReadFrame(buf); err == nil {
					var d dnstap.Dnstap
					if proto.Unmarshal(buf[:n], &d) == nil && len(d.GetMessage().GetQueryMessage()) > 0 {
						out <- d.GetMessage().GetQueryMessage()[0]
					}
				}
			}
			c.Close()
			<-conns
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return out, func() {
		select {
		case c := <-conns:
			c.Close()
			conns <- c // taken back by the reader loop when it sees the close
		default:
		}
	}
}

// sendUntil records query b every 50 ms until the reader delivers it.
func sendUntil(t *testing.T, tap *Tap, msgs <-chan byte, b byte) {
	t.Helper()
	client := netip.MustParseAddrPort("192.0.2.1:5300")
	local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		tap.record([]byte{b}, nil, client, local, false, time.Now())
		for {
			select {
			case got := <-msgs:
				if got == b {
					return
				}
				continue
			case <-deadline:
				t.Fatalf("query %d did not reach the reader within 10 s (%d written, %d dropped)", b, tap.written.Load(), tap.dropped.Load())
			case <-tick.C:
			}
			break
		}
	}
}

// TestTapReconnects: with no reader at start, messages are dropped and
// counted, not held; a reader that refuses the handshake, or never
// answers it, costs dropped messages but no crash; once a real reader
// listens it gets the stream within a few seconds, and again after it
// restarts.
func TestTapReconnects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tap.sock")
	tap, err := NewTap(TapConfig{Network: "unix", Addr: path, Queries: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	client := netip.MustParseAddrPort("192.0.2.1:5300")
	local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	for range 10 {
		tap.record([]byte{1}, nil, client, local, false, time.Now())
	}

	// Readers that fail the handshake: hang up at once, say nothing, or
	// answer garbage.
	for name, serve := range map[string]func(net.Conn){
		"hangs up":  func(c net.Conn) { c.Close() },
		"is silent": func(c net.Conn) { time.Sleep(6 * time.Second); c.Close() },
		"talks nonsense": func(c net.Conn) {
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			c.Close()
		},
	} {
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		accepted := make(chan bool, 1)
		go func() {
			if c, err := ln.Accept(); err == nil {
				accepted <- true
				serve(c)
			}
		}()
		for done := false; !done; {
			tap.record([]byte{2}, nil, client, local, false, time.Now())
			select {
			case <-accepted:
				done = true
			case <-time.After(100 * time.Millisecond):
			}
		}
		ln.Close()
		os.Remove(path)
		t.Logf("a reader that %s: %d written, %d dropped", name, tap.written.Load(), tap.dropped.Load())
	}
	if tap.written.Load() != 0 || tap.dropped.Load() < 10 {
		t.Errorf("without a reader: %d written, %d dropped", tap.written.Load(), tap.dropped.Load())
	}

	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	msgs, kick := readerConns(t, ln)
	sendUntil(t, tap, msgs, 3)
	kick()                     // the reader restarts
	sendUntil(t, tap, msgs, 4) // the reader has it: the writer connected again
	if waitWritten(tap, 2); tap.written.Load() < 2 {
		t.Errorf("%d written", tap.written.Load())
	}
}

// TestTapCountsWhatReachedTheReader: a reader that takes 40 messages of a
// burst and hangs up. Every message the reader got was counted as written
// (none sent by the buffer on its own and then counted as dropped), and
// every message is counted once, written or dropped.
func TestTapCountsWhatReachedTheReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tap.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		n := 0
		r, err := framestream.NewReader(c, &framestream.ReaderOptions{ContentTypes: [][]byte{dnstap.FSContentType}, Bidirectional: true})
		for buf := make([]byte, 8192); err == nil && n < 40; n++ {
			_, err = r.ReadFrame(buf)
		}
		if err != nil {
			n--
		}
		c.Close()
		got <- n
	}()
	tap, err := NewTap(TapConfig{Network: "unix", Addr: path, Queries: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	client := netip.MustParseAddrPort("192.0.2.1:5300")
	local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	query := make([]byte, 300)
	const n = 600
	for i := range n {
		for i > tapRoom/2 && tap.written.Load()+tap.dropped.Load() < uint64(i-tapRoom/2) {
			time.Sleep(time.Millisecond) // keep the burst within the queue
		}
		tap.record(query, nil, client, local, false, time.Now())
	}
	received := <-got
	for deadline := time.Now().Add(10 * time.Second); tap.written.Load()+tap.dropped.Load() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d written and %d dropped of %d", tap.written.Load(), tap.dropped.Load(), n)
		}
	}
	if w, d := tap.written.Load(), tap.dropped.Load(); w < uint64(received) || w+d != n {
		t.Errorf("the reader got %d; counted %d written, %d dropped, of %d", received, w, d, n)
	}
}
