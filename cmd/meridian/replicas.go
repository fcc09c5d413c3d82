package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/meridian-gtm/meridian/api"
	"github.com/meridian-gtm/meridian/api/kubestore"
	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/health"
	"github.com/meridian-gtm/meridian/model"
)

// probeReports is where this replica shares its probe verdicts and finds
// the other replicas': the shared store (kubestore.HealthReports), or
// nothing beyond this process (soloReports).
type probeReports interface {
	Share(model.ProbeReport)
	OnChange(func())
	Reports() []model.ReplicaReport
	Synced() <-chan struct{}
	Run(context.Context) error
}

// openProbeReports shares probe verdicts through the overrides store when
// the replicas share one (overrides kubernetes); otherwise this replica
// decides alone.
func openProbeReports(cfg *config.Config, store api.Store, logger *slog.Logger) probeReports {
	if ks, ok := store.(*kubestore.Store); ok {
		return ks.HealthReports(kubestore.HealthReportsOptions{Replica: cfg.Meridian.Replica, Logger: logger})
	}
	if q := cfg.Meridian.HealthQuorum; q.Rule != "" {
		logger.Warn(fmt.Sprintf("%s: health_quorum has no effect: replicas share their probe verdicts only with overrides kubernetes; this replica decides alone", q.Pos))
	}
	return soloReports{}
}

// peersWait bounds how long a starting replica waits to read the other
// replicas' reports before it decides alone.
const peersWait = 5 * time.Second

// runReports runs reports until ctx ends, handing the checker the live
// reports of the other replicas whenever they change, once they have
// been read (or peersWait has passed without: the store is unreachable,
// and this replica decides alone until it is not).
func runReports(ctx context.Context, reports probeReports, checker *health.Checker, quorum func() string, logger *slog.Logger) error {
	ready := make(chan struct{})
	var mu sync.Mutex
	voting := map[string]bool{} // the replicas whose reports counted last time
	setPeers := func() {
		mu.Lock()
		defer mu.Unlock()
		peers := livePeers(reports.Reports(), time.Now())
		checker.SetPeers(peers)
		voting = logVoters(logger, quorum(), voting, peers)
	}
	reports.OnChange(func() {
		select {
		case <-ready:
			setPeers()
		default:
		}
	})
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		select {
		case <-reports.Synced():
		case <-time.After(peersWait):
			logger.Warn("the other replicas' health reports could not be read; deciding with this replica's probes alone until they can", "waited", peersWait.String())
		case <-ctx.Done():
			return
		}
		close(ready)
		setPeers()
	})
	return reports.Run(ctx)
}

// logVoters logs the replicas that start or stop voting, and returns
// those that vote now.
func logVoters(logger *slog.Logger, quorum string, before map[string]bool, peers []model.ProbeReport) map[string]bool {
	now := make(map[string]bool, len(peers))
	for _, p := range peers {
		now[p.Replica] = true
		if before[p.Replica] {
			continue
		}
		logger.Info("replica votes on health", "peer", p.Replica, "voters", len(peers)+1)
		if p.Quorum != "" && p.Quorum != quorum {
			logger.Warn("replica counts votes by another health_quorum; the replicas may serve different decisions", "peer", p.Replica,
				"peer_quorum", p.Quorum, "quorum", quorum)
		}
	}
	for name := range before {
		if !now[name] {
			logger.Warn("replica's health reports expired; it no longer votes", "peer", name, "voters", len(peers)+1)
		}
	}
	return now
}

// livePeers returns the reports of the other replicas that still count.
func livePeers(reports []model.ReplicaReport, now time.Time) []model.ProbeReport {
	var out []model.ProbeReport
	for _, r := range reports {
		if !r.Self && r.Live(now) {
			out = append(out, r.ProbeReport)
		}
	}
	return out
}

// healthQuorum turns health_quorum into the checker's rule.
func healthQuorum(q config.HealthQuorum) health.Quorum {
	switch q.Rule {
	case "any":
		return health.Quorum{Rule: health.QuorumAny}
	case "all":
		return health.Quorum{Rule: health.QuorumAll}
	case "percent":
		return health.Quorum{Rule: health.QuorumPercent, Percent: q.Percent}
	default:
		return health.Quorum{Rule: health.QuorumMajority}
	}
}

// soloReports stands in for the store when nothing is shared: this
// replica decides alone.
type soloReports struct{}

func (soloReports) Share(model.ProbeReport)        {}
func (soloReports) OnChange(func())                {}
func (soloReports) Reports() []model.ReplicaReport { return nil }
func (soloReports) Synced() <-chan struct{}        { return closed }

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (soloReports) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
