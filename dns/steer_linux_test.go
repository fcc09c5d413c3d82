package dns

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestFirstCPUs(t *testing.T) {
	set := func(cpus ...int) *unix.CPUSet {
		var s unix.CPUSet
		for _, c := range cpus {
			s.Set(c)
		}
		return &s
	}
	for _, tc := range []struct {
		set  *unix.CPUSet
		n    int
		want bool
	}{
		{set(0, 1), 2, true},
		{set(0, 1, 2, 3), 2, true}, // CPUs 2 and 3 fall back to the hash
		{set(0, 1), 3, false},      // no CPU 2 for the third socket
		{set(2, 3), 2, false},      // a cpuset without CPUs 0 and 1
		{set(0, 2), 2, false},
		{set(0, 1), 1, false}, // one socket: nothing to steer
	} {
		if got := firstCPUs(tc.set, tc.n); got != tc.want {
			t.Errorf("firstCPUs(%d CPUs, %d) = %v, want %v", tc.set.Count(), tc.n, got, tc.want)
		}
	}
}

// needTwoCPUs fails the test on a machine where steering cannot be shown.
func needTwoCPUs(t *testing.T) {
	t.Helper()
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil || !firstCPUs(&allowed, 2) {
		t.Fatalf("this test needs CPUs 0 and 1 (allowed: %d CPUs, %v)", allowed.Count(), err)
	}
}

// TestSteerByCPU binds a group of two sockets without readers, steers it,
// and sends one packet from CPU 0 and one from CPU 1 through the same
// client socket: each must land in the socket with its CPU's index. By the
// kernel's hash alone both would land in the same socket.
func TestSteerByCPU(t *testing.T) {
	needTwoCPUs(t)
	udps, ln, err := bindAll("127.0.0.1:0", 2)
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
	for i, u := range udps {
		if u.cpu != i {
			t.Errorf("socket %d marked for CPU %d", i, u.cpu)
		}
	}
	c, err := net.Dial("udp", udps[0].localAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for cpu := range 2 {
		sendFromCPU(t, c, cpu, byte(cpu))
		for i, u := range udps {
			var b [8]byte
			n, _, err := unix.Recvfrom(u.fd, b[:], unix.MSG_DONTWAIT)
			switch got := err == nil && n == 1 && b[0] == byte(cpu); {
			case i == cpu && !got:
				t.Errorf("the packet sent from CPU %d is not in socket %d: %d bytes, %v", cpu, i, n, err)
			case i != cpu && err == nil:
				t.Errorf("socket %d got a packet sent from CPU %d", i, cpu)
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

// TestReadersKeepTheirCPU: with two sockets steered, one reader thread runs
// on CPU 0 only and one on CPU 1 only; after Shutdown neither thread is
// left in the process, so no thread with a narrowed affinity goes back to
// the runtime.
func TestReadersKeepTheirCPU(t *testing.T) {
	needTwoCPUs(t)
	before := pinnedThreads(t)
	s, err := Listen(ServerConfig{Handler: newTestHandler(t, testConf), Addrs: []string{"127.0.0.1:0"}, UDPSockets: 2})
	if err != nil {
		t.Fatal(err)
	}
	waitPinned(t, "while serving", func(n map[string]int) bool {
		return n["0"] == before["0"]+1 && n["1"] == before["1"]+1
	}, before)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitPinned(t, "after Shutdown", func(n map[string]int) bool {
		return n["0"] == before["0"] && n["1"] == before["1"]
	}, before)
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
	t.Errorf("threads allowed on CPU 0 or 1 alone %s: %v (before Listen: %v)", when, n, before)
}

// pinnedThreads counts this process's threads by their allowed CPUs
// (Cpus_allowed_list), for threads allowed on "0" or "1" alone.
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
				if v = strings.TrimSpace(v); v == "0" || v == "1" {
					n[v]++
				}
			}
		}
	}
	return n
}
