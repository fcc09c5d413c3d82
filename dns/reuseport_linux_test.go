package dns

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

func TestCPUList(t *testing.T) {
	var set unix.CPUSet
	for _, c := range []int{5, 0, 63, 2} {
		set.Set(c)
	}
	if got := cpuList(&set); !slices.Equal(got, []int{0, 2, 5, 63}) {
		t.Errorf("cpuList = %v", got)
	}
}

// TestSteeringProgram runs the program on a small classic BPF interpreter
// (the instructions it uses) for each CPU: steering by CPU alone, and with
// one CPU's packets spread by message ID.
func TestSteeringProgram(t *testing.T) {
	prog := steeringProgram([]int{3, 7, 8}, -1)
	want := map[uint32]uint32{3: 0, 7: 1, 8: 2, 0: math.MaxUint32, 4: math.MaxUint32, 9: math.MaxUint32}
	for cpu, idx := range want {
		if got := runSteering(t, prog, cpu, []byte{0, 4}); got != idx {
			t.Errorf("packet received on CPU %d: socket %d, want %d", cpu, got, idx)
		}
	}
	prog = steeringProgram([]int{3, 7, 8}, 1) // CPU 7's packets spread
	for _, c := range []struct {
		cpu  uint32
		id   uint16
		want uint32
	}{{7, 0, 0}, {7, 1, 1}, {7, 2, 2}, {7, 3, 0}, {7, 0x1234, 0x1234 % 3}, {3, 1, 0}, {8, 0, 2}, {4, 1, math.MaxUint32}} {
		if got := runSteering(t, prog, c.cpu, []byte{byte(c.id >> 8), byte(c.id), 0, 0}); got != c.want {
			t.Errorf("CPU 7 spread: a packet with ID %#x received on CPU %d: socket %d, want %d", c.id, c.cpu, got, c.want)
		}
	}
	if got := runSteering(t, prog, 7, []byte{1}); got != 0 {
		t.Errorf("CPU 7 spread: a 1-byte packet: socket %d, want 0 (the kernel returns 0 for a load past the end)", got)
	}
}

// runSteering interprets prog for a UDP payload received on cpu.
func runSteering(t *testing.T, prog []unix.SockFilter, cpu uint32, payload []byte) uint32 {
	t.Helper()
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		switch in := prog[pc]; in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if in.K != skfAdOff+skfAdCPU {
				t.Fatalf("load of %#x, not the CPU", in.K)
			}
			a = cpu
		case unix.BPF_LD | unix.BPF_H | unix.BPF_ABS:
			if int(in.K)+2 > len(payload) {
				return 0
			}
			a = uint32(payload[in.K])<<8 | uint32(payload[in.K+1])
		case unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K:
			a %= in.K
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if a == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		case unix.BPF_RET | unix.BPF_A:
			return a
		default:
			t.Fatalf("instruction %d: unexpected code %#x", pc, in.Code)
		}
	}
	t.Fatal("the program ends without returning")
	return 0
}

// steerableCPUs returns the CPUs this process may run on; with fewer than
// two there is nothing to steer, and the test is skipped, saying so.
// steeredGroup binds a group of one socket per CPU of cpus, without
// readers, and steers it by CPU; the sockets close when the test ends.
func steeredGroup(t *testing.T, cpus []int) ([]*udpSocket, *steerer) {
	t.Helper()
	udps, ln, err := bindAll("127.0.0.1:0", len(cpus))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ln.Close()
		for _, u := range udps {
			u.close()
		}
	})
	g, err := steerByCPU(udps)
	if g == nil || err != nil {
		t.Fatalf("steerByCPU = %v, %v", g, err)
	}
	return udps, g
}

func steerableCPUs(t *testing.T) []int {
	t.Helper()
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Fatal(err)
	}
	cpus := cpuList(&allowed)
	if len(cpus) < 2 {
		t.Skipf("steering by CPU needs two CPUs or more; this process may run on %v only", cpus)
	}
	return cpus
}

