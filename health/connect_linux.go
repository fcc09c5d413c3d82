package health

import (
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// connector runs TCP connect probes in rounds, on the Checker's goroutine:
// a round starts the connects of every probe due (non-blocking
// connect(2)), then judges every connect one epoll instance says has
// finished, and times out the ones past their deadline; each connection
// is reset (SO_LINGER 0) the moment it is up or refused. A goroutine and a
// net.Dialer per probe cost about twelve system calls, a netpoller
// registration, a context, thirty allocations and a few goroutine
// switches per probe; this costs four system calls (socket, connect,
// setsockopt, close) and no allocation in the steady state, and the
// Checker's goroutine wakes once a round (probeRound), not several times a
// probe (bench/RESULTS.md, issue 21). The connects a round starts are
// polled together at the next round (one ppoll), since most have finished
// by then; only the ones still in flight go into epoll, whose registration
// and removal would otherwise cost each probe a system call and a tenth of
// its kernel time.
// A connect that finishes between rounds is judged at the next one: a
// verdict comes at most a round late, and TCP probe durations are
// measured to a round.
type connector struct {
	epfd  int
	epoch time.Time // deadlines are durations since it, monotonic

	pending   []pendingConnect // by slot, the number in its epoll event
	free      []int32          // slots not in use
	deadlines slotHeap         // the slots in use, soonest deadline first
	fresh     []freshConnect   // started by the last round, not in epoll
	polls     []unix.PollFd    // fresh's, for ppoll
	events    []unix.EpollEvent
	waiting   []*job // due, not started: too many connects in flight
	finished  []*job // handed to the Checker by round
	// maxInFlight bounds the connects in flight, so that targets that
	// never answer cannot take every file descriptor: probes wait instead.
	maxInFlight int
	reasons     map[errReason]string // "connect: connection refused", made once
}

// pendingConnect is a connect in progress.
type pendingConnect struct {
	j        *job
	fd       int32
	gen      int32 // tells a slot's uses apart, in epoll events
	index    int32 // in deadlines
	deadline time.Duration
	fresh    bool // started, not polled yet: in fresh, not in epoll
}

// freshConnect is a connect the last round started, by its slot and the
// slot's use: a timeout may have released it since.
type freshConnect struct{ slot, gen int32 }

type errReason struct {
	op    string
	errno syscall.Errno
}

// newConnector returns a connector; close releases it.
func newConnector() (*connector, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	return &connector{epfd: epfd, epoch: time.Now(), events: make([]unix.EpollEvent, 256),
		reasons: map[errReason]string{}, maxInFlight: maxInFlight()}, nil
}

// maxInFlight returns half the limit on open files, which Go raises to the
// hard limit at start: the other half is the rest of Meridian's.
func maxInFlight() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<20 {
		return 1 << 19
	}
	return max(int(lim.Cur/2), 64)
}

// busy reports whether connects are in flight or waiting to start: the
// Checker runs rounds while they are.
func (c *connector) busy() bool { return len(c.deadlines.slots) > 0 || len(c.waiting) > 0 }

// round starts the connects of jobs, then returns every probe finished:
// connected, refused or timed out. The slice is the connector's, valid
// until the next round.
func (c *connector) round(jobs []*job, now time.Time) []*job {
	clear(c.finished)
	c.finished = c.finished[:0]
	// Every connect the kernel has finished by now is judged before any
	// is timed out: one that finished while the Checker was busy did not
	// time out.
	at := now.Sub(c.epoch)
	c.pollFresh(at)
	c.waiting = append(c.waiting, jobs...)
	if k := min(len(c.waiting), c.maxInFlight-len(c.deadlines.slots)); k > 0 {
		for _, j := range c.waiting[:k] {
			// Each connect's own time, not the round's: its deadline is
			// its timeout after it starts, however long the round takes.
			c.start(j, time.Since(c.epoch))
		}
		rest := copy(c.waiting, c.waiting[k:])
		clear(c.waiting[rest:])
		c.waiting = c.waiting[:rest]
	}
	at = time.Since(c.epoch)
	for {
		n, err := rawEpollPoll(c.epfd, c.events)
		if err == unix.EINTR {
			continue
		}
		for _, ev := range c.events[:max(n, 0)] {
			c.complete(ev.Fd, ev.Pad, ev.Events&unix.EPOLLERR != 0, at)
		}
		if n < len(c.events) {
			break
		}
	}
	c.expire(at)
	return c.finished
}

