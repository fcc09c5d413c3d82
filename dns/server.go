package dns

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/meridian-gtm/meridian/internal/acceptretry"
	"github.com/meridian-gtm/meridian/internal/conncap"
)

// ServerConfig is what the DNS server needs.
type ServerConfig struct {
	Addrs   []string
	Handler *Handler
	Stats   *Stats
	// Limiter, when set, rate-limits UDP responses per client network.
	Limiter *Limiter
	// Tap, when set, is sent every query and response (dnstap).
	Tap    *Tap
	Logger *slog.Logger
	// UDPSockets is the number of UDP sockets per address, sharing the
	// port with SO_REUSEPORT where the platform has it; default: one per
	// CPU. TCPIdle closes quiet TCP connections (default 10 s) and
	// TCPMaxConns bounds open ones (default 1000): when it is reached, a
	// new connection takes the place of the one idle longest.
	UDPSockets  int
	TCPIdle     time.Duration
	TCPMaxConns int
	// TCPMaxConnsPerNetwork bounds the open TCP connections of one client
	// network: addresses that share their first TCPIPv4Prefix (default 24)
	// or TCPIPv6Prefix (default 56) bits. Default: a tenth of TCPMaxConns,
	// so that no one network holds more than a tenth of the places.
	TCPMaxConnsPerNetwork int
	TCPIPv4Prefix         int
	TCPIPv6Prefix         int

	// steerByShare: spread the packets of a CPU that receives most of
	// them whether or not its reader is behind and other CPUs are idle
	// (steer.go), for tests, whose load and machine these depend on.
	steerByShare bool
}

func (c *ServerConfig) validate() {
	if c.UDPSockets <= 0 {
		// One socket per CPU, each with a reader thread of its own: on two
		// cores, two sockets steered by CPU served 1.8 times as many
		// queries as one (bench/RESULTS.md).
		c.UDPSockets = runtime.GOMAXPROCS(0)
	}
	if !reusePortSupported {
		c.UDPSockets = 1
	}
	if c.TCPIdle <= 0 {
		c.TCPIdle = 10 * time.Second
	}
	if c.TCPMaxConns <= 0 {
		c.TCPMaxConns = 1000
	}
	if c.TCPMaxConnsPerNetwork <= 0 {
		c.TCPMaxConnsPerNetwork = max(1, c.TCPMaxConns/10)
	}
	if c.TCPIPv4Prefix <= 0 || c.TCPIPv4Prefix > 32 {
		c.TCPIPv4Prefix = 24
	}
	if c.TCPIPv6Prefix <= 0 || c.TCPIPv6Prefix > 128 {
		c.TCPIPv6Prefix = 56
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server serves a Handler over UDP and TCP on every listen address.
type Server struct {
	cfg       ServerConfig
	udp       []*udpSocket
	tcp       []net.Listener
	closing   atomic.Bool
	readers   sync.WaitGroup // UDP readers and TCP connections
	accepters sync.WaitGroup
	conns     *conncap.Table[netip.Prefix] // TCP connections by client network
	failed    chan error
	stop      chan struct{} // closed by Shutdown: the steering goroutines end
}

// tcpConn is an open TCP connection, counted by its client network.
type tcpConn = conncap.Conn[netip.Prefix]

// Listen binds UDP and TCP on each address and starts serving. Port 0 picks
// a free port, the same for UDP and TCP. It returns once every socket is
// bound, or the first error.
func Listen(cfg ServerConfig) (*Server, error) {
	s := newServer(cfg)
	cfg = s.cfg
	for _, addr := range cfg.Addrs {
		udps, ln, err := bindAll(addr, cfg.UDPSockets)
		if err != nil {
			s.Shutdown(context.Background())
			return nil, fmt.Errorf("dns: listen on %s: %w", addr, err)
		}
		g, err := steerByCPU(udps)
		if g != nil {
			g.byShare = cfg.steerByShare
		}
		if err != nil {
			cfg.Logger.Warn("dns: UDP packets not steered by CPU; the kernel's hash spreads them", "err", err)
		}
		cfg.Logger.Info("dns listening", "udp", udps[0].localAddr().String(), "tcp", ln.Addr().String(),
			"udp_sockets", len(udps), "steered_by_cpu", g != nil)
		if g != nil {
			s.accepters.Add(1)
			go s.steer(g)
		}
		for _, u := range udps {
			s.udp = append(s.udp, u)
			s.readers.Add(1)
			go s.serveUDP(u)
		}
		tcp := s.acceptingThrough(ln)
		s.tcp = append(s.tcp, tcp)
		s.accepters.Add(1)
		go s.serveTCP(tcp)
	}
	cfg.Stats.countUDPSockets(s.udpPackets)
	return s, nil
}

// steer adjusts a group's steering every steerInterval to the packets its
// sockets read (steer.go), until Shutdown.
func (s *Server) steer(g *steerer) {
	defer s.accepters.Done()
	t := time.NewTicker(steerInterval)
	defer t.Stop()
	failed := false
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		spreading, changed, err := g.tick()
		switch {
		case err != nil && !failed:
			failed = true // once: it would fail every interval alike
			s.cfg.Logger.Warn("dns: UDP steering not changed", "err", err)
		case changed:
			s.cfg.Stats.steered(spreading >= 0)
			s.cfg.Logger.Debug("dns: UDP steering changed", "spread_socket", spreading)
		}
	}
}

// udpPackets returns the packets each UDP socket has read, in the order
// of Addrs.
func (s *Server) udpPackets() []uint64 {
	out := make([]uint64, len(s.udp))
	for i, u := range s.udp {
		out[i] = u.packets.Load()
	}
	return out
}

// newServer is a Server with nothing bound yet.
func newServer(cfg ServerConfig) *Server {
	cfg.validate()
	return &Server{cfg: cfg, failed: make(chan error, 1), stop: make(chan struct{}),
		conns: conncap.New[netip.Prefix](conncap.Limits{Max: cfg.TCPMaxConns, MaxPerGroup: cfg.TCPMaxConnsPerNetwork})}
}

// bindAll binds n UDP sockets and one TCP listener on the same address and
// port. With port 0 the kernel picks the first UDP socket's port and the
// others take it too; if another program holds that TCP port, it tries again.
//
// The first UDP socket binds alone, and only then lets others share its
// port (SO_REUSEPORT). So a port that another program uses is an error,
// rather than a port silently shared with it, and port 0 gets a free port:
// for a socket that may share, the kernel can pick a port where another
// process of the same user listens with SO_REUSEPORT, and join its group.
func bindAll(addr string, n int) ([]*udpSocket, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	bind := func(lc net.ListenConfig, addr string) (*udpSocket, error) {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			return nil, err
		}
		return newUDPSocket(pc.(*net.UDPConn))
	}
	alone, shared := net.ListenConfig{}, net.ListenConfig{Control: reusePort}
	for attempt := 0; ; attempt++ {
		first, err := bind(alone, addr)
		if err != nil {
			return nil, nil, err
		}
		udps := []*udpSocket{first}
		if n > 1 {
			err = first.sharePort()
		}
		bound := net.JoinHostPort(host, strconv.Itoa(first.localAddr().(*net.UDPAddr).Port))
		var ln net.Listener
		if err == nil {
			ln, err = net.Listen("tcp", bound)
		}
		for i := 1; err == nil && i < n; i++ {
			var u *udpSocket
			if u, err = bind(shared, bound); err == nil {
				udps = append(udps, u)
			}
		}
		if err == nil {
			return udps, ln, nil
		}
		for _, u := range udps {
			u.close()
		}
		if ln != nil {
			ln.Close()
		}
		if port != "0" || attempt == 10 {
			return nil, nil, err
		}
	}
}

