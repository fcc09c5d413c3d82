//go:build !linux

package dns

import (
	"net"
	"sync/atomic"
	"time"
)

// udpSocket is one UDP socket read through the runtime's poller, one
// packet per system call.
type udpSocket struct {
	c       *net.UDPConn
	packets atomic.Uint64 // read, for the metric
}

func newUDPSocket(c *net.UDPConn) (*udpSocket, error) { return &udpSocket{c: c}, nil }

func (u *udpSocket) localAddr() net.Addr { return u.c.LocalAddr() }

// interrupt makes a blocked read return at once.
func (u *udpSocket) interrupt() { u.c.SetReadDeadline(time.Unix(1, 0)) }

func (u *udpSocket) close() { u.c.Close() }

// serveUDP answers queries on one socket until Shutdown, then closes it.
// Buffers are reused, so the loop allocates nothing per query.
func (s *Server) serveUDP(u *udpSocket) {
	defer s.readers.Done()
	defer u.close()
	req := make([]byte, 65535)
	out := make([]byte, 0, 65535)
	for !s.closing.Load() {
		n, from, err := u.c.ReadFromUDPAddrPort(req)
		if err != nil {
			if s.stopOn(err, "udp read") {
				return
			}
			continue
		}
		u.packets.Add(1)
		start := time.Now()
		resp, o := s.answerUDP(req[:n], out, from.Addr().Unmap(), start, signInline)
		if t := s.cfg.Tap; t != nil && o.rcode >= 0 && t.sampled(nil) {
			t.record(req[:n], resp, from, u.localAddr(), false, start)
		}
		if resp != nil {
			u.c.WriteToUDPAddrPort(resp, from)
		}
		s.cfg.Stats.observe(&o, time.Since(start))
	}
}
