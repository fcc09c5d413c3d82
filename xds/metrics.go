package xds

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what the Server does. A nil *Metrics counts nothing.
type Metrics struct {
	clients *prometheus.GaugeVec
	groups  *prometheus.GaugeVec
	coarser prometheus.Counter
	accepts prometheus.Counter // failed accepts
	pushes  *prometheus.CounterVec
	nacks   *prometheus.CounterVec
	ack     prometheus.Histogram
}

// NewMetrics registers the xDS metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		clients: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "meridian_xds_clients",
			Help: "Connected xDS streams, by role."}, []string{"role"}),
		groups: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "meridian_xds_groups",
			Help: "Node groups (role and locality) with resources of their own, by role."}, []string{"role"}),
		coarser: prometheus.NewCounter(prometheus.CounterOpts{Name: "meridian_xds_coarser_placements_total",
			Help: "xDS streams placed in the group of their region or of unknown location, because the node groups were at their cap."}),
		accepts: prometheus.NewCounter(prometheus.CounterOpts{Name: "meridian_xds_accept_errors_total",
			Help: "Failed accepts on the xDS listeners (out of file descriptors or buffers), each waited out and retried."}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meridian_xds_pushes_total",
			Help: "Responses sent to xDS clients, by resource type."}, []string{"type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meridian_xds_nacks_total",
			Help: "Responses xDS clients rejected, by resource type."}, []string{"type"}),
		ack: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "meridian_xds_plan_ack_seconds",
			Help:    "Time from a Plan's publication to a client's ACK of a response carrying it.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
	}
	reg.MustRegister(m.clients, m.groups, m.coarser, m.accepts, m.pushes, m.nacks, m.ack)
	// Labels are bounded: roles, resource types; never a node's locality.
	for _, r := range roleNames {
		m.clients.WithLabelValues(r)
		m.groups.WithLabelValues(r)
	}
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

func (m *Metrics) connected(r Role, delta float64) {
	if m != nil {
		m.clients.WithLabelValues(r.String()).Add(delta)
	}
}

func (m *Metrics) groupAdded(r Role, delta float64) {
	if m != nil {
		m.groups.WithLabelValues(r.String()).Add(delta)
	}
}

func (m *Metrics) placedCoarser() {
	if m != nil {
		m.coarser.Inc()
	}
}

func (m *Metrics) acceptFailed() {
	if m != nil {
		m.accepts.Inc()
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
