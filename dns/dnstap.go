package dns

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	framestream "github.com/farsightsec/golang-framestream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

// dnstap (dnstap.info) is the query log of BIND, Unbound, Knot, PowerDNS
// and CoreDNS: each query and response as it went over the wire, as
// AUTH_QUERY and AUTH_RESPONSE messages in Frame Streams to a reader
// listening on a Unix socket or TCP. The query message keeps its EDNS
// options, so the client subnet is there.
//
// Answering never waits for the log: a query to log is copied into one of
// tapRoom entries, or counted as dropped when none is free, and one
// goroutine encodes and writes them. With dnstap off the server pays one
// nil check per batch of packets.

// tapRoom is how many queries wait to be written at most: a second of
// sampled traffic at 1,000 queries a second, a few MB at most.
const tapRoom = 1024

// TapConfig says where the log goes and what it holds.
type TapConfig struct {
	Network string // "unix" or "tcp"
	Addr    string
	// Sample logs one query in every Sample (with its response); 0 or 1: all.
	Sample             uint32
	Queries, Responses bool
	// Identity and Version name the server in every message.
	Identity, Version string
	Logger            *slog.Logger
}

// Tap writes the server's queries and responses to a dnstap reader.
type Tap struct {
	cfg     TapConfig
	addr    net.Addr
	free    chan *tapEntry
	queue   chan *tapEntry
	count   atomic.Uint32 // queries seen, for sampling off the UDP readers
	written atomic.Uint64
	dropped atomic.Uint64
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// tapEntry is one query and its response (nil when none was sent).
type tapEntry struct {
	query, resp  []byte
	client       netip.AddrPort
	local        net.Addr
	tcp          bool
	qtime, rtime time.Time
}

// NewTap starts a Tap; it connects, and reconnects, to the reader on its
// own: meanwhile the messages are dropped and counted.
func NewTap(c TapConfig, reg prometheus.Registerer) (*Tap, error) {
	var addr net.Addr
	var err error
	if c.Network == "unix" {
		addr, err = net.ResolveUnixAddr("unix", c.Addr)
	} else {
		addr, err = net.ResolveTCPAddr("tcp", c.Addr)
	}
	if err != nil {
		return nil, err
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Tap{cfg: c, addr: addr, free: make(chan *tapEntry, tapRoom), queue: make(chan *tapEntry, tapRoom),
		stop: make(chan struct{}), done: make(chan struct{})}
	for range tapRoom {
		t.free <- new(tapEntry)
	}
	if reg != nil {
		reg.MustRegister(t)
	}
	go t.write()
	return t, nil
}

// sampled says whether the query counted by n (a UDP reader's own counter,
// or nil for the Tap's) is logged.
func (t *Tap) sampled(n *uint32) bool {
	if t.cfg.Sample <= 1 {
		return true
	}
	var v uint32
	if n != nil {
		*n++
		v = *n
	} else {
		v = t.count.Add(1)
	}
	return v%t.cfg.Sample == 0
}

// record copies a query, its response (nil: none sent) and their sockets
// for the writer, or counts them dropped when it is behind.
func (t *Tap) record(query, resp []byte, client netip.AddrPort, local net.Addr, tcp bool, qtime time.Time) {
	var e *tapEntry
	select {
	case e = <-t.free:
	default:
		t.dropped.Add(t.messages(resp != nil))
		return
	}
	e.query = append(e.query[:0], query...)
	e.resp = append(e.resp[:0], resp...)
	if resp == nil {
		e.resp = nil
	}
	e.client, e.local, e.tcp, e.qtime, e.rtime = client, local, tcp, qtime, time.Now()
	t.queue <- e // never blocks: there are only tapRoom entries
}

// messages is how many messages a query makes: its own, and its
// response's when one was sent.
func (t *Tap) messages(answered bool) uint64 {
	var n uint64
	if t.cfg.Queries {
		n++
	}
	if t.cfg.Responses && answered {
		n++
	}
	return n
}

// write encodes and sends the entries until Close. Without a connection
// to the reader, entries are dropped and counted (and a connection tried
// again every tapRetry): a log that reaches the reader late is worth less
// than one that says what it lost.
func (t *Tap) write() {
	defer close(t.done)
	conn := tapConn{addr: t.addr, logger: t.cfg.Logger}
	defer conn.close()
	enc := tapEncoder{identity: []byte(t.cfg.Identity), version: []byte(t.cfg.Version)}
	var types []dnstap.Message_Type
	if t.cfg.Queries {
		types = append(types, dnstap.Message_AUTH_QUERY)
	}
	if t.cfg.Responses {
		types = append(types, dnstap.Message_AUTH_RESPONSE)
	}
	var w *framestream.Writer
	// What w holds unsent: counted as written once flushed, as dropped if
	// the flush fails. A frame that would not fit is preceded by a flush,
	// so that the buffer never sends on its own what is not yet counted.
	var buffered uint64
	var pending int
	flush := func() {
		if err := w.Flush(); err != nil {
			t.dropped.Add(buffered)
			conn.lost(err)
			w = nil
		} else {
			t.written.Add(buffered)
		}
		buffered, pending = 0, 0
	}
	for {
		var e *tapEntry
		select {
		case e = <-t.queue:
		case <-t.stop:
			return
		}
		w = conn.writer(time.Now())
		for _, typ := range types {
			if typ == dnstap.Message_AUTH_RESPONSE && e.resp == nil {
				continue
			}
			if w == nil {
				t.dropped.Add(1)
				continue
			}
			b, err := enc.encode(e, typ)
			if err != nil {
				t.dropped.Add(1)
				continue
			}
			if frame := 4 + len(b); buffered > 0 && pending+frame > tapBuffer {
				if flush(); w == nil {
					t.dropped.Add(1)
					continue
				}
			}
			if _, err := w.WriteFrame(b); err != nil {
				t.dropped.Add(buffered + 1)
				buffered, pending, w = 0, 0, nil
				conn.lost(err)
				continue
			}
			buffered, pending = buffered+1, pending+4+len(b)
		}
		t.free <- e
		// Flushed when nothing more waits: at once when queries are few,
		// in batches when they are many.
		if w != nil && buffered > 0 && len(t.queue) == 0 {
			flush()
		}
	}
}

// tapBuffer is the size of a Frame Streams writer's buffer (bufio's
// default), which the writer flushes before it would overflow.
const tapBuffer = 4096

// tapRetry is how long the writer waits between attempts to connect.
const tapRetry = 2 * time.Second

// tapTimeout bounds the handshake with the reader and each write to it.
const tapTimeout = 5 * time.Second

// tapConn is the writer's connection to the reader (Frame Streams, with
// the bidirectional handshake dnstap readers expect), made again when
// lost. Only the writer goroutine uses it.
type tapConn struct {
	addr   net.Addr
	logger *slog.Logger
	c      net.Conn
	w      *framestream.Writer
	next   time.Time // no attempt to connect before
	logged time.Time // when a failure was last logged
}

// writer returns the connection's writer, connecting first when there is
// none and the last attempt is tapRetry old; nil without a connection.
func (tc *tapConn) writer(now time.Time) *framestream.Writer {
	if tc.w != nil || now.Before(tc.next) {
		return tc.w
	}
	tc.next = now.Add(tapRetry)
	c, err := net.DialTimeout(tc.addr.Network(), tc.addr.String(), tapTimeout)
	if err != nil {
		tc.failed(err)
		return nil
	}
	w, err := framestream.NewWriter(c, &framestream.WriterOptions{
		ContentTypes: [][]byte{dnstap.FSContentType}, Bidirectional: true, Timeout: tapTimeout})
	if err != nil {
		c.Close()
		tc.failed(fmt.Errorf("frame streams handshake: %w", err))
		return nil
	}
	tc.c, tc.w = c, w
	tc.logger.Info("dnstap: connected to the reader", "addr", tc.addr.String())
	return w
}

// lost closes a connection that failed; the next writer call tries again.
func (tc *tapConn) lost(err error) {
	tc.c.Close()
	tc.c, tc.w = nil, nil
	tc.failed(err)
}

// failed logs why there is no connection, at most once a minute: the
// writer tries again every tapRetry while the reader is away.
func (tc *tapConn) failed(err error) {
	if now := time.Now(); now.Sub(tc.logged) >= time.Minute {
		tc.logged = now
		tc.logger.Warn("dnstap: messages are dropped until the reader can be reached", "addr", tc.addr.String(), "err", err)
	}
}

// close ends the stream as Frame Streams says (STOP, then the reader's
// FINISH, each within tapTimeout).
func (tc *tapConn) close() {
	if tc.w != nil {
		tc.w.Close()
		tc.c.Close()
	}
}

// tapEncoder makes the dnstap messages of entries in one message and one
// buffer of its own, used again for each: the writer's work per query is
// what an unsampled log of a busy server costs.
type tapEncoder struct {
	identity, version []byte

	d            dnstap.Dnstap
	m            dnstap.Message
	kind         dnstap.Dnstap_Type
	typ          dnstap.Message_Type
	family       dnstap.SocketFamily
	proto        dnstap.SocketProtocol
	qaddr, raddr [16]byte
	qport, rport uint32
	qsec, rsec   uint64
	qnsec, rnsec uint32
	buf          []byte
}

// encode returns the wire form of the message of e of type typ, valid
// until the next call.
func (c *tapEncoder) encode(e *tapEntry, typ dnstap.Message_Type) ([]byte, error) {
	m := &c.m
	m.Reset()
	c.typ, c.family, c.proto = typ, dnstap.SocketFamily_INET, dnstap.SocketProtocol_UDP
	if e.client.Addr().Is6() {
		c.family = dnstap.SocketFamily_INET6
	}
	if e.tcp {
		c.proto = dnstap.SocketProtocol_TCP
	}
	m.Type, m.SocketFamily, m.SocketProtocol = &c.typ, &c.family, &c.proto
	m.QueryAddress = addrBytes(&c.qaddr, e.client.Addr())
	c.qport, c.qsec, c.qnsec = uint32(e.client.Port()), uint64(e.qtime.Unix()), uint32(e.qtime.Nanosecond())
	m.QueryPort, m.QueryTimeSec, m.QueryTimeNsec = &c.qport, &c.qsec, &c.qnsec
	if ap := addrPortOf(e.local); ap.IsValid() {
		m.ResponseAddress = addrBytes(&c.raddr, ap.Addr())
		c.rport = uint32(ap.Port())
		m.ResponsePort = &c.rport
	}
	if typ == dnstap.Message_AUTH_QUERY {
		m.QueryMessage = e.query
	} else {
		m.ResponseMessage = e.resp
		c.rsec, c.rnsec = uint64(e.rtime.Unix()), uint32(e.rtime.Nanosecond())
		m.ResponseTimeSec, m.ResponseTimeNsec = &c.rsec, &c.rnsec
	}
	c.d.Reset()
	c.kind = dnstap.Dnstap_MESSAGE
	c.d.Identity, c.d.Version, c.d.Type, c.d.Message = c.identity, c.version, &c.kind, m
	var err error
	c.buf, err = proto.MarshalOptions{}.MarshalAppend(c.buf[:0], &c.d)
	return c.buf, err
}

// addrBytes is a's 4 or 16 bytes, in buf.
func addrBytes(buf *[16]byte, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		return buf[:copy(buf[:], v[:])]
	}
	*buf = a.As16()
	return buf[:]
}

// addrPortOf is the address and port of a TCP or UDP address.
func addrPortOf(a net.Addr) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Close stops the writer, waiting at most a second for it to flush
// (a reader that went away could hold it longer).
func (t *Tap) Close() {
	t.once.Do(func() {
		close(t.stop)
		select {
		case <-t.done:
		case <-time.After(time.Second):
		}
	})
}

var (
	tapWrittenDesc = prometheus.NewDesc("meridian_dnstap_messages_total", "dnstap messages written to the reader.", nil, nil)
	tapDroppedDesc = prometheus.NewDesc("meridian_dnstap_dropped_total",
		"dnstap messages dropped: the writer was behind, or the reader could not be reached.", nil, nil)
)

// Describe implements prometheus.Collector.
func (t *Tap) Describe(ch chan<- *prometheus.Desc) { ch <- tapWrittenDesc; ch <- tapDroppedDesc }

// Collect implements prometheus.Collector.
func (t *Tap) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(tapWrittenDesc, prometheus.CounterValue, float64(t.written.Load()))
	ch <- prometheus.MustNewConstMetric(tapDroppedDesc, prometheus.CounterValue, float64(t.dropped.Load()))
}