// close resets the connects in flight and releases the connector.
func (c *connector) close() {
	for slot := range c.pending {
		if c.pending[slot].j != nil {
			c.release(int32(slot))
		}
	}
	unix.Close(c.epfd)
}

// start begins j's connect.
func (c *connector) start(j *job, now time.Duration) {
	j.start = c.epoch.Add(now)
	addr := j.addr.Unmap()
	family, src := unix.AF_INET, j.prober.source.IPv4
	if addr.Is6() {
		family, src = unix.AF_INET6, j.prober.source.IPv6
	}
	fd, err := rawSocket(family)
	if err != nil {
		c.finish(j, failed, c.reason("socket", err), now)
		return
	}
	if src.IsValid() {
		bindNoPort(fd)
		if err := rawBind(fd, src); err != nil {
			reset(fd)
			c.finish(j, failed, c.reason("bind", err), now)
			return
		}
	}
	var zone uint32
	if addr.Zone() != "" {
		zone = zoneID(addr.Zone())
	}
	err = rawConnect(fd, addr, j.prober.check.Port, zone)
	switch err {
	case nil: // connected at once
		reset(fd)
		c.finish(j, passed, "connected", now)
		return
	case unix.EINPROGRESS:
	default:
		reset(fd)
		c.finish(j, failed, c.reason("connect", err), now)
		return
	}
	if len(c.free) == 0 {
		c.free = append(c.free, int32(len(c.pending)))
		c.pending = append(c.pending, pendingConnect{fd: -1})
	}
	slot := c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	p := &c.pending[slot]
	p.j, p.fd, p.gen, p.deadline = j, int32(fd), p.gen+1, now+j.prober.check.Timeout
	c.deadlines.push(c.pending, slot)
	p.fresh = true
	c.fresh = append(c.fresh, freshConnect{slot, p.gen})
}

// pollFresh judges the connects the last round started that have finished,
// with one ppoll, and hands the others to epoll.
func (c *connector) pollFresh(now time.Duration) {
	if len(c.fresh) == 0 {
		return
	}
	live := c.fresh[:0]
	c.polls = c.polls[:0]
	for _, f := range c.fresh {
		if p := &c.pending[f.slot]; p.gen == f.gen && p.j != nil {
			live = append(live, f)
			c.polls = append(c.polls, unix.PollFd{Fd: p.fd, Events: unix.POLLOUT})
		}
	}
	c.fresh = c.fresh[:0]
	if len(live) == 0 {
		return
	}
	if err := rawPoll(c.polls); err != nil {
		// Interrupted by a signal before any was ready, or short of kernel
		// memory: none is judged here, epoll will tell.
		clear(c.polls)
	}
	for i, f := range live {
		p := &c.pending[f.slot]
		p.fresh = false
		if r := c.polls[i].Revents; r != 0 {
			c.complete(f.slot, f.gen, r&unix.POLLERR != 0, now)
			continue
		}
		ev := unix.EpollEvent{Events: unix.EPOLLOUT, Fd: f.slot, Pad: f.gen}
		if err := rawEpollAdd(c.epfd, int(p.fd), &ev); err != nil {
			j := p.j
			c.release(f.slot)
			c.finish(j, failed, c.reason("epoll_ctl", err), now)
		}
	}
}

// complete judges the connect in slot, which ppoll or epoll says is done,
// with a pending error or not. A socket has a pending error exactly when
// it polls POLLERR, so a connect that polls without it has succeeded, and
// only a failed one costs a getsockopt to say why.
func (c *connector) complete(slot, gen int32, pendingErr bool, now time.Duration) {
	p := &c.pending[slot]
	if p.gen != gen || p.j == nil {
		return
	}
	j := p.j
	var soErr unix.Errno
	var err error
	if pendingErr {
		soErr, err = rawSocketError(int(p.fd))
	}
	c.release(slot)
	switch {
	case err != nil:
		c.finish(j, failed, c.reason("getsockopt", err), now)
	case soErr != 0:
		c.finish(j, failed, c.reason("connect", soErr), now)
	default:
		c.finish(j, passed, "connected", now)
	}
}