// TestListenRefusesAPortInUse: a port where another program's socket
// listens, even one that allows sharing (SO_REUSEPORT), is an error, not a
// port shared with that program. For port 0 the same rule keeps the
// kernel from picking such a port.
func TestListenRefusesAPortInUse(t *testing.T) {
	other, err := (&net.ListenConfig{Control: reusePort}).ListenPacket(t.Context(), "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, n := range []int{1, 2} {
		s, err := Listen(ServerConfig{Handler: newTestHandler(t, testConf), Addrs: []string{other.LocalAddr().String()}, UDPSockets: n})
		if err == nil {
			s.Shutdown(t.Context())
			t.Errorf("%d sockets: Listen on %s, where another socket listens, succeeded", n, other.LocalAddr())
		} else if !errors.Is(err, unix.EADDRINUSE) {
			t.Errorf("%d sockets: %v, want address in use", n, err)
		}
	}
}

// TestSteerByCPU binds a group of one socket per CPU without readers,
// steers it, and sends one packet from each CPU through the same client
// socket: each must land in its CPU's socket. By the kernel's hash alone
// they would all land in one socket.
func TestSteerByCPU(t *testing.T) {
	cpus := steerableCPUs(t)
	udps, _ := steeredGroup(t, cpus)
	c, err := net.Dial("udp", udps[0].localAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, cpu := range cpus {
		sendFromCPU(t, c, cpu, []byte{byte(i)})
		for j, u := range udps {
			var b [8]byte
			n, _, err := unix.Recvfrom(u.fd, b[:], unix.MSG_DONTWAIT)
			switch got := err == nil && n == 1 && b[0] == byte(i); {
			case j == i && !got:
				t.Errorf("the packet sent from CPU %d is not in socket %d: %d bytes, %v", cpu, j, n, err)
			case j != i && err == nil:
				t.Errorf("socket %d got the packet sent from CPU %d", j, cpu)
			}
		}
	}
}

// sendFromCPU writes b through c from a thread that runs on cpu only.
func sendFromCPU(t *testing.T, c net.Conn, cpu int, b []byte) {
	t.Helper()
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // not unlocked: the pinned thread ends with the goroutine
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			done <- err
			return
		}
		_, err := c.Write(b)
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestReadersMayRunOnAnyCPU: with one socket per CPU, steered by CPU, the
// readers' threads may still run on every CPU the process may: when the
// load arrives on one CPU, the scheduler moves that socket's reader to a
// CPU with room (a reader kept on its CPU shares it with the sender). And
// they answer, and end after Shutdown.
func TestReadersMayRunOnAnyCPU(t *testing.T) {
	cpus := steerableCPUs(t)
	s, err := Listen(ServerConfig{Handler: newTestHandler(t, testConf), Addrs: []string{"127.0.0.1:0"}, UDPSockets: len(cpus)})
	if err != nil {
		t.Fatal(err)
	}
	var readers []int
	waitFor(t, "a thread for each reader", func() bool {
		readers = readers[:0]
		for _, u := range s.udp {
			if tid := int(u.tid.Load()); tid > 0 {
				readers = append(readers, tid)
			}
		}
		return len(readers) == len(cpus)
	})
	for _, tid := range readers {
		var allowed unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &allowed); err != nil {
			t.Fatal(err)
		}
		if got := cpuList(&allowed); !slices.Equal(got, cpus) {
			t.Errorf("reader thread %d may run on CPUs %v, want all of the process's: %v", tid, got, cpus)
		}
	}
	c, err := net.Dial("udp", s.udp[0].localAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, _ := testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg().Pack()
	for _, cpu := range cpus {
		sendFromCPU(t, c, cpu, q)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 4096)
		n, err := c.Read(b)
		var r mdns.Msg
		if err == nil {
			err = r.Unpack(b[:n])
		}
		if err != nil || r.Rcode != mdns.RcodeSuccess || len(r.Answer) == 0 {
			t.Errorf("query sent from CPU %d: %v, rcode %d, %d answers", cpu, err, r.Rcode, len(r.Answer))
		}
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the readers' threads to end", func() bool {
		for _, tid := range readers {
			if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid)); err == nil && tid != os.Getpid() {
				return false
			}
		}
		return true
	})
}