// answerUDP answers one UDP query, rate limiting the response.
func (s *Server) answerUDP(req, out []byte, client netip.Addr, now time.Time, sign signMode) ([]byte, outcome) {
	secs := uint32(now.Unix())
	resp, o := s.cfg.Handler.answer(req, out, client, false, secs, sign)
	// A valid server cookie proves the client's address: its answers are
	// not limited (as in BIND and Knot).
	if resp != nil && s.cfg.Limiter != nil && !o.cookie {
		switch s.cfg.Limiter.decide(client, &o, now) {
		case rrlDrop:
			s.cfg.Stats.limited()
			resp = nil
		case rrlSlip:
			s.cfg.Stats.slip()
			resp = s.cfg.Handler.slip(req, out, resp, client, secs, &o)
		}
	}
	return resp, o
}

func isTemporary(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// stopOn decides what a reader or accepter does after err: stop when the
// server is closing or the error is lasting (which Failed reports), go on
// after a timeout.
func (s *Server) stopOn(err error, what string) bool {
	switch {
	case s.closing.Load():
		return true
	case isTemporary(err):
		return false
	}
	select {
	case s.failed <- fmt.Errorf("dns: %s: %w", what, err):
	default:
	}
	return true
}

// serveTCP accepts connections until Shutdown, admitting each within the
// limits (admit). A failed accept never stops it: ln retries (see
// acceptingThrough), and UDP keeps serving meanwhile; only a listener
// closed other than by Shutdown stops it (and Failed reports it).
func (s *Server) serveTCP(ln net.Listener) {
	defer s.accepters.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.stopOn(err, "tcp accept") {
				return
			}
			continue
		}
		if tc := s.admit(c); tc != nil {
			go s.serveConn(tc)
		}
	}
}

