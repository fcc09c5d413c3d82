package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/model"
)

// serviceStates exports meridian_services{state}: how many services the
// current Plan has in each state (model.ServicePlan.State, which the
// status page shows too). Every state has a series, 0 included, so that
// alerts on failing_open or failing_closed see a value from the start.
type serviceStates struct {
	plan func() *model.Plan
	desc *prometheus.Desc
}

func newServiceStates(plan func() *model.Plan) serviceStates {
	return serviceStates{plan: plan, desc: prometheus.NewDesc("meridian_services",
		"Global services by state in the current Plan: serving, degraded (some target down or a bucket in panic), "+
			"failing_open (no healthy target; unhealthy ones get traffic), failing_closed (no healthy target; no answer).",
		[]string{"state"}, nil)}
}

func (c serviceStates) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c serviceStates) Collect(ch chan<- prometheus.Metric) {
	var counts [len(model.ServiceStates)]int
	if p := c.plan(); p != nil {
		counts = p.StateCounts()
	}
	for _, st := range model.ServiceStates {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[st]), st.Label())
	}
}