// waitFor waits up to 5 s for ok: threads start and end a moment after the
// goroutines that run on them.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5 s for %s; the process's threads: %v", what, threads(t))
		}
	}
}

// threads returns the threads of this process, with the CPUs each may
// run on (Cpus_allowed_list).
func threads(t *testing.T) map[int]string {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		t.Fatal(err)
	}
	all := map[int]string{}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		tid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				all[tid] = strings.TrimSpace(v)
			}
		}
	}
	return all
}

// TestSpreadByMessageID: with the first CPU's packets spread, packets sent
// from that CPU through one client socket (one flow, which the kernel's
// hash would keep in one socket) land in the socket their DNS message ID
// picks, and a packet from another CPU still in that CPU's socket.
func TestSpreadByMessageID(t *testing.T) {
	cpus := steerableCPUs(t)
	udps, g := steeredGroup(t, cpus)
	if err := g.attach(0); err != nil {
		t.Fatalf("attaching the program that spreads CPU %d: %v", cpus[0], err)
	}
	c, err := net.Dial("udp", udps[0].localAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	expect := func(from, want int, p []byte) {
		t.Helper()
		for j, u := range udps {
			var b [8]byte
			n, _, err := unix.Recvfrom(u.fd, b[:], unix.MSG_DONTWAIT)
			switch got := err == nil && n == len(p) && b[1] == p[1]; {
			case j == want && !got:
				t.Errorf("the packet %x sent from CPU %d is not in socket %d: %d bytes, %v", p, from, j, n, err)
			case j != want && err == nil:
				t.Errorf("socket %d got the packet %x sent from CPU %d, want socket %d", j, p, from, want)
			}
		}
	}
	for id := range 2 * len(cpus) {
		p := []byte{0, byte(id), 1, 0}
		sendFromCPU(t, c, cpus[0], p)
		expect(cpus[0], id%len(cpus), p)
	}
	p := []byte{0, 0, 1, 0} // ID 0 would pick socket 0; from CPU 1, it goes to socket 1
	sendFromCPU(t, c, cpus[1], p)
	expect(cpus[1], 1, p)
}

// TestOneCPUSenderIsSpread: a client whose packets all arrive on one CPU
// (it sends from a thread that may run there alone, and loopback delivers
// on the sending CPU) at first has them all read by that CPU's reader;
// the server notices and spreads them, and another reader reads some. The
// server is told to decide on the packets' shares alone: whether the
// reader falls behind and the other CPUs are idle depends on the machine
// (busy with other tests, or not), and nextSteering's tests cover those.
// The sender stops as soon as another reader has read packets, or after
// 30 s.
func TestOneCPUSenderIsSpread(t *testing.T) {
	cpus := steerableCPUs(t)
	s := startServer(t, ServerConfig{UDPSockets: len(cpus), steerByShare: true})
	c, err := net.Dial("udp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, _ := testQuery{name: "www.gslb.example.com.", qtype: mdns.TypeA, edns: 0}.msg().Pack()
	spread := func() bool {
		for _, n := range s.udpPackets()[1:] {
			if n >= 100 {
				return true
			}
		}
		return false
	}
	sent := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the pinned thread ends with the goroutine
		var set unix.CPUSet
		set.Set(cpus[0])
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			sent <- err
			return
		}
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
			for id := range 1000 {
				q[0], q[1] = byte(id>>8), byte(id)
				c.Write(q) // a full buffer drops it; the next goes on
			}
			if spread() {
				sent <- nil
				return
			}
		}
		sent <- fmt.Errorf("no other reader read packets sent from CPU %d in 30 s; packets read by socket: %v", cpus[0], s.udpPackets())
	}()
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	t.Logf("packets read by socket: %v", s.udpPackets())
}
