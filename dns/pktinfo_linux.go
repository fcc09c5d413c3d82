package dns

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// A socket bound to a wildcard address (":53", as the Helm chart binds)
// would answer from whatever address the route back to the client prefers;
// on a host with several addresses, a resolver that asked one of them drops
// an answer that comes from another. So such a socket asks the kernel for
// the destination of each query (IP_PKTINFO, IPV6_RECVPKTINFO) and sends
// each reply from it.

// ctrlLen is the room for the packet info of one query: one control
// message with an in6_pktinfo (40 bytes) or an in_pktinfo (32).
const ctrlLen = 64

// enablePktinfo asks for the destination address of each packet on fd,
// IPv6 and, on a dual-stack socket, IPv4.
func enablePktinfo(fd int) error {
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return err
	}
	if domain == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1); err != nil {
			return err
		}
		if v6only, err := unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY); err != nil || v6only == 1 {
			return err
		}
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
}

// replySource turns the packet info a query came with (ctrl, as received)
// into the one its reply goes out with, in place: the query's destination
// address as the source, on whichever interface routes to the client (a
// link-local IPv6 address keeps its interface, which it needs). It returns
// how many bytes of ctrl to send; 0 when ctrl holds no packet info.
func replySource(ctrl []byte) int {
	if len(ctrl) < unix.CmsgLen(0) || uintptr(unsafe.Pointer(&ctrl[0]))%8 != 0 {
		return 0
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
	if h.Len < uint64(unix.CmsgLen(0)) || h.Len > uint64(len(ctrl)) {
		return 0
	}
	data := ctrl[unix.CmsgLen(0):h.Len]
	switch {
	case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
		pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
		pi.Spec_dst, pi.Ifindex = pi.Addr, 0
	case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
		pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
		if !(pi.Addr[0] == 0xfe && pi.Addr[1]&0xc0 == 0x80) { // not fe80::/10
			pi.Ifindex = 0
		}
	default:
		return 0
	}
	return unix.CmsgSpace(len(data))
}
