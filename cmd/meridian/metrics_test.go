package main

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/api"
	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/internal/testmetrics"
	"github.com/meridian-gtm/meridian/model"
)

// TestReplicaMetrics: with shared health, meridian_replicas_live counts
// the live replicas (an expired report does not count) and
// meridian_replica_disagreements the targets they see differently.
func TestReplicaMetrics(t *testing.T) {
	now := time.Now()
	a, b := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")
	down := func(addr netip.Addr) model.TargetHealth {
		return model.TargetHealth{Service: "app", Cluster: "eu-west", Address: addr, State: model.Down, Since: now}
	}
	report := func(name string, expires time.Time, notUp ...model.TargetHealth) model.ReplicaReport {
		return model.ReplicaReport{ProbeReport: model.NewProbeReport(name, now, notUp, []string{"app"}), Heartbeat: now, Expires: expires}
	}
	live, dead := now.Add(time.Minute), now.Add(-time.Minute)
	state := &apiState{replicas: func() []model.ReplicaReport {
		return []model.ReplicaReport{
			report("r1", live, down(a), down(b)),
			report("r2", live, down(a)), // sees b up: one disagreement
			report("r3", dead),          // expired: neither live nor voting
		}
	}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(&replicasCollector{state: state})
	text := testmetrics.Text(t, reg)
	for _, want := range []string{"meridian_replicas_live 2\n", "meridian_replica_disagreements 1\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}

	// Without shared health: this replica alone, in agreement.
	reg = prometheus.NewRegistry()
	reg.MustRegister(&replicasCollector{state: &apiState{}})
	text = testmetrics.Text(t, reg)
	for _, want := range []string{"meridian_replicas_live 1\n", "meridian_replica_disagreements 0\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("solo: metrics lack %q:\n%s", want, text)
		}
	}
}

// TestOverrideMetrics: meridian_overrides counts the overrides in force
// now by kind, an expired one not, every kind present.
func TestOverrideMetrics(t *testing.T) {
	store, err := api.OpenFileStore(filepath.Join(t.TempDir(), "overrides.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []model.Override{
		{ID: "d2", Kind: model.Drain, Cluster: "us-east", Expires: time.Now().Add(time.Hour)},
		{ID: "w1", Kind: model.Weight, Cluster: "us-east", Weight: 3, Expires: time.Now().Add(-time.Second)}, // expired
		{ID: "f1", Kind: model.ForceFailover, Service: "app", Order: []string{"us-east"}},
	} {
		if _, err := store.Put(o); err != nil {
			t.Fatal(err)
		}
	}
	// The config file's drain counts too.
	cfg, err := config.Parse("meridian.conf", []byte(demoConf(t, true)))
	if err != nil {
		t.Fatal(err)
	}
	state := &apiState{}
	state.config.Store(cfg)
	reg := prometheus.NewRegistry()
	reg.MustRegister(&overridesCollector{state: state, store: store})
	text := testmetrics.Text(t, reg)
	for _, want := range []string{`meridian_overrides{kind="drain"} 2`, `meridian_overrides{kind="weight"} 0`,
		`meridian_overrides{kind="failover"} 1`, `meridian_overrides{kind="disable"} 0`, `meridian_overrides{kind="enable"} 0`} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
}
