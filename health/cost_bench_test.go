package health

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/meridian-gtm/meridian/model"
)

// BenchmarkProberCost probes 10,000 targets (100 services x 100 loopback
// addresses) at a 1 s interval for benchWindow, with the servers in a
// process of their own (bench/health/targets), and reports the prober's
// own CPU (this process's user and system time, in cores), its
// allocations per probe, its goroutines, the servers' CPU, and the probes
// that did not pass (a server starved of CPU may answer a probe late).
// Every target must be up at the end: the load must not make a healthy
// target look down. It runs once
// whatever b.N is; run it with -benchtime 1x (bench/health/run.sh).
//
// tcp/dial is the TCP probe of a goroutine and a net.Dialer each (non-Linux
// builds, and every build before issue 21); tcp/batch the batched connects
// of one goroutine.
func BenchmarkProberCost(b *testing.B) {
	for _, tc := range benchProbeKinds {
		b.Run(tc.name, func(b *testing.B) { benchProberCost(b, tc.kind, tc.dialEach) })
	}
}

func benchProberCost(b *testing.B, kind string, dialEach bool) {
	servers := startTargets(b, kind, 100, 100)
	checks := map[string]Check{}
	var backends []model.Backend
	for i, port := range servers.Ports {
		name := fmt.Sprintf("s%d.example.org", i)
		checks[name] = Check{Kind: kind, Port: uint16(port), Path: "/", Method: "GET", Host: name,
			Expect: []StatusRange{{Low: 200, High: 399}}, Interval: time.Second, Timeout: time.Second,
			Jitter: 100 * time.Millisecond, Rise: 2, Fall: 3}
		backends = append(backends, model.Backend{Service: name, Cluster: "c", Ingress: servers.addrs, ReadyPods: 3})
	}
	targets := len(servers.Ports) * len(servers.addrs)

	reg := prometheus.NewRegistry()
	var last atomic.Pointer[model.Health]
	c := New(Config{Checks: checks, Workers: 512, Metrics: NewMetrics(reg), dialEach: dialEach,
		Publish: func(h model.Health) { last.Store(&h) }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	c.SetInventory(model.NewInventory(nil, backends))

	time.Sleep(benchWarmUp)
	before := probeCounts(b, reg)
	var memBefore, memAfter runtime.MemStats
	runtime.ReadMemStats(&memBefore)
	cpuBefore, serverBefore, machineBefore := cpuTime(), servers.cpu(b), readMachineCPU(b)
	start := time.Now()
	b.ResetTimer()
	time.Sleep(benchWindow)
	b.StopTimer()
	cpu, serverCPU := cpuTime()-cpuBefore, servers.cpu(b)-serverBefore
	machine := readMachineCPU(b)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&memAfter)
	goroutines := runtime.NumGoroutine()
	after := probeCounts(b, reg)
	cancel()
	<-done

	probes := after["ok"] + after["fail"] + after["timeout"] - before["ok"] - before["fail"] - before["timeout"]
	b.ReportMetric(float64(probes)/elapsed.Seconds(), "probes/s")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cores")
	// The CPU a probe costs holds better than cores on a loaded machine,
	// where a starved prober makes fewer probes than its targets ask for.
	b.ReportMetric(float64(cpu.Microseconds())/float64(probes), "cpu-us/probe")
	b.ReportMetric(serverCPU.Seconds()/elapsed.Seconds(), "server-cores")
	b.ReportMetric(float64(memAfter.Mallocs-memBefore.Mallocs)/float64(probes), "allocs/probe")
	b.ReportMetric(float64(memAfter.TotalAlloc-memBefore.TotalAlloc)/float64(probes), "B/probe")
	b.ReportMetric(float64(goroutines), "goroutines")
	machine.report(b, machineBefore, elapsed)
	b.ReportMetric(after["fail"]-before["fail"], "failed")
	b.ReportMetric(after["timeout"]-before["timeout"], "timed-out")
	up := 0
	if h := last.Load(); h != nil {
		for name := range checks {
			for _, v := range h.Of(name) {
				if v.State == model.Up {
					up++
				}
			}
		}
	}
	b.ReportMetric(float64(targets-up), "not-up")
	if up != targets {
		b.Errorf("%d of %d targets up at the end; %v probes failed and %v timed out in the window",
			up, targets, after["fail"]-before["fail"], after["timeout"]-before["timeout"])
	}
}

// probeCounts returns meridian_health_probes_total by result.
func probeCounts(b *testing.B, reg *prometheus.Registry) map[string]float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	counts := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "meridian_health_probes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			counts[labelOf(m, "result")] += m.GetCounter().GetValue()
		}
	}
	return counts
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// targetServers is the bench/health/targets process.
type targetServers struct {
	Addrs []string `json:"addrs"`
	Ports []int    `json:"ports"`
	addrs []netip.Addr
	pid   int
}