// acceptingThrough wraps a TCP listener so that running out of file
// descriptors (EMFILE, ENFILE), of buffers (ENOBUFS, ENOMEM), or a client
// aborting its handshake (ECONNABORTED) is waited out with a back-off,
// counted and logged, rather than taken for a broken listener.
func (s *Server) acceptingThrough(ln net.Listener) net.Listener {
	return acceptretry.Wrap(ln, s.cfg.Logger.With("listener", "dns tcp"), s.cfg.Stats.acceptError)
}

// admit counts a new connection within the limits (conncap): when its
// client network already has TCPMaxConnsPerNetwork connections, the one of
// them idle longest is closed to make room; when TCPMaxConns are open, the
// one idle longest of all; when every candidate is answering a query, the
// new connection is refused. Closing the idlest at once means that a
// client keeping connections busy enough to beat TCPIdle cannot lock
// others out, not even its neighbours.
func (s *Server) admit(c net.Conn) *tcpConn {
	tc, a := s.conns.Admit(c, s.clientNetwork(c.RemoteAddr()))
	limit := map[string]string{"group": "network", "total": "total"}[a.Limit]
	if a.Evicted {
		s.cfg.Stats.tcpIdleClosed(limit)
		s.cfg.Stats.tcpClosed()
	}
	if tc == nil {
		s.cfg.Stats.tcpRefused(limit)
		c.Close()
		return nil
	}
	s.readers.Add(1)
	s.cfg.Stats.tcpOpened()
	return tc
}

// clientNetwork is the network of a client address that the per-network
// limit counts in.
func (s *Server) clientNetwork(a net.Addr) netip.Prefix {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}
	}
	ip := ta.AddrPort().Addr().Unmap()
	bits := s.cfg.TCPIPv6Prefix
	if ip.Is4() {
		bits = s.cfg.TCPIPv4Prefix
	}
	p, _ := ip.Prefix(bits)
	return p
}

// serveConn answers the queries of one TCP connection in order, as they
// come (pipelined), until the client closes, idles, or Shutdown. The
// queries a read brought in whole are answered one after the other into
// one buffer, written with one system call before the connection waits
// for more: a client with many queries in flight gets their answers
// batched, as it sent them.
func (s *Server) serveConn(tc *tcpConn) {
	c := tc.Conn
	var w tcpWriter
	defer func() {
		w.release()
		if s.conns.Release(tc) { // not already closed to make room
			s.cfg.Stats.tcpClosed()
		}
		c.Close()
		s.readers.Done()
	}()
	w.c, w.idle = c, s.cfg.TCPIdle
	client := netip.Addr{}
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		client = ta.AddrPort().Addr().Unmap()
	}
	r := bufio.NewReaderSize(c, 4096)
	for !s.closing.Load() {
		if !queryBuffered(r) {
			// About to wait: send what is answered, hold no buffer.
			if !w.flush() {
				return
			}
			w.release()
			tc.Waiting()
			c.SetReadDeadline(time.Now().Add(s.cfg.TCPIdle))
		}
		var lenBuf [2]byte
		if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(lenBuf[:]))
		// A query that fits the reader's buffer (all but the rarest) is
		// waited for there, so that a connection holds no tcpBuffer until
		// its query is whole.
		var req []byte
		if n <= r.Size() {
			var err error
			if req, err = r.Peek(n); err != nil {
				return
			}
		}
		w.hold()
		if req == nil {
			if !w.flush() {
				return
			}
			if _, err := io.ReadFull(r, w.buf.req[:n]); err != nil {
				return
			}
			req = w.buf.req[:n]
		}
		tc.Busy() // not to be closed to make room
		more := s.answerTCP(&w, req, client)
		if n <= r.Size() {
			r.Discard(n) // only now: req was the reader's buffer
		}
		if !more {
			w.flush()
			return
		}
	}
}

// queryBuffered reports whether r holds a whole query (its length and
// message), so that reading it does not wait.
func queryBuffered(r *bufio.Reader) bool {
	if r.Buffered() < 2 {
		return false
	}
	l, _ := r.Peek(2)
	return r.Buffered() >= 2+int(binary.BigEndian.Uint16(l))
}

// tcpBuffer holds one TCP query and the answers not written yet. A
// connection takes one from tcpBuffers only while it answers, never while
// it waits: idle connections once held 128 KiB each, 128 MB at the
// default cap.
type tcpBuffer struct {
	req [0xFFFF]byte
	out [2 + 0xFFFF]byte
}

var tcpBuffers = sync.Pool{New: func() any { return new(tcpBuffer) }}

