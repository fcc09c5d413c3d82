package xds

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawConn is an HTTP/2 connection to the xDS server driven frame by
// frame, to do what no well-behaved gRPC client does.
type rawConn struct {
	conn net.Conn
	w, r *http2.Framer
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	c := &rawConn{conn: conn, w: http2.NewFramer(conn, nil), r: http2.NewFramer(nil, conn)}
	if err := c.w.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return c
}

// next reads the next frame, waiting with a generous deadline.
func (c *rawConn) next(t *testing.T) http2.Frame {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	f, err := c.r.ReadFrame()
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// serverSettings reads frames until the server's SETTINGS and returns them.
func (c *rawConn) serverSettings(t *testing.T) map[http2.SettingID]uint32 {
	t.Helper()
	for {
		if f, ok := c.next(t).(*http2.SettingsFrame); ok && !f.IsAck() {
			m := map[http2.SettingID]uint32{}
			f.ForeachSetting(func(s http2.Setting) error { m[s.ID] = s.Val; return nil })
			c.w.WriteSettingsAck()
			return m
		}
	}
}

// TestXDSKeepaliveEnforcement checks that a client pinging more often than
// the keepalive minimum time is sent GOAWAY "too_many_pings", and that the
// minimum is the configured one: a client pinging less often than it is
// answered, however often that is.
func TestXDSKeepaliveEnforcement(t *testing.T) {
	t.Run("too many pings", func(t *testing.T) {
		s := New(Config{})
		s.SetPlan(newWorld().plan())
		c := dialRaw(t, startServer(t, s))
		c.serverSettings(t)
		for i := range 10 {
			if err := c.w.WritePing(false, [8]byte{byte(i)}); err != nil {
				break // the server may have closed already
			}
		}
		for {
			if g, ok := c.next(t).(*http2.GoAwayFrame); ok {
				if g.ErrCode != http2.ErrCodeEnhanceYourCalm || string(g.DebugData()) != "too_many_pings" {
					t.Errorf("GOAWAY %v %q, want ENHANCE_YOUR_CALM too_many_pings", g.ErrCode, g.DebugData())
				}
				return
			}
		}
	})
	t.Run("pings at the configured pace", func(t *testing.T) {
		s := New(Config{Limits: Limits{KeepaliveMinTime: 20 * time.Millisecond}})
		s.SetPlan(newWorld().plan())
		c := dialRaw(t, startServer(t, s))
		c.serverSettings(t)
		for i := range 5 {
			// However slow the machine, pings are at least this far apart.
			time.Sleep(100 * time.Millisecond)
			if err := c.w.WritePing(false, [8]byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
			for {
				f := c.next(t)
				if g, ok := f.(*http2.GoAwayFrame); ok {
					t.Fatalf("ping %d: GOAWAY %v %q", i, g.ErrCode, g.DebugData())
				}
				if p, ok := f.(*http2.PingFrame); ok && p.IsAck() && p.Data[0] == byte(i) {
					break
				}
			}
		}
	})
}

// adsHeaders are the request headers of an ADS stream.
func adsHeaders(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":authority", "meridian"},
		{":path", "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"},
		{"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// TestXDSMaxConcurrentStreams checks that the server announces its stream
// limit and refuses a stream beyond it.
func TestXDSMaxConcurrentStreams(t *testing.T) {
	s := New(Config{Limits: Limits{MaxStreams: 2}})
	s.SetPlan(newWorld().plan())
	c := dialRaw(t, startServer(t, s))
	if got := c.serverSettings(t)[http2.SettingMaxConcurrentStreams]; got != 2 {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS %d, want 2", got)
	}
	headers := adsHeaders(t)
	for _, id := range []uint32{1, 3, 5} {
		if err := c.w.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: headers, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
	}
	for {
		f := c.next(t)
		if r, ok := f.(*http2.RSTStreamFrame); ok {
			if r.StreamID != 5 || r.ErrCode != http2.ErrCodeRefusedStream {
				t.Errorf("RST_STREAM on stream %d (%v), want stream 5 REFUSED_STREAM", r.StreamID, r.ErrCode)
			}
			return
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			t.Fatalf("GOAWAY %v %q", g.ErrCode, g.DebugData())
		}
	}
}

// TestXDSConnectionCap fills the connection cap and checks that one more
// connection is not served until one closes.
func TestXDSConnectionCap(t *testing.T) {
	s := New(Config{Limits: Limits{MaxConnections: 1}})
	s.SetPlan(newWorld().plan())
	addr := startServer(t, s)
	first := dialRaw(t, addr)
	first.serverSettings(t)
	extra := dialRaw(t, addr) // the kernel completes the handshake
	// Not a timing assertion: however slow the machine, a capped server
	// cannot answer while the cap is full.
	extra.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := extra.r.ReadFrame(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection beyond the cap was answered (%v)", err)
	}
	first.conn.Close()
	extra.serverSettings(t)
}
