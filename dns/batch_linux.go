package dns

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSize is how many packets one system call reads or writes at most.
// 16, 32, 64 and 128 were tried under dnsperf: 32 served as many queries as
// any, and a smaller batch keeps the wait for the last answer shorter.
const batchSize = 32

// batchBuf is the size of each receive buffer: any query fits; a bigger
// packet is cut and dropped.
const batchBuf = 4096

// batchConn reads and writes many UDP packets per system call (recvmmsg,
// sendmmsg), through the runtime's poller, allocating nothing per packet.
type batchConn struct {
	rc      syscall.RawConn
	hdrs    [batchSize]unix.Mmsghdr
	iovs    [batchSize]unix.Iovec
	names   [batchSize]unix.RawSockaddrInet6 // IPv4 addresses fit too
	bufs    [batchSize][]byte
	outs    [batchSize][]byte // responses, sent to names[i]
	send    [batchSize]unix.Mmsghdr
	sendIov [batchSize]unix.Iovec

	// The poller callbacks, made once so that reading allocates nothing.
	readFn, writeFn func(fd uintptr) bool
	got             int
	sendFrom, sendN int // the headers of send still to go: [sendFrom, sendN)
	err             error
}

func newBatchConn(c *net.UDPConn) (*batchConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &batchConn{rc: rc}
	for i := range batchSize {
		b.bufs[i] = make([]byte, batchBuf)
		b.outs[i] = make([]byte, 0, 8192)
	}
	b.readFn = b.recv
	b.writeFn = b.sendPending
	return b, nil
}

// read waits for packets and returns how many arrived.
func (b *batchConn) read() (int, error) {
	for i := range batchSize {
		b.iovs[i] = unix.Iovec{Base: &b.bufs[i][0], Len: batchBuf}
		b.hdrs[i] = unix.Mmsghdr{Hdr: unix.Msghdr{
			Name:    (*byte)(unsafe.Pointer(&b.names[i])),
			Namelen: unix.SizeofSockaddrInet6,
			Iov:     &b.iovs[i],
			Iovlen:  1,
		}}
	}
	b.got, b.err = 0, nil
	if err := b.rc.Read(b.readFn); err != nil {
		return 0, err
	}
	return b.got, b.err
}

func (b *batchConn) recv(fd uintptr) bool {
	// Raw: the call never blocks (MSG_DONTWAIT), so the runtime's syscall
	// bookkeeping would be pure cost; waiting happens in the poller.
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), batchSize, unix.MSG_DONTWAIT, 0, 0)
	switch {
	case errno == unix.EAGAIN || errno == unix.EWOULDBLOCK:
		return false // wait until the socket is readable
	case errno == unix.EINTR:
		return false
	case errno != 0:
		b.err = errno
	default:
		b.got = int(n)
	}
	return true
}

// packet returns the i-th packet read and its sender; ok is false for a
// packet that was cut or comes from an unknown address family.
func (b *batchConn) packet(i int) (p []byte, from netip.AddrPort, ok bool) {
	h := &b.hdrs[i]
	if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil, netip.AddrPort{}, false
	}
	p = b.bufs[i][:h.Len]
	switch b.names[i].Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&b.names[i]))
		return p, netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port)), true
	case unix.AF_INET6:
		sa := &b.names[i]
		return p, netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port)), true
	}
	return nil, netip.AddrPort{}, false
}

func ntohs(v uint16) uint16 { return v>>8 | v<<8 }

// write sends each response in resps (indexes into outs, addressed to the
// sender of the packet with the same index), in as few calls as it takes.
func (b *batchConn) write(resps []int) error {
	for j, i := range resps {
		b.sendIov[j] = unix.Iovec{Base: unsafe.SliceData(b.outs[i]), Len: uint64(len(b.outs[i]))}
		b.send[j] = unix.Mmsghdr{Hdr: unix.Msghdr{
			Name:    (*byte)(unsafe.Pointer(&b.names[i])),
			Namelen: b.hdrs[i].Hdr.Namelen,
			Iov:     &b.sendIov[j],
			Iovlen:  1,
		}}
	}
	b.sendFrom, b.sendN = 0, len(resps)
	for b.sendFrom < b.sendN {
		b.got, b.err = 0, nil
		if err := b.rc.Write(b.writeFn); err != nil {
			return err
		}
		switch {
		case b.err == nil:
			b.sendFrom += b.got
		case unreachable(b.err):
			b.sendFrom++ // that client cannot be reached; the others still can
		default:
			return b.err
		}
	}
	return nil
}

// unreachable reports errors about one destination, not the socket.
func unreachable(err error) bool {
	for _, e := range []error{unix.EPERM, unix.EACCES, unix.ECONNREFUSED, unix.EHOSTUNREACH, unix.ENETUNREACH, unix.EINVAL, unix.EMSGSIZE} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (b *batchConn) sendPending(fd uintptr) bool {
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.send[b.sendFrom])),
		uintptr(b.sendN-b.sendFrom), unix.MSG_DONTWAIT, 0, 0)
	switch {
	case errno == unix.EAGAIN || errno == unix.EWOULDBLOCK || errno == unix.EINTR:
		return false // wait until the socket is writable
	case errno != 0:
		b.err = errno
	default:
		b.got = int(n)
	}
	return true
}
