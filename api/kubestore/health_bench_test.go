package kubestore

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/internal/kubetest"
	"github.com/meridian-gtm/meridian/model"
)

// BenchmarkHealthReportsStoreLoad measures what sharing health reports
// costs the home cluster's kube-apiserver: 3 replicas each probe a fleet of
// 10,000 targets (10 services × 10 clusters × 100 IPv4 addresses) every
// second, 1% of them flapping and 0.5% down for good, for 20 s with the
// default options (Heartbeat 1 s, Batch 200 ms). It counts the write
// requests (POST, PUT, PATCH) each replica sends and the bytes of their
// bodies, by Lease (report or heartbeat), through a wrapping RoundTripper.
// Run it with -benchtime 1x.
//
// The bound, whatever the fleet: a replica writes its report Lease at most
// once per Batch and its heartbeat Lease once per Heartbeat, so at most
// 1/Batch + 1/Heartbeat = 6 writes/s with the defaults, carrying at most
// 5 × the report Lease (its annotations under 256 KiB: maxReportBytes) +
// 1 × the heartbeat (about 500 bytes) a second. Each write starts from the
// Lease as last written, so none reads first unless another writer got
// there in between.
func BenchmarkHealthReportsStoreLoad(b *testing.B) {
	env := kubetest.Start(b, 1)
	c := env.Clusters[0]
	c.Namespace(b, "meridian")
	const (
		replicas = 3
		duration = 20 * time.Second
		warmup   = 2 * time.Second
	)
	for n := range b.N {
		name := fmt.Sprintf("load-%d", n)
		var rs []*running
		for i := range replicas {
			rs = append(rs, startReports(b, c, name, fmt.Sprintf("r%d", i+1), HealthReportsOptions{}, nil))
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for i, r := range rs {
			wg.Go(func() { simulateProbes(r.HealthReports, uint64(i), stop) })
		}
		time.Sleep(warmup)
		type count struct {
			reportWrites, leaseWrites int
			reportBytes, leaseBytes   int64
		}
		snapshot := func() []count {
			var cs []count
			for _, r := range rs {
				rw, rb := r.writes.count(reportObject)
				lw, lb := r.writes.count(heartbeatObject)
				cs = append(cs, count{rw, lw, rb, lb})
			}
			return cs
		}
		before, start := snapshot(), time.Now()
		time.Sleep(duration)
		after, took := snapshot(), time.Since(start)
		close(stop)
		wg.Wait()
		for _, r := range rs {
			if got := len(r.Reports()); got != replicas {
				b.Errorf("%s holds %d reports, want %d", r.opts.Replica, got, replicas)
			}
			r.stop()
		}
		var total count
		var largest int64
		for i := range rs {
			d := count{after[i].reportWrites - before[i].reportWrites, after[i].leaseWrites - before[i].leaseWrites,
				after[i].reportBytes - before[i].reportBytes, after[i].leaseBytes - before[i].leaseBytes}
			b.Logf("%s: %.2f report writes/s (%.0f B/s), %.2f heartbeat writes/s (%.0f B/s)", rs[i].opts.Replica,
				float64(d.reportWrites)/took.Seconds(), float64(d.reportBytes)/took.Seconds(),
				float64(d.leaseWrites)/took.Seconds(), float64(d.leaseBytes)/took.Seconds())
			total.reportWrites += d.reportWrites
			total.leaseWrites += d.leaseWrites
			total.reportBytes += d.reportBytes
			total.leaseBytes += d.leaseBytes
			rs[i].writes.mu.Lock()
			largest = max(largest, rs[i].writes.largest)
			rs[i].writes.mu.Unlock()
		}
		writes := float64(total.reportWrites+total.leaseWrites) / took.Seconds()
		bytes := float64(total.reportBytes+total.leaseBytes) / took.Seconds()
		b.ReportMetric(writes, "writes/s")
		b.ReportMetric(writes/replicas, "writes/s/replica")
		b.ReportMetric(float64(total.reportWrites)/took.Seconds()/replicas, "report-writes/s/replica")
		b.ReportMetric(bytes, "B/s")
		b.ReportMetric(bytes/replicas, "B/s/replica")
		b.ReportMetric(float64(largest), "largest-B")
		if largest > maxReportBytes+10_000 {
			b.Errorf("a write of %d bytes", largest)
		}
	}
}

// simulateProbes plays one replica's health checker over a fleet of
// 10,000 targets until stop: each target is probed every second (a tenth
// of them every 100 ms), down after 3 failed probes in a row, up after 2
// passed (interval 1 s, fall 3, rise 2). 1% of the targets flap: their
// probes fail and pass in runs of 2 to 8 s. 0.5% always fail. Every 100 ms
// in which a verdict changed, the report is shared, as a checker would.
func simulateProbes(h *HealthReports, seed uint64, stop <-chan struct{}) {
	const services, clusters, addrs = 10, 10, 100
	type target struct {
		service, cluster string
		addr             netip.Addr
		flapping, dead   bool
		failing          bool      // what probes see now
		run              int       // probes left in the current run of a flapping target
		streak           int       // probes in a row disagreeing with the verdict
		down             bool      // the verdict
		since            time.Time // of the verdict
	}
	rng := rand.New(rand.NewPCG(seed, 16))
	var targets []*target
	now := time.Now()
	for s := range services {
		for c := range clusters {
			for a := range addrs {
				i := len(targets)
				targets = append(targets, &target{service: fmt.Sprintf("service-%d", s), cluster: fmt.Sprintf("cluster-%d", c),
					addr: netip.AddrFrom4([4]byte{10, byte(s), byte(c), byte(a + 1)}), flapping: i%100 == i/100%100, dead: i%200 == 150, since: now})
			}
		}
	}
	report := func(at time.Time) model.ProbeReport {
		var notUp []model.TargetHealth
		for _, t := range targets {
			if t.down {
				reason := "HTTP 503 from /healthz"
				if t.dead {
					reason = "connect: connection refused"
				}
				notUp = append(notUp, model.TargetHealth{Service: t.service, Cluster: t.cluster, Address: t.addr,
					State: model.Down, Since: t.since, Reason: reason})
			}
		}
		return model.NewProbeReport(h.opts.Replica, at, notUp, nil)
	}
	h.Share(report(now))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for step := 0; ; step++ {
		select {
		case <-stop:
			return
		case now = <-tick.C:
		}
		changed := false
		for i := step % 10; i < len(targets); i += 10 {
			t := targets[i]
			switch {
			case t.dead:
				t.failing = true
			case t.flapping:
				if t.run <= 0 {
					t.failing, t.run = !t.failing, 2+rng.IntN(7)
				}
				t.run--
			}
			if t.failing == t.down {
				t.streak = 0
				continue
			}
			t.streak++
			if t.down && t.streak >= 2 || !t.down && t.streak >= 3 {
				t.down, t.since, t.streak, changed = !t.down, now, 0, true
			}
		}
		if changed {
			h.Share(report(now))
		}
	}
}
