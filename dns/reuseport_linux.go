package dns

import (
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

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
// that received it: while that CPU has room, the scheduler wakes the
// socket's reader there, and a query is read, answered and sent on the CPU
// that took it in (the kernel's self-test reuseport_bpf_cpu.c shows the
// same use). It steers only when there is one socket for each CPU the
// process may run on (two or more); otherwise, say with fewer sockets than
// CPUs in a container limited by CPU time, it leaves the kernel's hash of
// the flow alone and returns nil. The steerer it returns spreads the
// packets of a CPU that receives most of them (steer.go).
func steerByCPU(udps []*udpSocket) (*steerer, error) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return nil, err
	}
	cpus := cpuList(&allowed)
	if len(udps) < 2 || len(cpus) != len(udps) {
		return nil, nil
	}
	g := newSteerer(udps, cpus)
	if err := g.attach(-1); err != nil {
		return nil, err
	}
	return g, nil
}

// steerer is the steering of one SO_REUSEPORT group (one listen address).
// Only the server's steering goroutine uses it.
type steerer struct {
	udps      []*udpSocket
	cpus      []int
	spreading int  // the socket whose CPU's packets are spread, or -1
	byShare   bool // decide on the packets' shares alone (tests): every reader behind, every room unknown

	// At the last tick: each socket's packets and reads, each CPU's idle
	// time (USER_HZ ticks) and its reader's run time (ns), and when.
	last   struct{ packets, reads, idle, ran []uint64 }
	lastAt time.Time
	sample steerSample
}

func newSteerer(udps []*udpSocket, cpus []int) *steerer {
	n := len(udps)
	g := &steerer{udps: udps, cpus: cpus, spreading: -1, lastAt: time.Now()}
	g.last.packets, g.last.reads, g.last.idle, g.last.ran = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
	g.sample = steerSample{packets: make([]uint64, n), reads: make([]uint64, n), room: make([]float64, n)}
	return g
}

// tick decides the steering from what happened since the last tick, and
// replaces the group's program when the decision changes. It returns the
// socket now spread (or -1) and whether that changed.
func (g *steerer) tick() (spreading int, changed bool, err error) {
	g.measure()
	next := nextSteering(g.spreading, g.sample)
	if next == g.spreading {
		return next, false, nil
	}
	if err := g.attach(next); err != nil {
		return g.spreading, false, err
	}
	g.spreading = next
	return next, true, nil
}

// measure fills g.sample: the packets and reads of each socket since the
// last tick from its counters, and each CPU's room from the kernel's idle
// time of the CPU (/proc/stat) plus the run time of the socket's reader
// thread (/proc/self/task/TID/schedstat); -1 where those cannot be read.
func (g *steerer) measure() {
	now := time.Now()
	elapsed := now.Sub(g.lastAt)
	g.lastAt = now
	idle := cpuIdle(g.cpus)
	for i, u := range g.udps {
		p, r := u.packets.Load(), u.reads.Load()
		g.sample.packets[i], g.last.packets[i] = p-g.last.packets[i], p
		g.sample.reads[i], g.last.reads[i] = r-g.last.reads[i], r
		if g.byShare && g.sample.packets[i] > 0 {
			g.sample.reads[i] = 1
		}
		ran, ok := threadRan(int(u.tid.Load()))
		if idle == nil || !ok || elapsed <= 0 || g.byShare {
			g.sample.room[i] = -1
			continue
		}
		busyFree := time.Duration(idle[i]-g.last.idle[i])*userHZ + time.Duration(ran-g.last.ran[i])
		g.sample.room[i] = min(1, float64(busyFree)/float64(elapsed))
		if g.last.idle[i] == 0 || g.last.ran[i] == 0 {
			g.sample.room[i] = -1 // the first interval: nothing to subtract yet
		}
		g.last.idle[i], g.last.ran[i] = idle[i], ran
	}
}

// userHZ is the unit of /proc/stat's times (USER_HZ, 100 on Linux).
const userHZ = 10 * time.Millisecond

// cpuIdle returns the idle and iowait time of each of cpus (USER_HZ
// ticks since boot) from /proc/stat, or nil.
func cpuIdle(cpus []int) []uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	idle := make([]uint64, len(cpus))
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		c, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		i := slices.Index(cpus, c)
		if i < 0 {
			continue
		}
		id, err1 := strconv.ParseUint(f[4], 10, 64)
		wait, err2 := strconv.ParseUint(f[5], 10, 64)
		if err1 != nil || err2 != nil {
			return nil
		}
		idle[i] = id + wait
		found++
	}
	if found != len(cpus) {
		return nil
	}
	return idle
}

// threadRan returns how long thread tid of this process has run (ns).
func threadRan(tid int) (uint64, bool) {
	if tid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/schedstat")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	ns, err := strconv.ParseUint(f[0], 10, 64)
	return ns, err == nil
}

// attach gives the group the program that steers by CPU, spreading the
// packets of socket spreading's CPU (none: -1). Attaching a program to a
// socket of the group replaces the group's program, atomically for the
// packets: each goes through the old program or the new.
func (g *steerer) attach(spreading int) error {
	prog := steeringProgram(g.cpus, spreading)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	err := error(unix.EBADF)
	for _, u := range g.udps { // the first still open: any of the group will do
		u.mu.Lock()
		if u.fd >= 0 {
			err = unix.SetsockoptSockFprog(u.fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fprog)
		}
		u.mu.Unlock()
		if err != unix.EBADF {
			break
		}
	}
	return err
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
// With spreading >= 0, a packet received on cpus[spreading] goes to the
// socket its DNS message ID picks (ID modulo the sockets; the kernel runs
// the program with the packet's data at the UDP payload): queries of one
// client flow are spread too, where the kernel's hash of the flow would
// keep them in one socket.
func steeringProgram(cpus []int, spreading int) []unix.SockFilter {
	prog := []unix.SockFilter{{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdOff + skfAdCPU}} // A = the receiving CPU
	if spreading >= 0 {
		prog = append(prog,
			unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(cpus[spreading]), Jf: 3}, // A == the busy CPU, else skip the spread
			unix.SockFilter{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 0},                               // A = the message ID (a packet too short returns 0)
			unix.SockFilter{Code: unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K, K: uint32(len(cpus))},              // A %= sockets
			unix.SockFilter{Code: unix.BPF_RET | unix.BPF_A})
	}
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