// tcpRoom: answers are added to the pending ones while this much room is
// left; an answer that outgrows the room is written on its own.
const tcpRoom = 4096

// tcpWriter gathers a connection's answers (each with its 2-byte length)
// in its tcpBuffer, to write them at once.
type tcpWriter struct {
	c       net.Conn
	idle    time.Duration
	buf     *tcpBuffer // while answering, else nil
	pending int        // bytes of buf.out not written yet
	failed  bool
}

func (w *tcpWriter) hold() {
	if w.buf == nil {
		w.buf = tcpBuffers.Get().(*tcpBuffer)
	}
}

func (w *tcpWriter) release() {
	if w.buf != nil && w.pending == 0 {
		tcpBuffers.Put(w.buf)
		w.buf = nil
	}
}

// room is where the next answer goes (after its 2-byte length), flushing
// first if less than tcpRoom is left.
func (w *tcpWriter) room() []byte {
	if len(w.buf.out)-w.pending < 2+tcpRoom {
		w.flush()
	}
	return w.buf.out[w.pending+2 : w.pending+2]
}

// add queues resp, the answer built in room() or, when it outgrew it,
// elsewhere; it reports whether writing (if it had to) worked.
func (w *tcpWriter) add(resp []byte) bool {
	at := w.buf.out[w.pending+2 : w.pending+2]
	if unsafe.SliceData(resp) != unsafe.SliceData(at) || len(resp) > cap(at) {
		if !w.flush() {
			return false
		}
		var l [2]byte
		binary.BigEndian.PutUint16(l[:], uint16(len(resp)))
		w.c.SetWriteDeadline(time.Now().Add(w.idle))
		bufs := net.Buffers{l[:], resp}
		_, err := bufs.WriteTo(w.c)
		return err == nil
	}
	binary.BigEndian.PutUint16(w.buf.out[w.pending:], uint16(len(resp)))
	w.pending += 2 + len(resp)
	return true
}

// flush writes the pending answers; false once a write failed.
func (w *tcpWriter) flush() bool {
	if w.pending > 0 && !w.failed {
		w.c.SetWriteDeadline(time.Now().Add(w.idle))
		if _, err := w.c.Write(w.buf.out[:w.pending]); err != nil {
			w.failed = true
		}
	}
	w.pending = 0
	return !w.failed
}

// answerTCP answers req through w, and reports whether the connection
// goes on. A zone transfer is written to the connection directly, after
// the answers before it.
func (s *Server) answerTCP(w *tcpWriter, req []byte, client netip.Addr) bool {
	start := time.Now()
	c := w.c
	resp, o := s.cfg.Handler.answer(req, w.room(), client, true, uint32(start.Unix()), signInline)
	if t := s.cfg.Tap; t != nil && o.rcode >= 0 && t.sampled(nil) {
		t.record(req, resp, addrPortOf(c.RemoteAddr()), c.LocalAddr(), true, start) // a transfer's query alone
	}
	switch {
	case o.transfer:
		if !w.flush() {
			return false
		}
		c.SetWriteDeadline(time.Now().Add(time.Minute))
		if err := s.cfg.Handler.Transfer(c, req); err != nil {
			s.cfg.Logger.Warn("zone transfer failed", "client", client.String(), "err", err)
			return false
		}
	case resp != nil:
		if !w.add(resp) {
			return false
		}
	default:
		return false // nothing to answer: a response, or garbage too short for a header
	}
	s.cfg.Stats.observe(&o, time.Since(start))
	return true
}

// Failed delivers an error if a listener stops serving before Shutdown.
func (s *Server) Failed() <-chan error { return s.failed }

// Addrs returns the bound addresses: every UDP socket's (those of one
// listen address share its port), then every TCP listener's.
func (s *Server) Addrs() []net.Addr {
	var out []net.Addr
	for _, u := range s.udp {
		out = append(out, u.localAddr())
	}
	for _, ln := range s.tcp {
		out = append(out, ln.Addr())
	}
	return out
}

// Shutdown stops reading new queries, answers the ones in flight, and
// waits for them until ctx ends; then it closes every TCP connection. Each
// UDP reader closes its socket as it stops, so that no socket is closed
// under a reader still using it.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.closing.Swap(true) {
		close(s.stop)
	}
	for _, ln := range s.tcp {
		ln.Close()
	}
	for _, u := range s.udp {
		u.interrupt() // readers answer the queries in hand, then stop and close
	}
	past := time.Now()
	s.conns.Each(func(c net.Conn) { c.SetReadDeadline(past) })
	done := make(chan struct{})
	go func() {
		s.accepters.Wait()
		s.readers.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.conns.Each(func(c net.Conn) { c.Close() })
	return err
}
