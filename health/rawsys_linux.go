package health

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The connector's system calls, made raw: none of them blocks (the sockets
// are non-blocking, the epoll waits do not wait, a reset closes at once),
// and a raw call keeps the goroutine's P, where golang.org/x/sys/unix's
// would hand it to the runtime's monitor for each call that lasts longer
// than 20 µs, as a loopback connect does: at ten thousand probes a second
// that hand-over and the monitor's wake-ups cost more than the calls.

func rawSocket(family int) (int, error) {
	fd, _, errno := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// rawConnect starts a connect to addr:port; zone is the interface index of
// an IPv6 link-local address.
func rawConnect(fd int, addr netip.Addr, port uint16, zone uint32) error {
	return rawAddrCall(unix.SYS_CONNECT, fd, addr, port, zone)
}

// rawBind binds the socket to addr, its port left to connect.
func rawBind(fd int, addr netip.Addr) error {
	return rawAddrCall(unix.SYS_BIND, fd, addr, 0, 0)
}

// rawAddrCall makes a call (connect, bind) that takes a socket address.
func rawAddrCall(trap uintptr, fd int, addr netip.Addr, port uint16, zone uint32) error {
	var errno unix.Errno
	if addr.Is4() {
		sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: addr.As4()}
		bigEndian(&sa.Port, port)
		_, _, errno = unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet4)
	} else {
		sa := unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: addr.As16(), Scope_id: zone}
		bigEndian(&sa.Port, port)
		_, _, errno = unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet6)
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// bindNoPort has the port of a bound socket picked at connect, by the
// whole 4-tuple, as without a bind: bind alone would take a port of the
// source's range for each probe in flight.
func bindNoPort(fd int) {
	one := int32(1)
	unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT,
		uintptr(unsafe.Pointer(&one)), unsafe.Sizeof(one), 0)
}

func bigEndian(field *uint16, v uint16) {
	b := (*[2]byte)(unsafe.Pointer(field))
	b[0], b[1] = byte(v>>8), byte(v)
}

// rawSocketError returns the socket's pending error (SO_ERROR): how its
// connect ended.
func rawSocketError(fd int) (unix.Errno, error) {
	var v int32
	n := uint32(unsafe.Sizeof(v))
	_, _, errno := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_ERROR,
		uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 {
		return 0, errno
	}
	return unix.Errno(v), nil
}

// linger0 makes close reset the connection: no FIN exchange, no TIME_WAIT
// on the prober, no ephemeral port held for a minute per probe.
var linger0 = unix.Linger{Onoff: 1, Linger: 0}

// reset closes the socket with a reset; closing also takes it out of epoll.
func reset(fd int) {
	unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_LINGER,
		uintptr(unsafe.Pointer(&linger0)), unsafe.Sizeof(linger0), 0)
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

func rawEpollAdd(epfd, fd int, ev *unix.EpollEvent) error {
	_, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), unix.EPOLL_CTL_ADD, uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// rawEpollPoll returns the events ready now, without waiting.
func rawEpollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// rawPoll polls fds for what they are waiting for, without waiting.
func rawPoll(fds []unix.PollFd) error {
	var zero unix.Timespec
	_, _, errno := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)),
		uintptr(unsafe.Pointer(&zero)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
