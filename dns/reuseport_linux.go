package dns

import (
	"math"
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

// sharePort lets other sockets bind u's address and port (SO_REUSEPORT),
// after u has bound it alone.
func (u *udpSocket) sharePort() error {
	return unix.SetsockoptInt(u.fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}

// steerByCPU makes the kernel hand each packet to the socket of the CPU
// that received it, and marks each socket with its CPU, where its reader
// will run: a query is then read, answered and sent on the CPU that took it
// in, and no other CPU has to be woken for it (the kernel's self-test
// reuseport_bpf_cpu.c shows the same use). It steers only when there is
// one socket for each CPU the process may run on (two or more); otherwise,
// say with fewer sockets than CPUs in a container limited by CPU time,
// pinned readers would crowd a few CPUs, so it leaves the kernel's hash of
// the flow alone and reports false.
func steerByCPU(udps []*udpSocket) (bool, error) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return false, err
	}
	cpus := cpuList(&allowed)
	if len(udps) < 2 || len(cpus) != len(udps) {
		return false, nil
	}
	prog := steeringProgram(cpus)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(udps[0].fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fprog); err != nil {
		return false, err
	}
	for i, u := range udps {
		u.cpu = cpus[i]
	}
	return true, nil
}

// cpuList returns the CPUs in set, lowest first.
func cpuList(set *unix.CPUSet) []int {
	var cpus []int
	for c := 0; len(cpus) < set.Count(); c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// steeringProgram is the classic BPF program that picks a socket of a
// SO_REUSEPORT group: the index i for a packet received on cpus[i], else
// an index past the group, for which the kernel falls back to its hash.
func steeringProgram(cpus []int) []unix.SockFilter {
	prog := []unix.SockFilter{{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdOff + skfAdCPU}} // A = the receiving CPU
	for i, c := range cpus {
		prog = append(prog,
			unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(c), Jf: 1}, // A == c, else skip the return
			unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: uint32(i)})
	}
	return append(prog, unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: math.MaxUint32})
}

// The classic BPF load offset of the receiving CPU (linux/filter.h).
const (
	skfAdOff = 0xfffff000 // SKF_AD_OFF, -0x1000
	skfAdCPU = 36         // SKF_AD_CPU
)
