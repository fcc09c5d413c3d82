package dns

import (
	"github.com/prometheus/client_golang/prometheus"

	mdns "github.com/miekg/dns"
)

// Metrics counts what the DNS server answers.
type Metrics struct {
	responses *prometheus.CounterVec
}

// NewMetrics registers the DNS metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_dns_responses_total",
			Help: "DNS responses sent, by response code.",
		}, []string{"rcode"}),
	}
	reg.MustRegister(m.responses)
	return m
}

// observe counts one response; a nil Metrics counts nothing.
func (m *Metrics) observe(resp *mdns.Msg) {
	if m == nil {
		return
	}
	m.responses.WithLabelValues(mdns.RcodeToString[resp.Rcode]).Inc()
}
