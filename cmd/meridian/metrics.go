package main

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/api"
	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
)

// registerEngineMetrics exports what dashboards and the alerts of
// deploy/prometheus/meridian-rules.yaml need from the engine: the build,
// the Plan's timestamps, the overrides in force and the replicas'
// agreement. Each is read when /metrics is scraped, from the values the
// engine already keeps: nothing is counted on its paths.
//
// The Plan's age is exported as timestamps, not as an age: Prometheus'
// instrumentation guide asks for the time of the event ("Timestamps, not
// time since"), because an age needs updating every second by the process
// and is wrong as soon as it is scraped, while alerts and dashboards
// compute `time() - meridian_plan_timestamp_seconds` exactly, and a
// process that hangs keeps exporting its last timestamp, which then ages
// as it should.
func registerEngineMetrics(reg prometheus.Registerer, loop *weights.Loop, state *apiState, store api.Store) {
	unix := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return float64(t.UnixNano()) / 1e9
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meridian_build_info",
			Help:        "Always 1: the version of the binary, as `meridian version` prints it, and the Go version it was built with.",
			ConstLabels: prometheus.Labels{"version": buildVersion(), "goversion": runtime.Version()}},
			func() float64 { return 1 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meridian_plan_timestamp_seconds",
			Help: "Unix time at which the Plan in force was last solved from the inputs (made, or found unchanged); 0 before the first Plan."},
			func() float64 { return unix(loop.Solved()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meridian_plan_inputs_timestamp_seconds",
			Help: "Unix time of the latest change of the Plan's inputs (inventory, health, overrides, policies). " +
				"Later than meridian_plan_timestamp_seconds for long: the inputs wait for a Plan."},
			func() float64 { return unix(loop.InputsChanged()) }),
		&overridesCollector{state: state, store: store},
		&replicasCollector{state: state},
	)
}

var (
	overridesDesc = prometheus.NewDesc("meridian_overrides",
		"Overrides in force now (of the config file and the API, not expired), by kind.", []string{"kind"}, nil)
	overrideKinds = []model.OverrideKind{model.Drain, model.Disable, model.Enable, model.Weight, model.ForceFailover}

	replicasDesc = prometheus.NewDesc("meridian_replicas_live",
		"Replicas whose probe reports are live, this one included; 1 when the replicas share no health.", nil, nil)
	disagreementsDesc = prometheus.NewDesc("meridian_replica_disagreements",
		"Targets on which the live replicas' probe verdicts differ (GET /api/v1/replicas lists them); 0 when the replicas share no health.", nil, nil)
)

// overridesCollector counts the overrides in force at each scrape, every
// kind always (0 included), so that a dashboard shows none rather than no
// data.
type overridesCollector struct {
	state *apiState
	store api.Store
}

func (c *overridesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- overridesDesc }

func (c *overridesCollector) Collect(ch chan<- prometheus.Metric) {
	n := map[model.OverrideKind]int{}
	for _, o := range allOverrides(c.state.config.Load(), c.store).ActiveAt(time.Now()) {
		n[o.Kind]++
	}
	for _, k := range overrideKinds {
		ch <- prometheus.MustNewConstMetric(overridesDesc, prometheus.GaugeValue, float64(n[k]), k.String())
	}
}

// replicasCollector reports how many replicas are live and on how many
// targets they disagree, as GET /api/v1/replicas does.
type replicasCollector struct{ state *apiState }

func (c *replicasCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- replicasDesc
	ch <- disagreementsDesc
}

func (c *replicasCollector) Collect(ch chan<- prometheus.Metric) {
	live, disagreements := 1, 0
	if c.state.replicas != nil {
		now := time.Now()
		reports := c.state.replicas()
		live = 0
		seen := map[string]bool{}
		for _, r := range reports {
			if r.Live(now) && !seen[r.Replica] {
				seen[r.Replica] = true
				live++
			}
		}
		disagreements = len(model.Disagreements(reports, now))
	}
	ch <- prometheus.MustNewConstMetric(replicasDesc, prometheus.GaugeValue, float64(live))
	ch <- prometheus.MustNewConstMetric(disagreementsDesc, prometheus.GaugeValue, float64(disagreements))
}
