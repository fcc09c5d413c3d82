package model

// ServiceState sums up how a service is served, for people on call: the
// status page's banner and badges and the meridian_services gauge all
// come from ServicePlan.State, so they cannot disagree.
type ServiceState uint8

const (
	// Serving: every target that should serve is healthy, and every
	// bucket of clients gets its normal routes.
	Serving ServiceState = iota
	// Degraded: some target that should serve does not (down, no ready
	// pods, or its cluster lost and served from its last known state), or
	// some bucket of clients panics or gets nothing, but healthy targets
	// remain.
	Degraded
	// FailingOpen: no target is healthy, and clients are still sent to
	// the unhealthy ones.
	FailingOpen
	// FailingClosed: no target is healthy, and clients get no address at
	// all (the policy fails closed, or every target is drained, disabled
	// or missing).
	FailingClosed
)

// ServiceStates lists every state, from best to worst.
var ServiceStates = [...]ServiceState{Serving, Degraded, FailingOpen, FailingClosed}

var serviceStateNames = [...]string{Serving: "serving", Degraded: "degraded", FailingOpen: "failing open", FailingClosed: "failing closed"}
var serviceStateLabels = [...]string{Serving: "serving", Degraded: "degraded", FailingOpen: "failing_open", FailingClosed: "failing_closed"}

// String spells the state for people: "failing open".
func (s ServiceState) String() string { return serviceStateNames[s] }

// Label spells the state as the meridian_services gauge's state label
// and the status page's data-state attribute: "failing_open".
func (s ServiceState) Label() string { return serviceStateLabels[s] }

// Failing reports whether the service has no healthy target.
func (s ServiceState) Failing() bool { return s == FailingOpen || s == FailingClosed }

// State says how the service is served. Targets that operators or the
// policy took out of service (drained, disabled, pinned to weight 0, not
// in a failover order) do not degrade it; if they leave no healthy target,
// it fails.
func (s *ServicePlan) State() ServiceState {
	healthy, degraded := 0, false
	for _, t := range s.Targets {
		switch {
		case t.Status == Healthy && t.Cause == CauseStale:
			healthy++
			degraded = true // served, but from a lost cluster's last known state
		case t.Status == Healthy:
			healthy++
		case t.Status == Unhealthy:
			degraded = true
		}
	}
	traffic := false
	for i := range s.Routes {
		r := &s.Routes[i]
		traffic = traffic || len(r.Shares) > 0
		degraded = degraded || r.Mode != Normal
	}
	switch {
	case healthy == 0 && traffic:
		return FailingOpen
	case healthy == 0:
		return FailingClosed
	case degraded:
		return Degraded
	}
	return Serving
}

// StateCounts counts the Plan's services in each state, indexed by
// ServiceState.
func (p *Plan) StateCounts() [len(ServiceStates)]int {
	var n [len(ServiceStates)]int
	for _, s := range p.Services {
		n[s.State()]++
	}
	return n
}
