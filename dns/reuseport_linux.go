package dns

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortSupported: Linux spreads the packets of one port over several
// sockets (SO_REUSEPORT), so that each CPU reads its own.
const reusePortSupported = true

func reusePort(network, address string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); cerr != nil {
		return cerr
	}
	return err
}

// steerByCPU makes the kernel hand each packet to the socket whose index is
// the CPU that received it, and marks socket i for CPU i, where its reader
// will run: a query is then read, answered and sent on the CPU that took it
// in, and no other CPU has to be woken for it. C servers steer the same
// way. Packets taken in by CPUs beyond the sockets fall back to the
// kernel's hash of the flow. It steers only when there are two sockets or
// more and the process may run on CPUs 0 to len(udps)-1 (no cpuset that
// leaves them out); otherwise it leaves the hash alone and reports false.
func steerByCPU(udps []*udpSocket) (bool, error) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil || !firstCPUs(&allowed, len(udps)) {
		return false, err
	}
	prog := [...]unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdOff + skfAdCPU}, // A = the receiving CPU
		{Code: unix.BPF_RET | unix.BPF_A},                                       // the socket with that index
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(udps[0].fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fprog); err != nil {
		return false, err
	}
	for i, u := range udps {
		u.cpu = i
	}
	return true, nil
}

// The classic BPF load offset of the receiving CPU (linux/filter.h).
const (
	skfAdOff = 0xfffff000 // SKF_AD_OFF, -0x1000
	skfAdCPU = 36         // SKF_AD_CPU
)

// firstCPUs reports whether n ≥ 2 and CPUs 0 to n-1 are all in set.
func firstCPUs(set *unix.CPUSet, n int) bool {
	if n < 2 {
		return false
	}
	for i := range n {
		if !set.IsSet(i) {
			return false
		}
	}
	return true
}
