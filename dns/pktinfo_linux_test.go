package dns

import (
	"net"
	"testing"
	"time"
	"unsafe"

	mdns "github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// TestServerRepliesFromTheQueriedAddress binds the wildcard address and
// queries 127.0.0.2 through a connected socket, which takes replies from
// 127.0.0.2 only. The route back to the client (127.0.0.1) prefers source
// 127.0.0.1, so only a reply that names its source gets through.
func TestServerRepliesFromTheQueriedAddress(t *testing.T) {
	for _, bind := range []string{"0.0.0.0:0", "[::]:0"} {
		t.Run(bind, func(t *testing.T) {
			if bind == "[::]:0" {
				probe, err := net.ListenPacket("udp6", "[::1]:0")
				if err != nil {
					t.Skipf("this host has no IPv6 loopback: %v", err)
				}
				probe.Close()
			}
			s, err := Listen(ServerConfig{Handler: newTestHandler(t, testConf), Addrs: []string{bind}, UDPSockets: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Shutdown(t.Context()) })
			_, port, _ := net.SplitHostPort(s.Addrs()[0].String())
			targets := []string{"127.0.0.2", "127.0.0.1"}
			if bind == "[::]:0" {
				targets = append(targets, "::1")
			}
			for _, ip := range targets {
				c, err := net.Dial("udp", net.JoinHostPort(ip, port))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				m := testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg()
				r, _, err := (&mdns.Client{Timeout: 2 * time.Second}).ExchangeWithConn(m, &mdns.Conn{Conn: c})
				if err != nil || len(r.Answer) != 1 {
					t.Errorf("query to %s: %v %v", ip, r, err)
				}
			}
		})
	}
}

// TestReplySource rewrites received packet info into the reply's.
func TestReplySource(t *testing.T) {
	cmsg := func(level, typ int32, data []byte) []byte {
		b := make([]byte, unix.CmsgSpace(len(data)))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = level, typ
		h.SetLen(unix.CmsgLen(len(data)))
		copy(b[unix.CmsgLen(0):], data)
		return b
	}
	v4 := unix.Inet4Pktinfo{Ifindex: 3, Spec_dst: [4]byte{10, 0, 0, 1}, Addr: [4]byte{192, 0, 2, 53}}
	b := cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, unsafe.Slice((*byte)(unsafe.Pointer(&v4)), unix.SizeofInet4Pktinfo))
	if n := replySource(b); n != len(b) {
		t.Errorf("IPv4: %d bytes to send, want %d", n, len(b))
	}
	if got := *(*unix.Inet4Pktinfo)(unsafe.Pointer(&b[unix.CmsgLen(0)])); got.Spec_dst != v4.Addr || got.Ifindex != 0 {
		t.Errorf("IPv4 reply info %+v, want source %v on any interface", got, v4.Addr)
	}

	for _, tc := range []struct {
		addr    [16]byte
		ifindex uint32
	}{
		{[16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 0x53}, 0}, // global: any interface
		{[16]byte{0xfe, 0x80, 15: 1}, 7},                // link-local: its own interface
	} {
		v6 := unix.Inet6Pktinfo{Addr: tc.addr, Ifindex: 7}
		b := cmsg(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unsafe.Slice((*byte)(unsafe.Pointer(&v6)), unix.SizeofInet6Pktinfo))
		if n := replySource(b); n != len(b) {
			t.Errorf("IPv6 %x: %d bytes to send, want %d", tc.addr, n, len(b))
		}
		if got := *(*unix.Inet6Pktinfo)(unsafe.Pointer(&b[unix.CmsgLen(0)])); got.Addr != tc.addr || got.Ifindex != tc.ifindex {
			t.Errorf("IPv6 reply info %+v, want %x on interface %d", got, tc.addr, tc.ifindex)
		}
	}

	for name, b := range map[string][]byte{
		"none":        nil,
		"other":       cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMP, make([]byte, 16)),
		"short":       cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, make([]byte, 4)),
		"cut":         cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, make([]byte, unix.SizeofInet4Pktinfo))[:unix.CmsgLen(0)+4],
		"header only": make([]byte, 8),
		"length below the header": func() []byte {
			b := cmsg(unix.IPPROTO_IP, unix.IP_PKTINFO, make([]byte, unix.SizeofInet4Pktinfo))
			(*unix.Cmsghdr)(unsafe.Pointer(&b[0])).SetLen(4)
			return b
		}(),
	} {
		if n := replySource(b); n != 0 {
			t.Errorf("%s: %d bytes to send, want none", name, n)
		}
	}
}
