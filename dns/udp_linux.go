package dns

import (
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSize is how many packets one system call reads or writes at most.
// 8, 16 and 32 were tried under dnsperf: 16 and 32 served alike, 8 fewer.
const batchSize = 32

// batchBuf is the size of each receive buffer: any query fits; a bigger
// packet is cut and dropped.
const batchBuf = 4096

// udpSocket is one UDP socket with a reader thread of its own, as gdnsd
// has: the thread waits in recvmmsg in the kernel, which wakes that very
// thread when a packet comes. Through the runtime's poller a wake-up costs
// an epoll return and a goroutine switch, and the goroutine may land on
// another thread each time. It reads and writes up to batchSize packets
// per call, allocating nothing per packet.
type udpSocket struct {
	addr net.Addr

	mu      sync.Mutex // guards fd against interrupt racing close
	fd      int        // blocking; -1 once closed
	pktinfo bool       // bound to a wildcard address: replies name their source (pktinfo_linux.go)

	// Packets read, and reads that returned some: the steering's input
	// (steer.go); packets is also a metric. tid is the reader's thread.
	packets, reads atomic.Uint64
	tid            atomic.Int32

	hdrs    [batchSize]unix.Mmsghdr
	iovs    [batchSize]unix.Iovec
	names   [batchSize]unix.RawSockaddrInet6 // IPv4 addresses fit too
	bufs    [batchSize][]byte
	outs    [batchSize][]byte // responses, sent to names[i]
	ctrls   [batchSize][]byte // packet info, with pktinfo
	send    [batchSize]unix.Mmsghdr
	sendIov [batchSize]unix.Iovec

	// Queries deferred to the socket's signing worker (worker_linux.go).
	jobs, free chan *signJob
	held       [roomSlots]atomic.Int32 // places each client network holds
	workerDone chan struct{}
}

// newUDPSocket takes c over: its socket leaves the runtime's poller (so
// that no poller thread wakes for its packets) and becomes blocking. The
// socket, its address and its SO_REUSEPORT group stay the same. c is
// closed, also on error.
func newUDPSocket(c *net.UDPConn) (*udpSocket, error) {
	u := &udpSocket{addr: c.LocalAddr(), fd: -1}
	rc, err := c.SyscallConn()
	if err == nil {
		var dupErr error
		if err = rc.Control(func(fd uintptr) { u.fd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err == nil {
			err = dupErr
		}
	}
	c.Close() // the duplicate keeps the socket open
	if err == nil {
		err = unix.SetNonblock(u.fd, false)
	}
	if ua, ok := u.addr.(*net.UDPAddr); err == nil && ok && ua.IP.IsUnspecified() {
		u.pktinfo = true
		err = enablePktinfo(u.fd)
	}
	if err != nil {
		u.close()
		return nil, err
	}
	for i := range batchSize {
		u.bufs[i] = make([]byte, batchBuf)
		u.outs[i] = make([]byte, 0, 8192)
		u.ctrls[i] = make([]byte, ctrlLen) // 8-byte aligned, as control messages must be
	}
	return u, nil
}

func (u *udpSocket) localAddr() net.Addr { return u.addr }

// interrupt makes a blocked read return at once; packets still arrive.
func (u *udpSocket) interrupt() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.fd >= 0 {
		unix.Shutdown(u.fd, unix.SHUT_RD) // ENOTCONN on a UDP socket, but it wakes the reader
	}
}

// close closes the socket; only its reader calls it, once it stops reading.
func (u *udpSocket) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.fd >= 0 {
		unix.Close(u.fd)
		u.fd = -1
	}
}

// readerYield is how often a UDP reader gives up its P for a moment. The
// runtime's monitor (sysmon) takes the P of a goroutine that has run for
// 10 ms without being scheduled again while it is in a system call, and a
// reader is both: one that never yields lost its P every 10 ms and took
// the slow way back, and each such take kept the monitor waking at its
// fastest, every 20 µs (3,300–4,300 wake-ups a second at 100,000 queries
// a second). A yield costs two thread switches, 200 a second per reader
// at most.
const readerYield = 5 * time.Millisecond

// serveUDP answers queries on one socket until Shutdown, then closes it.
// The goroutine keeps its thread, so that the kernel wakes the thread that
// waits in recvmmsg and that thread is the reader the steering measures
// (steer.go). The thread may run on any CPU: when packets are steered by
// CPU, the scheduler runs a socket's reader on the CPU that received them
// while that CPU has room, and moves it to another when it has not (one
// busy sender, a single-queue NIC). Readers kept on their CPU answered
// 12–15% fewer queries from one sending thread (bench/RESULTS.md).
func (s *Server) serveUDP(u *udpSocket) {
	defer s.readers.Done()
	defer u.close()
	runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
	u.tid.Store(int32(unix.Gettid()))
	addProcs(1)
	defer addProcs(-1)
	s.startWorker(u)
	defer u.stopWorker() // before u.close: the worker writes to the socket
	var outcomes [batchSize]outcome
	var resps [batchSize]int
	var tapped uint32 // queries seen by the tap, for sampling
	yielded := time.Now()
	for !s.closing.Load() {
		n, err := u.read()
		if err != nil {
			if s.stopOn(err, "udp read") {
				return
			}
			continue
		}
		if n > 0 {
			u.packets.Add(uint64(n))
			u.reads.Add(1)
		}
		start := time.Now()
		if start.Sub(yielded) >= readerYield {
			runtime.Gosched()
			yielded = start
		}
		k := 0
		for i := range n {
			outcomes[i] = outcome{rcode: -1}
			p, from, ok := u.packet(i)
			if !ok {
				continue
			}
			resp, o := s.answerUDP(p, u.outs[i], from.Addr(), start, u.signMode(from.Addr()))
			if o.deferred {
				u.deferPacket(i, p, from, start) // the worker answers, counts and logs it
				continue
			}
			outcomes[i] = o
			if t := s.cfg.Tap; t != nil && o.rcode >= 0 && t.sampled(&tapped) {
				t.record(p, resp, from, u.addr, false, start)
			}
			if resp != nil {
				u.outs[i] = resp
				resps[k] = i
				k++
			}
		}
		if k > 0 {
			if err := u.write(resps[:k]); err != nil && !s.closing.Load() {
				s.cfg.Logger.Warn("udp write failed", "err", err)
			}
		}
		s.cfg.Stats.observeBatch(outcomes[:n], time.Since(start))
	}
}

// procsMu serializes the changes of GOMAXPROCS by addProcs.
var procsMu sync.Mutex

// addProcs raises GOMAXPROCS by delta (or lowers it). Each UDP reader adds
// one for as long as it runs: a reader waiting in recvmmsg keeps its P
// unless no other P is idle, and then it loses it to the runtime's monitor
// and takes the slow way back at each wake-up. On two cores with two
// readers, the extra Ps served 10% more queries with packets steered by
// CPU and 20% more without (bench/RESULTS.md). Their threads are asleep in
// the kernel, so the rest of the program still gets every CPU. Setting
// GOMAXPROCS ends the runtime's own updates of it from the container's CPU
// limit.
func addProcs(delta int) {
	procsMu.Lock()
	defer procsMu.Unlock()
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + delta)
}

