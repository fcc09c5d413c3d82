package dns

import (
	"context"
	"maps"
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
// (the three instructions it uses) for each CPU.
func TestSteeringProgram(t *testing.T) {
	prog := steeringProgram([]int{3, 7, 8})
	want := map[uint32]uint32{3: 0, 7: 1, 8: 2, 0: math.MaxUint32, 4: math.MaxUint32, 9: math.MaxUint32}
	for cpu, idx := range want {
		if got := runSteering(t, prog, cpu); got != idx {
			t.Errorf("packet received on CPU %d: socket %d, want %d", cpu, got, idx)
		}
	}
}

func runSteering(t *testing.T, prog []unix.SockFilter, cpu uint32) uint32 {
	t.Helper()
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		switch in := prog[pc]; in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if in.K != skfAdOff+skfAdCPU {
				t.Fatalf("load of %#x, not the CPU", in.K)
			}
			a = cpu
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if a == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("instruction %d: unexpected code %#x", pc, in.Code)
		}
	}
	t.Fatal("the program ends without returning")
	return 0
}

// steerableCPUs returns the CPUs this process may run on; with fewer than
// two there is nothing to steer, and the test is skipped, saying so.
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

// TestSteerByCPU binds a group of one socket per CPU without readers,
// steers it, and sends one packet from each CPU through the same client
// socket: each must land in its CPU's socket. By the kernel's hash alone
// they would all land in one socket.
func TestSteerByCPU(t *testing.T) {
	cpus := steerableCPUs(t)
	udps, ln, err := bindAll("127.0.0.1:0", len(cpus))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, u := range udps {
		defer u.close()
	}
	if ok, err := steerByCPU(udps); !ok || err != nil {
		t.Fatalf("steerByCPU = %v, %v", ok, err)
	}
	c, err := net.Dial("udp", udps[0].localAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, cpu := range cpus {
		if udps[i].cpu != cpu {
			t.Errorf("socket %d marked for CPU %d, want %d", i, udps[i].cpu, cpu)
		}
		sendFromCPU(t, c, cpu, byte(i))
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
func sendFromCPU(t *testing.T, c net.Conn, cpu int, b byte) {
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
		_, err := c.Write([]byte{b})
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestReadersKeepTheirCPU: with one socket per CPU, steered, each CPU gets
// one reader thread that runs on it alone; after Shutdown none of them is
// left in the process, so no thread with a narrowed affinity goes back to
// the runtime.
func TestReadersKeepTheirCPU(t *testing.T) {
	cpus := steerableCPUs(t)
	before := pinnedThreads(t)
	s, err := Listen(ServerConfig{Handler: newTestHandler(t, testConf), Addrs: []string{"127.0.0.1:0"}, UDPSockets: len(cpus)})
	if err != nil {
		t.Fatal(err)
	}
	waitPinned(t, "while serving", func(n map[string]int) bool {
		for _, c := range cpus {
			if k := strconv.Itoa(c); n[k] != before[k]+1 {
				return false
			}
		}
		return true
	}, before)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitPinned(t, "after Shutdown", func(n map[string]int) bool { return maps.Equal(n, before) }, before)
}

// waitPinned waits up to 5 s for pinnedThreads to satisfy ok: threads
// start and end a moment after the goroutines that run on them.
func waitPinned(t *testing.T, when string, ok func(map[string]int) bool, before map[string]int) {
	t.Helper()
	var n map[string]int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n = pinnedThreads(t); ok(n) {
			return
		}
	}
	t.Errorf("threads allowed on one CPU alone %s, by CPU: %v (before Listen: %v)", when, n, before)
}

// pinnedThreads counts this process's threads that may run on one CPU
// alone (Cpus_allowed_list), by that CPU.
func pinnedThreads(t *testing.T) map[string]int {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				if v = strings.TrimSpace(v); !strings.ContainsAny(v, ",-") {
					n[v]++
				}
			}
		}
	}
	return n
}
