package dns

import (
	"hash/maphash"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Each UDP socket has a signing worker: a goroutine that answers the
// queries its reader defers because they need a signature made online
// (the denial of a new name, a wildcard's records for a new name: about
// 60 µs each). The reader goes on with its batch at once, so that a flood
// of new names delays only the answers that need signing, never the
// others read with them; and the worker's room bounds how long a deferred
// query waits: one that finds it full gets TC, as over the zone's budget.

// workerRoom is how many deferred queries a socket's worker holds: about
// 1 ms of signing. The last quarter of the places go only to client
// networks that hold none, so that when a flood from a few networks keeps
// the worker busy (the machine's CPU, not the signing budget, is then the
// bound), a query from any other network still finds a place.
const workerRoom = 16

// roomSlots is how many client networks a worker's room tells apart:
// networks are hashed to a slot, as for the signing budget.
const roomSlots = 64

// signJob is a deferred query: a copy of it and of where it came from.
type signJob struct {
	req     []byte
	out     []byte
	name    unix.RawSockaddrInet6
	namelen uint32
	ctrl    []byte // its packet info (pktinfo), ctrlLen bytes, 8-byte aligned
	ctrln   uint64
	from    netip.AddrPort
	slot    int       // of the client network, in udpSocket.held
	start   time.Time // when it was read
}

// startWorker makes the socket's jobs, all free, and starts its worker.
// Only the reader takes free jobs, so a free one it sees is one it gets.
func (s *Server) startWorker(u *udpSocket) {
	u.jobs = make(chan *signJob, workerRoom)
	u.free = make(chan *signJob, workerRoom)
	u.workerDone = make(chan struct{})
	for range workerRoom {
		u.free <- &signJob{ctrl: make([]byte, ctrlLen)}
	}
	go s.serveWorker(u)
}

// stopWorker lets the worker answer the jobs it holds and waits for it.
func (u *udpSocket) stopWorker() {
	close(u.jobs)
	<-u.workerDone
}

// signMode is how the reader's next query, from client, may sign:
// deferred while the worker has room for its network (see workerRoom).
// The network is looked at only when few places are left.
func (u *udpSocket) signMode(client netip.Addr) signMode {
	switch free := len(u.free); {
	case free > workerRoom/4:
		return signDefer
	case free > 0 && u.held[roomSlot(client)].Load() == 0:
		return signDefer
	}
	return signBusy
}

// roomSlot is the slot of client's network in udpSocket.held.
func roomSlot(client netip.Addr) int {
	return int(maphash.Comparable(netSeed, clientNetwork(client)) % roomSlots)
}

// deferPacket hands packet i, which the handler deferred, to the worker.
func (u *udpSocket) deferPacket(i int, p []byte, from netip.AddrPort, start time.Time) {
	j := <-u.free
	j.slot = roomSlot(from.Addr())
	u.held[j.slot].Add(1)
	j.req = append(j.req[:0], p...)
	j.name, j.namelen = u.names[i], u.hdrs[i].Hdr.Namelen
	j.ctrln = 0
	if h := &u.hdrs[i].Hdr; u.pktinfo && h.Controllen <= ctrlLen {
		j.ctrln = uint64(copy(j.ctrl, u.ctrls[i][:h.Controllen]))
	}
	j.from, j.start = from, start
	u.jobs <- j
}

// serveWorker answers deferred queries, signing within the budget their
// reader already spent, until the reader stops.
func (s *Server) serveWorker(u *udpSocket) {
	defer close(u.workerDone)
	var hdr unix.Msghdr
	var iov unix.Iovec
	for j := range u.jobs {
		resp, o := s.answerUDP(j.req, j.out[:0], j.from.Addr(), time.Now(), signPaid)
		if t := s.cfg.Tap; t != nil && o.rcode >= 0 && t.sampled(nil) {
			t.record(j.req, resp, j.from, u.addr, false, j.start)
		}
		if resp != nil {
			j.out = resp
			iov = unix.Iovec{Base: unsafe.SliceData(resp), Len: uint64(len(resp))}
			u.message(&hdr, &j.name, j.namelen, &iov, j.ctrl[:j.ctrln])
			if err := u.sendmsg(&hdr); err != nil && !s.closing.Load() {
				s.cfg.Logger.Warn("udp write failed", "err", err)
			}
		}
		s.cfg.Stats.observe(&o, time.Since(j.start))
		u.held[j.slot].Add(-1)
		u.free <- j
	}
}

// sendmsg sends one message, blocking while the send buffer is full.
func (u *udpSocket) sendmsg(h *unix.Msghdr) error {
	for {
		_, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(u.fd), uintptr(unsafe.Pointer(h)), 0)
		switch {
		case errno == 0 || unreachable(errno):
			return nil
		case errno != unix.EINTR:
			return errno
		}
	}
}