// startTargets builds and starts bench/health/targets, serving kind on
// services ports of addrs addresses, and stops it when b ends.
//
// HEALTH_BENCH_TARGETS_WRAP is a command line the targets run under (for
// bench/health/run.sh's NETNS mode, "ip netns exec NS taskset -c 1": a
// namespace of their own behind a veth pair, on the other CPU); it must
// exec the targets, not fork them, so that their PID is the command's.
// HEALTH_BENCH_TARGETS_PREFIX is the first two bytes of their addresses
// (127.1 by default: loopback).
func startTargets(b *testing.B, kind string, services, addrs int) *targetServers {
	bin := filepath.Join(b.TempDir(), "targets")
	if out, err := exec.Command("go", "build", "-o", bin, "../bench/health/targets").CombinedOutput(); err != nil {
		b.Fatalf("building the target servers: %v\n%s", err, out)
	}
	args := strings.Fields(os.Getenv("HEALTH_BENCH_TARGETS_WRAP"))
	args = append(args, bin, "-kind", kind, "-services", strconv.Itoa(services), "-addrs", strconv.Itoa(addrs))
	if prefix := os.Getenv("HEALTH_BENCH_TARGETS_PREFIX"); prefix != "" {
		args = append(args, "-prefix", prefix)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // closed by Cleanup: the servers exit
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	var s targetServers
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		b.Fatalf("the target servers said nothing: %v", err)
	}
	if err := json.Unmarshal(line, &s); err != nil {
		b.Fatal(err)
	}
	for _, a := range s.Addrs {
		s.addrs = append(s.addrs, netip.MustParseAddr(a))
	}
	s.pid = cmd.Process.Pid
	return &s
}

// cpu returns the user and system time the servers have used, from
// /proc/PID/stat.
func (s *targetServers) cpu(b *testing.B) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command's closing parenthesis; utime and stime are
	// the 14th and 15th of the line, in clock ticks (100 a second here).
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	utime, _ := strconv.Atoi(fields[11])
	stime, _ := strconv.Atoi(fields[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// machineCPU is the whole machine's CPU time by CPU, from /proc/stat, and
// the NET_RX softirqs each CPU ran, from /proc/softirqs: where the kernel's
// packet work ran, which the prober's own CPU time may or may not include
// (bench/health/README.md). On a shared machine it counts every process's.
type machineCPU struct {
	busy, softirq []time.Duration // by CPU
	netRx         []float64       // by CPU
}

func readMachineCPU(b *testing.B) machineCPU {
	var m machineCPU
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(stat), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		// user nice system idle iowait irq softirq steal, in clock ticks.
		var ticks [8]int64
		for i := range ticks {
			ticks[i], _ = strconv.ParseInt(f[i+1], 10, 64)
		}
		busy := ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
		m.busy = append(m.busy, time.Duration(busy)*10*time.Millisecond)
		m.softirq = append(m.softirq, time.Duration(ticks[6])*10*time.Millisecond)
	}
	softirqs, err := os.ReadFile("/proc/softirqs")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(softirqs), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "NET_RX:" {
			for _, v := range f[1:] {
				n, _ := strconv.ParseFloat(v, 64)
				m.netRx = append(m.netRx, n)
			}
		}
	}
	return m
}

// report reports the machine's busy cores and, by CPU, the busy and
// softirq cores and NET_RX softirqs a second since before.
func (m machineCPU) report(b *testing.B, before machineCPU, elapsed time.Duration) {
	var busy time.Duration
	for i := range m.busy {
		busy += m.busy[i] - before.busy[i]
		b.ReportMetric((m.busy[i]-before.busy[i]).Seconds()/elapsed.Seconds(), fmt.Sprintf("cpu%d-cores", i))
		b.ReportMetric((m.softirq[i]-before.softirq[i]).Seconds()/elapsed.Seconds(), fmt.Sprintf("cpu%d-softirq-cores", i))
	}
	for i := range min(len(m.netRx), len(before.netRx)) {
		b.ReportMetric((m.netRx[i]-before.netRx[i])/elapsed.Seconds(), fmt.Sprintf("cpu%d-net-rx/s", i))
	}
	b.ReportMetric(busy.Seconds()/elapsed.Seconds(), "machine-cores")
}