// expire times out the connects whose deadline has passed: a target that
// never answers the SYN is down at its check's timeout, not at the
// kernel's (about two minutes of SYN retries).
func (c *connector) expire(now time.Duration) {
	for len(c.deadlines.slots) > 0 && c.pending[c.deadlines.slots[0]].deadline <= now {
		slot := c.deadlines.slots[0]
		if c.pending[slot].fresh {
			// Started by this round and not polled yet: a round that ran
			// past the deadline (thousands due at once, a Checker short of
			// CPU) must not time out a connect that has finished.
			c.pollFresh(now)
			continue
		}
		j := c.pending[slot].j
		c.release(slot)
		c.finish(j, timedOut, j.prober.timeoutReason, now)
	}
}

// release resets the slot's connection (closing the socket also takes it
// out of epoll) and frees the slot.
func (c *connector) release(slot int32) {
	p := &c.pending[slot]
	reset(int(p.fd))
	c.deadlines.remove(c.pending, p.index)
	p.j, p.fd, p.fresh = nil, -1, false
	c.free = append(c.free, slot)
}

func (c *connector) finish(j *job, o outcome, reason string, now time.Duration) {
	j.outcome, j.reason, j.duration = o, reason, c.epoch.Add(now).Sub(j.start)
	c.finished = append(c.finished, j)
}

// reason says why a probe failed as the dialer's errors do, without the
// addresses ("connect: connection refused"; see probeError).
func (c *connector) reason(op string, err error) string {
	errno, ok := err.(syscall.Errno)
	if !ok {
		return op + ": " + err.Error()
	}
	k := errReason{op, errno}
	r, ok := c.reasons[k]
	if !ok {
		r = op + ": " + errno.Error()
		c.reasons[k] = r
	}
	return r
}

// zoneID returns the interface index an IPv6 zone names, by name or
// number; 0 when none does, and the connect fails as the dialer's would.
func zoneID(zone string) uint32 {
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	n, _ := strconv.ParseUint(zone, 10, 32)
	return uint32(n)
}

// slotHeap orders the slots in use by deadline; each slot knows its index.
// It is written out rather than built on container/heap, whose interface
// would allocate for every slot pushed.
type slotHeap struct{ slots []int32 }

func (h *slotHeap) push(pending []pendingConnect, slot int32) {
	pending[slot].index = int32(len(h.slots))
	h.slots = append(h.slots, slot)
	h.up(pending, len(h.slots)-1)
}

func (h *slotHeap) remove(pending []pendingConnect, i int32) {
	last := len(h.slots) - 1
	if int(i) != last {
		h.swap(pending, int(i), last)
	}
	h.slots = h.slots[:last]
	if int(i) != last {
		h.down(pending, int(i))
		h.up(pending, int(i))
	}
}

func (h *slotHeap) less(pending []pendingConnect, i, j int) bool {
	return pending[h.slots[i]].deadline < pending[h.slots[j]].deadline
}

func (h *slotHeap) swap(pending []pendingConnect, i, j int) {
	h.slots[i], h.slots[j] = h.slots[j], h.slots[i]
	pending[h.slots[i]].index, pending[h.slots[j]].index = int32(i), int32(j)
}

func (h *slotHeap) up(pending []pendingConnect, i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(pending, i, parent) {
			return
		}
		h.swap(pending, i, parent)
		i = parent
	}
}

func (h *slotHeap) down(pending []pendingConnect, i int) {
	for {
		least := i
		for _, child := range []int{2*i + 1, 2*i + 2} {
			if child < len(h.slots) && h.less(pending, child, least) {
				least = child
			}
		}
		if least == i {
			return
		}
		h.swap(pending, i, least)
		i = least
	}
}
