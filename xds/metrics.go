package xds

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what the Server does. A nil *Metrics counts nothing.
type Metrics struct {
	clients *prometheus.GaugeVec
	pushes  *prometheus.CounterVec
	nacks   *prometheus.CounterVec
	ack     prometheus.Histogram
}

// NewMetrics registers the xDS metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		clients: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "meridian_xds_clients",
			Help: "Connected xDS streams, by role and node group."}, []string{"role", "group"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meridian_xds_pushes_total",
			Help: "Responses sent to xDS clients, by resource type."}, []string{"type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meridian_xds_nacks_total",
			Help: "Responses xDS clients rejected, by resource type."}, []string{"type"}),
		ack: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "meridian_xds_plan_ack_seconds",
			Help:    "Time from a Plan's publication to a client's ACK of a response carrying it.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
	}
	reg.MustRegister(m.clients, m.pushes, m.nacks, m.ack)
	// Known types start at zero, so that dashboards show no NACKs rather
	// than no data.
	for _, t := range []string{"Listener", "RouteConfiguration", "Cluster", "ClusterLoadAssignment"} {
		m.pushes.WithLabelValues(t)
		m.nacks.WithLabelValues(t)
	}
	return m
}

// shortType turns a type URL into the resource's short name (Listener,
// Cluster, ...) for labels.
func shortType(typeURL string) string { return typeURL[strings.LastIndexByte(typeURL, '.')+1:] }

func (m *Metrics) connected(g Group, delta float64) {
	if m != nil {
		m.clients.WithLabelValues(g.Role.String(), g.String()).Add(delta)
	}
}

func (m *Metrics) pushed(typeURL string) {
	if m != nil {
		m.pushes.WithLabelValues(shortType(typeURL)).Inc()
	}
}

func (m *Metrics) nacked(typeURL string) {
	if m != nil {
		m.nacks.WithLabelValues(shortType(typeURL)).Inc()
	}
}

func (m *Metrics) acked(d time.Duration) {
	if m != nil {
		m.ack.Observe(d.Seconds())
	}
}