// read waits for at least one packet and returns how many it read without
// waiting further; 0 after a signal.
func (u *udpSocket) read() (int, error) {
	for i := range batchSize {
		u.iovs[i] = unix.Iovec{Base: &u.bufs[i][0], Len: batchBuf}
		u.hdrs[i] = unix.Mmsghdr{Hdr: unix.Msghdr{
			Name:    (*byte)(unsafe.Pointer(&u.names[i])),
			Namelen: unix.SizeofSockaddrInet6,
			Iov:     &u.iovs[i],
			Iovlen:  1,
		}}
		if u.pktinfo {
			u.hdrs[i].Hdr.Control = &u.ctrls[i][0]
			u.hdrs[i].Hdr.Controllen = ctrlLen
		}
	}
	// Syscall, not RawSyscall: while the thread waits, the runtime may
	// hand its P to other goroutines.
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(u.fd), uintptr(unsafe.Pointer(&u.hdrs[0])), batchSize, unix.MSG_WAITFORONE, 0, 0)
	switch errno {
	case 0:
		return int(n), nil
	case unix.EINTR:
		return 0, nil
	}
	return 0, errno
}

// packet returns the i-th packet read and its sender; ok is false for a
// packet that was cut or has no sender (the wake-up after interrupt).
func (u *udpSocket) packet(i int) (p []byte, from netip.AddrPort, ok bool) {
	h := &u.hdrs[i]
	if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil, netip.AddrPort{}, false
	}
	p = u.bufs[i][:h.Len]
	switch {
	case h.Hdr.Namelen >= unix.SizeofSockaddrInet4 && u.names[i].Family == unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&u.names[i]))
		return p, netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port)), true
	case h.Hdr.Namelen >= unix.SizeofSockaddrInet6 && u.names[i].Family == unix.AF_INET6:
		sa := &u.names[i]
		return p, netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port)), true
	}
	return nil, netip.AddrPort{}, false
}

func ntohs(v uint16) uint16 { return v>>8 | v<<8 }

// write sends each response in resps (indexes into outs, addressed to the
// sender of the packet with the same index), in as few calls as it takes.
func (u *udpSocket) write(resps []int) error {
	for j, i := range resps {
		u.sendIov[j] = unix.Iovec{Base: unsafe.SliceData(u.outs[i]), Len: uint64(len(u.outs[i]))}
		var ctrl []byte
		if h := &u.hdrs[i].Hdr; u.pktinfo && h.Controllen <= ctrlLen {
			ctrl = u.ctrls[i][:h.Controllen]
		}
		u.message(&u.send[j].Hdr, &u.names[i], u.hdrs[i].Hdr.Namelen, &u.sendIov[j], ctrl)
	}
	for from, to := 0, len(resps); from < to; {
		// Blocking: a full send buffer waits for room, as it did in the poller.
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(u.fd), uintptr(unsafe.Pointer(&u.send[from])), uintptr(to-from), 0, 0, 0)
		switch {
		case errno == 0:
			from += int(n)
		case errno == unix.EINTR:
		case unreachable(errno):
			from++ // that client cannot be reached; the others still can
		default:
			return errno
		}
	}
	return nil
}

// message makes h the reply to the sender name of a packet: iov, from the
// address the packet came to, given its packet info as received (ctrl, if
// any), which it changes in place.
func (u *udpSocket) message(h *unix.Msghdr, name *unix.RawSockaddrInet6, namelen uint32, iov *unix.Iovec, ctrl []byte) {
	*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(name)), Namelen: namelen, Iov: iov, Iovlen: 1}
	if n := replySource(ctrl); n > 0 {
		h.Control = &ctrl[0]
		h.Controllen = uint64(n)
	}
}

// unreachable reports errors about one destination, not the socket.
func unreachable(errno syscall.Errno) bool {
	switch errno {
	case unix.EPERM, unix.EACCES, unix.ECONNREFUSED, unix.EHOSTUNREACH, unix.ENETUNREACH, unix.EINVAL, unix.EMSGSIZE,
		unix.EADDRNOTAVAIL: // the query's destination address is gone
		return true
	}
	return false
}
