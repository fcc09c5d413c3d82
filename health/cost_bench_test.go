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
	cpuBefore, serverBefore := cpuTime(), servers.cpu(b)
	start := time.Now()
	b.ResetTimer()
	time.Sleep(benchWindow)
	b.StopTimer()
	cpu, serverCPU := cpuTime()-cpuBefore, servers.cpu(b)-serverBefore
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
func startTargets(b *testing.B, kind string, services, addrs int) *targetServers {
	bin := filepath.Join(b.TempDir(), "targets")
	if out, err := exec.Command("go", "build", "-o", bin, "../bench/health/targets").CombinedOutput(); err != nil {
		b.Fatalf("building the target servers: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-kind", kind, "-services", strconv.Itoa(services), "-addrs", strconv.Itoa(addrs))
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
