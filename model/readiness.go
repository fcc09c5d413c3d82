package model

import (
	"slices"
	"time"
)

// Readiness is decided once, by the engine: no ready pods behind an
// address means down, whatever its probes say. weights.Solve applies
// ReadyState to the Inventory it solves; the Health that health.Checker
// publishes holds probe verdicts only, so that a change of ready pods (a
// service scaled to zero) reaches the engine once, as an Inventory, and
// makes one Plan. A service without a health check is marked so in its
// policy (ServicePolicy.Unprobed), so that the engine needs no verdict from
// the checker to serve its targets; the checker's verdicts on them say so
// too (TargetHealth.Unprobed). ServedHealth shows operators the verdicts
// as the engine serves them, with the same rule.

// NotProbed is the reason, for humans, of the verdict on a target whose
// service has no health check (TargetHealth.Unprobed): up, judged by
// readiness alone.
const NotProbed = "not probed"

// ReadyState is the state a target is served with: its probe verdict
// (or, without one, its policy's VerdictPending), or Down when no pods
// behind it are ready.
func ReadyState(probe State, readyPods int) State {
	if readyPods == 0 {
		return Down
	}
	return probe
}

// VerdictPending is the probe state the engine gives a target of p's
// service that has no verdict yet: Unknown while its first probes run, or
// Up when no probe checks the service (Unprobed), as the checker's verdict
// will say (NotProbed), so that a new target makes one Plan and not a
// second one when that verdict comes.
func (p ServicePolicy) VerdictPending() State {
	if p.Unprobed {
		return Up
	}
	return Unknown
}

// WithReadiness returns the probe verdict v as served with readyPods ready
// pods behind its target: "no ready pods" and down without any, "ready
// pods; not probed" for a target no probe checks. Since is v's.
func (v TargetHealth) WithReadiness(readyPods int) TargetHealth {
	switch {
	case readyPods == 0:
		v.State, v.Reason = ReadyState(v.State, readyPods), "no ready pods"
	case v.Unprobed:
		v.Reason = "ready pods; " + NotProbed
	}
	return v
}

// ReadinessChange is a served verdict that readiness alone changed, and
// the state served before.
type ReadinessChange struct {
	From State
	To   TargetHealth
}

// ServedHealth returns the probe verdicts in probes as served with the
// ready pods of their targets' backends in inv (WithReadiness): what the
// API, the status page and the health history show. prev is the previous
// result: a verdict whose state did not change keeps prev's Since; one
// that changed takes its probe verdict's Since when the probe changed it,
// and now when readiness did. A verdict whose backend is not in inv (the
// Inventory and the Health cross) is served as probed. It also returns
// the verdicts that readiness alone changed, for logs: the probes' own
// changes are the Checker's to log.
func ServedHealth(probes Health, inv Inventory, prev Health, now time.Time) (Health, []ReadinessChange) {
	all := probes.Targets()
	out := make([]TargetHealth, 0, len(all))
	var changes []ReadinessChange
	var backends []Backend
	service := ""
	for i, v := range all {
		if i == 0 || v.Service != service {
			service, backends = v.Service, inv.BackendsOf(v.Service)
		}
		s := v
		found := false
		for _, b := range backends {
			if b.Cluster == v.Cluster {
				s, found = v.WithReadiness(b.ReadyPods), true
				break
			}
		}
		p, had := prevVerdict(prev, s)
		switch {
		case had && p.State == s.State:
			s.Since = p.Since
		case !found:
		case had && !v.Since.After(p.Since): // the probe verdict is older: readiness changed it
			s.Since = now
			changes = append(changes, ReadinessChange{From: p.State, To: s})
		case !had && s.State != v.State: // a new target without ready pods: it was unknown
			s.Since = now
			changes = append(changes, ReadinessChange{From: Unknown, To: s})
		}
		out = append(out, s)
	}
	return NewHealth(out), changes
}

func prevVerdict(h Health, v TargetHealth) (TargetHealth, bool) {
	vs := h.Of(v.Service)
	i, ok := slices.BinarySearchFunc(vs, v, compareTargetHealth)
	if !ok {
		return TargetHealth{}, false
	}
	return vs[i], true
}
