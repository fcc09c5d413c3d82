package health

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/meridian-gtm/meridian/model"
)

// The scale of the scheduler benchmark: 1,000 services, each behind the
// same 10 loopback addresses, probed every second: 10,000 targets.
const (
	benchServices  = 1000
	benchAddresses = 10
	benchWarmUp    = 3 * time.Second
	benchWindow    = 10 * time.Second
)

// BenchmarkScheduler10kTargets probes 10,000 targets at a 1 s interval for
// benchWindow against real servers on loopback, in this process, and
// reports how late probes started, how far apart each target's probes
// arrived at the server (http), and the CPU used. It runs once whatever
// b.N is; run it with -benchtime 1x. tcp/dial and tcp/batch are as in
// BenchmarkProberCost.
func BenchmarkScheduler10kTargets(b *testing.B) {
	for _, tc := range benchProbeKinds {
		b.Run(tc.name, func(b *testing.B) { benchScheduler(b, tc.kind, tc.dialEach) })
	}
}

func benchScheduler(b *testing.B, kind string, dialEach bool) {
	lns, port := listenSamePort(b, benchAddresses)
	arrivals := &arrivalLog{at: map[string][]time.Time{}}
	for _, ln := range lns {
		go serveBench(ln, kind, arrivals)
	}

	checks := map[string]Check{}
	var backends []model.Backend
	var addrs []netip.Addr
	for _, ln := range lns {
		addrs = append(addrs, ln.Addr().(*net.TCPAddr).AddrPort().Addr())
	}
	for i := range benchServices {
		name := fmt.Sprintf("s%d.example.org", i)
		checks[name] = Check{Kind: kind, Port: uint16(port), Path: "/", Method: "GET", Host: name,
			Expect: []StatusRange{{Low: 200, High: 399}}, Interval: time.Second, Timeout: time.Second,
			Jitter: 100 * time.Millisecond, Rise: 2, Fall: 3}
		backends = append(backends, model.Backend{Service: name, Cluster: "c", Ingress: addrs, ReadyPods: 3})
	}
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg)
	c := New(Config{Checks: checks, Workers: 512, Metrics: metrics, dialEach: dialEach})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	c.SetInventory(model.NewInventory(nil, backends))

	time.Sleep(benchWarmUp)
	before := histogramOf(b, reg, "meridian_health_schedule_lateness_seconds")
	cpuBefore := cpuTime()
	start := time.Now()
	b.ResetTimer()
	time.Sleep(benchWindow)
	b.StopTimer()
	cpu := cpuTime() - cpuBefore
	elapsed := time.Since(start)
	after := histogramOf(b, reg, "meridian_health_schedule_lateness_seconds")
	cancel()
	<-done

	probes := after.GetSampleCount() - before.GetSampleCount()
	b.ReportMetric(float64(probes)/elapsed.Seconds(), "probes/s")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cores")
	for _, bound := range []float64{0.001, 0.01, 0.1} {
		b.ReportMetric(100*float64(countBelow(after, bound)-countBelow(before, bound))/float64(probes),
			fmt.Sprintf("%%late<=%gms", bound*1000))
	}
	// A missed deadline: a probe that started more than an interval late.
	b.ReportMetric(float64(probes-(countBelow(after, 1)-countBelow(before, 1))), "missed")

	if kind == "http" {
		gaps := arrivals.gaps(start, start.Add(elapsed))
		if len(gaps) == 0 {
			b.Fatal("no probes reached the servers")
		}
		slices.Sort(gaps)
		b.ReportMetric(float64(len(arrivals.at)), "targets-seen")
		b.ReportMetric(gaps[len(gaps)/2].Seconds()*1000, "gap-p50-ms")
		b.ReportMetric(gaps[len(gaps)*99/100].Seconds()*1000, "gap-p99-ms")
		b.ReportMetric(gaps[len(gaps)-1].Seconds()*1000, "gap-max-ms")
	}
}

// serveBench accepts connections on ln until it closes. For http it answers
// every request 200 as cheaply as nginx's "return 200" would, and logs
// when each target's probe arrived: the servers share the two cores with
// the Checker, and net/http's server would take more of them than the
// probes being measured.
func serveBench(ln net.Listener, kind string, arrivals *arrivalLog) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if kind == "tcp" {
			c.Close()
			continue
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 1024)
			n := 0
			for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) && n < len(buf) {
				m, err := c.Read(buf[n:])
				if err != nil {
					return
				}
				n += m
			}
			_, rest, _ := bytes.Cut(buf[:n], []byte("\r\nHost: "))
			host, _, _ := bytes.Cut(rest, []byte("\r\n"))
			arrivals.add(string(host)+" "+c.LocalAddr().String(), time.Now())
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"))
		}()
	}
}

// listenSamePort listens on one free port of n loopback addresses,
// 127.0.0.11 and up.
func listenSamePort(b *testing.B, n int) ([]net.Listener, int) {
	for range 20 {
		var lns []net.Listener
		first, err := net.Listen("tcp", "127.0.0.11:0")
		if err != nil {
			b.Fatal(err)
		}
		lns = append(lns, first)
		port := first.Addr().(*net.TCPAddr).Port
		for i := 1; i < n; i++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:%d", 11+i, port))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == n {
			b.Cleanup(func() {
				for _, ln := range lns {
					ln.Close()
				}
			})
			return lns, port
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	b.Fatal("no port free on every address")
	return nil, 0
}

// arrivalLog records when each target's probes reached the server.
type arrivalLog struct {
	mu sync.Mutex
	at map[string][]time.Time
}

func (l *arrivalLog) add(target string, t time.Time) {
	l.mu.Lock()
	l.at[target] = append(l.at[target], t)
	l.mu.Unlock()
}

// gaps returns the time between consecutive probes of each target, for
// probes that arrived between from and to.
func (l *arrivalLog) gaps(from, to time.Time) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var gaps []time.Duration
	for _, ts := range l.at {
		var prev time.Time
		for _, t := range ts {
			if t.Before(from) || t.After(to) {
				continue
			}
			if !prev.IsZero() {
				gaps = append(gaps, t.Sub(prev))
			}
			prev = t
		}
	}
	return gaps
}

func histogramOf(b *testing.B, reg *prometheus.Registry, name string) *dto.Histogram {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram()
		}
	}
	b.Fatalf("no metric %s", name)
	return nil
}

// countBelow returns the observations of h at or below bound, which must be
// one of its buckets' bounds.
func countBelow(h *dto.Histogram, bound float64) uint64 {
	for _, bk := range h.GetBucket() {
		if bk.GetUpperBound() == bound {
			return bk.GetCumulativeCount()
		}
	}
	panic(fmt.Sprintf("no bucket bound %g", bound))
}

// cpuTime returns the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchProbeKinds are the probes the benchmarks compare: TCP dialled per
// probe (non-Linux builds, and every build before issue 21), TCP connected
// in rounds, and HTTP.
var benchProbeKinds = []struct {
	name, kind string
	dialEach   bool
}{
	{"tcp/dial", "tcp", true},
	{"tcp/batch", "tcp", false},
	{"http", "http", false},
}
