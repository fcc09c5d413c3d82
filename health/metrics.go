package health

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/model"
)

// Metrics counts what the Checker does. A nil *Metrics counts nothing.
type Metrics struct {
	probes   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	changes  *prometheus.CounterVec
	lateness prometheus.Histogram
	targets  prometheus.Gauge
}

// NewMetrics registers the health metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meridian_health_probes_total",
			Help: "Probes finished, by kind and result (ok, fail, timeout)."}, []string{"kind", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "meridian_health_probe_seconds",
			Help:    "How long probes took, by kind.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"kind"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meridian_health_state_changes_total",
			Help: "Targets whose combined verdict changed, by the new state."}, []string{"state"}),
		lateness: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "meridian_health_schedule_lateness_seconds",
			Help:    "How long after its due time a probe started; high values mean too few workers or CPU.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 5}}),
		targets: prometheus.NewGauge(prometheus.GaugeOpts{Name: "meridian_health_targets",
			Help: "Targets (service, cluster, ingress address) judged."}),
	}
	reg.MustRegister(m.probes, m.latency, m.changes, m.lateness, m.targets)
	return m
}

func (m *Metrics) probed(kind string, o outcome, took time.Duration) {
	if m == nil {
		return
	}
	m.probes.WithLabelValues(kind, o.String()).Inc()
	m.latency.WithLabelValues(kind).Observe(took.Seconds())
}

func (m *Metrics) scheduled(late time.Duration) {
	if m == nil {
		return
	}
	m.lateness.Observe(max(late, 0).Seconds())
}

func (m *Metrics) changed(to model.State) {
	if m == nil {
		return
	}
	m.changes.WithLabelValues(to.String()).Inc()
}

func (m *Metrics) setTargets(n int) {
	if m == nil {
		return
	}
	m.targets.Set(float64(n))
}
